package reposync

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

func chartConfigOf(name, version string) map[string]any {
	return map[string]any{"apiVersion": "v2", "name": name, "version": version, "appVersion": "1." + version,
		"description": name + " " + version, "icon": "https://example.com/" + name + ".png", "keywords": []string{"demo"}}
}

// helloRegistry holds hello 0.1.0, 0.2.0, 1.0.0+build.1 (tagged 1.0.0_build.1), tags that
// are no versions, one whose chart is another version, and other 1.0.0.
func helloRegistry(t *testing.T) *fakeRegistry {
	f := newFakeRegistry(t)
	for _, v := range []string{"0.1.0", "0.2.0", "1.0.0+build.1"} {
		f.push("charts/hello", strings.ReplaceAll(v, "+", "_"), chartConfigOf("hello", v), []byte("hello-"+v+".tgz"),
			map[string]string{"org.opencontainers.image.created": "2024-05-01T10:00:00Z"})
	}
	f.push("charts/hello", "0.3.0", chartConfigOf("hello", "0.9.9"), []byte("mislabelled"), nil)
	f.tagOnly("charts/hello", "latest")
	f.tagOnly("charts/hello", "v2.0.0")
	f.tagOnly("charts/hello", "sha256-0123.sig")
	f.push("charts/other", "1.0.0", chartConfigOf("other", "1.0.0"), []byte("other"), nil)
	return f
}

func ociRepo(f *fakeRegistry, name string, charts ...string) *v1alpha1.Repo {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	return &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1, UID: "u1"},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceOCI, URL: "oci://" + f.host() + "/charts", Charts: charts, CABundle: ca}}
}

func TestListTags(t *testing.T) {
	f := helloRegistry(t)
	c, host, path, err := (&Syncer{}).ociClient(ociRepo(f, "r", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ociRepository(c, host, path, "hello")
	if err != nil {
		t.Fatal(err)
	}
	tags, dropped, err := listTags(context.Background(), r)
	if err != nil || dropped != 0 {
		t.Fatalf("listTags: %v, %d dropped", err, dropped)
	}
	want := []ociTag{{"1.0.0_build.1", "1.0.0+build.1"}, {"0.3.0", "0.3.0"}, {"0.2.0", "0.2.0"}, {"0.1.0", "0.1.0"}}
	if !slices.Equal(tags, want) {
		t.Fatalf("tags %v, want %v (newest first, _ read as +, no latest, v-prefix or signature)", tags, want)
	}
	if n := f.tagGets.Load(); n != 4 { // 7 tags, 2 a page
		t.Fatalf("%d tag list requests, want 4 pages", n)
	}

	// Bounds: the newest maxOCITags versions, and no more than maxTagPages pages.
	many := make([]string, 0, maxOCITags+1)
	for i := range maxOCITags + 1 {
		many = append(many, fmt.Sprintf("%d.0.0", i))
	}
	slices.Sort(many)
	f.mu.Lock()
	f.tags["charts/hello"], f.pageSize = many, 100
	f.mu.Unlock()
	tags, dropped, err = listTags(context.Background(), r)
	if err != nil || len(tags) != maxOCITags || dropped != 1 || tags[0].version != fmt.Sprintf("%d.0.0", maxOCITags) {
		t.Fatalf("%d tags (first %v), %d dropped, %v; want the newest %d", len(tags), tags[0], dropped, err, maxOCITags)
	}
	f.mu.Lock()
	f.pageSize = 1
	f.mu.Unlock()
	if _, _, err := listTags(context.Background(), r); reasonOf(err) != appstore.RepoReasonInvalidIndex {
		t.Fatalf("a listing of %d pages: %v", maxOCITags+1, err)
	}
}

func TestSyncOCIRepo(t *testing.T) {
	f := helloRegistry(t)
	s, client, c := newSyncer(t, []*v1alpha1.Repo{ociRepo(f, "oci", "hello", "other")})
	ctx := context.Background()
	if _, err := s.sync(ctx, "oci"); err != nil {
		t.Fatal(err)
	}
	got, cond := synced(t, client, "oci")
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != appstore.RepoReasonSynced {
		t.Fatalf("condition %+v", cond)
	}
	if got.Status.ChartCount != 2 || got.Status.VersionCount != 4 || got.Status.SkippedEntries != 1 || got.Status.IndexDigest == "" {
		t.Fatalf("status %+v: want hello x3, other x1, the mislabelled tag skipped", got.Status)
	}
	r, ok := c.Get("oci")
	if !ok || r.Digest != got.Status.IndexDigest || r.Source != appstore.RepoSourceOCI {
		t.Fatalf("catalog %+v", r)
	}
	hello, _ := r.Index.Chart("hello")
	var versions []string
	for _, v := range hello.Versions {
		versions = append(versions, v.Version)
	}
	if !slices.Equal(versions, []string{"1.0.0+build.1", "0.2.0", "0.1.0"}) {
		t.Fatalf("versions %v", versions)
	}
	v := hello.Versions[1]
	if v.AppVersion != "1.0.2.0" || v.Description != "hello 0.2.0" || v.CreatedTime().Year() != 2024 ||
		v.Digest != sha256.Sum256([]byte("hello-0.2.0.tgz")) || !slices.Equal(v.URLs, []string{"oci://" + f.host() + "/charts/hello:0.2.0"}) {
		t.Fatalf("version %+v", v)
	}
	if hello.Icon != "https://example.com/hello.png" || hello.Description != "hello 1.0.0+build.1" ||
		hello.Versions[0].URLs[0] != "oci://"+f.host()+"/charts/hello:1.0.0_build.1" {
		t.Fatalf("chart %+v", hello)
	}
	if n := f.manifestGets.Load(); n != 5 {
		t.Fatalf("%d manifest requests, want one per version tag (5)", n)
	}

	// Unchanged tags: tag lists only, no manifest, and the catalog keeps its snapshot.
	_, rv := c.List()
	if _, err := s.sync(ctx, "oci"); err != nil {
		t.Fatal(err)
	}
	if n := f.manifestGets.Load(); n != 5 {
		t.Fatalf("re-sync made %d manifest requests", n-5)
	}
	if _, rv2 := c.List(); rv2 != rv {
		t.Fatal("an unchanged listing changed the catalog")
	}
	// A new tag: its manifest alone is read.
	f.push("charts/other", "1.1.0", chartConfigOf("other", "1.1.0"), []byte("other 1.1"), nil)
	if _, err := s.sync(ctx, "oci"); err != nil {
		t.Fatal(err)
	}
	if n := f.manifestGets.Load(); n != 6 {
		t.Fatalf("%d manifest requests, want 6", n)
	}
	if got, _ := synced(t, client, "oci"); got.Status.VersionCount != 5 || got.Status.IndexDigest == r.Digest {
		t.Fatalf("after a push: %+v", got.Status)
	}
}

func TestSyncOCIAuth(t *testing.T) {
	secret := func(name, user, pass string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kubesphere-system"},
			Data: map[string][]byte{"username": []byte(user), "password": []byte(pass)}}
	}
	for _, bearer := range []bool{false, true} {
		f := helloRegistry(t)
		f.user, f.password, f.bearer = "reader", "s3cret", bearer
		good, wrong, none := ociRepo(f, "good", "hello"), ociRepo(f, "wrong", "hello"), ociRepo(f, "none", "hello")
		good.Spec.CredentialsSecretRef = &v1alpha1.LocalSecretReference{Name: "good"}
		wrong.Spec.CredentialsSecretRef = &v1alpha1.LocalSecretReference{Name: "wrong"}
		s, client, _ := newSyncer(t, []*v1alpha1.Repo{good, wrong, none}, secret("good", "reader", "s3cret"), secret("wrong", "reader", "guess"))
		for name, reason := range map[string]string{"good": appstore.RepoReasonSynced, "wrong": appstore.RepoReasonUnauthorized, "none": appstore.RepoReasonUnauthorized} {
			if _, err := s.sync(context.Background(), name); err != nil {
				t.Fatal(err)
			}
			if _, cond := synced(t, client, name); cond == nil || cond.Reason != reason {
				t.Errorf("bearer %v, %s: condition %+v, want %s", bearer, name, cond, reason)
			}
		}
	}
}

// A registry that fails keeps the last snapshot, and the condition says why.
func TestSyncOCIFailuresKeepSnapshot(t *testing.T) {
	f := helloRegistry(t)
	noCA := ociRepo(f, "no-ca", "hello")
	noCA.Spec.CABundle = nil
	gone := ociRepo(f, "gone", "nothing")
	down := ociRepo(f, "down", "hello")
	down.Spec.URL = "oci://127.0.0.1:1/charts"
	s, client, c := newSyncer(t, []*v1alpha1.Repo{ociRepo(f, "oci", "hello"), noCA, gone, down})
	ctx := context.Background()
	for name, reason := range map[string]string{"no-ca": appstore.RepoReasonTLSError, "gone": appstore.RepoReasonNotFound, "down": appstore.RepoReasonUnreachable} {
		if _, err := s.sync(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, cond := synced(t, client, name); cond == nil || cond.Reason != reason || cond.Status != metav1.ConditionFalse {
			t.Errorf("%s: condition %+v, want %s", name, cond, reason)
		}
	}
	if _, err := s.sync(ctx, "oci"); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Get("oci")
	for _, bad := range []struct {
		broken string
		status int
		reason string
	}{
		{`{"tags": [`, 0, appstore.RepoReasonInvalidIndex},
		{`{"tags": "0.1.0"}`, 0, appstore.RepoReasonInvalidIndex},
		{"", 503, appstore.RepoReasonUnreachable},
		{"", 401, appstore.RepoReasonUnauthorized},
	} {
		f.mu.Lock()
		f.broken, f.status = bad.broken, bad.status
		f.mu.Unlock()
		if _, err := s.sync(ctx, "oci"); err != nil {
			t.Fatal(err)
		}
		if _, cond := synced(t, client, "oci"); cond == nil || cond.Reason != bad.reason {
			t.Errorf("%q/%d: condition %+v, want %s", bad.broken, bad.status, cond, bad.reason)
		}
		if after, _ := c.Get("oci"); after != before {
			t.Errorf("%q/%d: the snapshot was replaced", bad.broken, bad.status)
		}
	}
}

func TestPullOCIChart(t *testing.T) {
	f := helloRegistry(t)
	f.push("charts/huge", "5.0.0", chartConfigOf("huge", "5.0.0"), []byte("huge"), nil)
	f.resize("charts/huge", "5.0.0", 30<<20)
	s, _, c := newSyncer(t, []*v1alpha1.Repo{ociRepo(f, "oci", "hello", "huge")})
	ctx := context.Background()
	if _, err := s.sync(ctx, "oci"); err != nil {
		t.Fatal(err)
	}
	data, sum, err := s.PullOCIChart(ctx, "oci", "hello", "1.0.0+build.1")
	if err != nil || string(data) != "hello-1.0.0+build.1.tgz" || sum != sha256.Sum256(data) {
		t.Fatalf("pull: %q, %x, %v", data, sum, err)
	}
	r, _ := c.Get("oci")
	if hello, _ := r.Index.Chart("hello"); hello.Versions[0].Digest != sum {
		t.Fatal("the pulled chart is not the one the view shows")
	}

	// The tag pushed again with other content: the listed manifest is still served.
	f.push("charts/hello", "0.2.0", chartConfigOf("hello", "0.2.0"), []byte("changed"), nil)
	if data, _, err := s.PullOCIChart(ctx, "oci", "hello", "0.2.0"); err != nil || string(data) != "hello-0.2.0.tgz" {
		t.Fatalf("pull of a re-pushed tag: %q, %v; want the listed chart", data, err)
	}
	// Bytes that are not what the manifest says.
	f.mu.Lock()
	f.blobs[ociDigestOf([]byte("hello-0.1.0.tgz"))] = []byte("tampered-0.1.0.")
	f.mu.Unlock()
	for _, c := range []struct {
		chart, version string
		reason         metav1.StatusReason
	}{
		{"hello", "0.1.0", appstore.ChartReasonDigestMismatch},
		{"hello", "9.9.9", metav1.StatusReasonNotFound},
		{"other", "1.0.0", metav1.StatusReasonNotFound}, // not in spec.charts
		{"huge", "5.0.0", appstore.ChartReasonTooLarge}, // refused before reading
	} {
		_, _, err := s.PullOCIChart(ctx, "oci", c.chart, c.version)
		if got := apierrors.ReasonForError(err); got != c.reason {
			t.Errorf("%s %s: %v (reason %q), want %s", c.chart, c.version, err, got, c.reason)
		}
	}
	if _, _, err := s.PullOCIChart(ctx, "nothing", "hello", "0.1.0"); !apierrors.IsNotFound(err) {
		t.Errorf("an unknown Repo: %v", err)
	}
}
