package validation

import (
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
)

func indexRepo(name string) *appstore.Repo {
	q := resource.MustParse("50Mi")
	return &appstore.Repo{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appstore.RepoSpec{
			Source:       appstore.RepoSourceIndex,
			URL:          "https://charts.example.com/stable",
			SyncInterval: &metav1.Duration{Duration: time.Hour},
			MaxIndexSize: &q,
		},
	}
}

func ociRepo(r *appstore.Repo) {
	r.Spec.Source = appstore.RepoSourceOCI
	r.Spec.URL = "oci://registry.example.com/charts"
	r.Spec.Charts = []string{"nginx", "redis"}
}

func TestValidateRepo(t *testing.T) {
	ca := testCA(t)
	cases := []struct {
		name     string
		mutate   func(r *appstore.Repo)
		wantErrs []string
	}{
		{name: "valid index", mutate: func(r *appstore.Repo) {}},
		{name: "valid index with CA and credentials", mutate: func(r *appstore.Repo) {
			r.Spec.CABundle = ca
			r.Spec.CredentialsSecretRef = &appstore.LocalSecretReference{Name: "charts-credentials"}
		}},
		{name: "valid oci", mutate: ociRepo},
		{name: "valid upload", mutate: func(r *appstore.Repo) {
			r.Spec = appstore.RepoSpec{Source: appstore.RepoSourceUpload}
		}},
		{name: "name with dot", mutate: func(r *appstore.Repo) { r.Name = "my.repo" },
			wantErrs: []string{`metadata.name: Invalid value: "my.repo": must not contain dots`}},
		{name: "name upper case", mutate: func(r *appstore.Repo) { r.Name = "Bitnami" },
			wantErrs: []string{`metadata.name: a lowercase RFC 1123 label`}},
		{name: "no source", mutate: func(r *appstore.Repo) { r.Spec.Source = "" },
			wantErrs: []string{"spec.source: Required value: must be Index, OCI or Upload"}},
		{name: "unknown source", mutate: func(r *appstore.Repo) { r.Spec.Source = "Git" },
			wantErrs: []string{`spec.source: Unsupported value: "Git"`}},
		{name: "index without url", mutate: func(r *appstore.Repo) { r.Spec.URL = "" },
			wantErrs: []string{"spec.url: Required value: an Index repo needs the https URL"}},
		{name: "index over http", mutate: func(r *appstore.Repo) { r.Spec.URL = "http://charts.example.com" },
			wantErrs: []string{"spec.url: must be a https:// URL"}},
		{name: "index with oci url", mutate: func(r *appstore.Repo) { r.Spec.URL = "oci://registry.example.com/charts" },
			wantErrs: []string{"spec.url: must be a https:// URL"}},
		{name: "url without host", mutate: func(r *appstore.Repo) { r.Spec.URL = "https:///index.yaml" },
			wantErrs: []string{"spec.url: must name a host"}},
		{name: "url with password", mutate: func(r *appstore.Repo) { r.Spec.URL = "https://me:secret@charts.example.com" },
			wantErrs: []string{`spec.url: Invalid value: "<omitted>": must not contain user information`}},
		{name: "url with query", mutate: func(r *appstore.Repo) { r.Spec.URL = "https://charts.example.com/?token=x" },
			wantErrs: []string{"spec.url: must not contain a query or a fragment"}},
		{name: "url does not parse", mutate: func(r *appstore.Repo) { r.Spec.URL = "https://charts.example.com/%zz" },
			wantErrs: []string{"spec.url: not a URL"}},
		{name: "oci over https", mutate: func(r *appstore.Repo) { ociRepo(r); r.Spec.URL = "https://registry.example.com" },
			wantErrs: []string{"spec.url: must be a oci:// URL"}},
		{name: "oci without url", mutate: func(r *appstore.Repo) { ociRepo(r); r.Spec.URL = "" },
			wantErrs: []string{"spec.url: Required value: an OCI repo needs the oci:// URL"}},
		{name: "oci without charts", mutate: func(r *appstore.Repo) { ociRepo(r); r.Spec.Charts = nil },
			wantErrs: []string{"spec.charts: Required value: an OCI repo lists the tags of the charts it names"}},
		{name: "oci chart names", mutate: func(r *appstore.Repo) {
			ociRepo(r)
			r.Spec.Charts = []string{"nginx", "", "My_Chart", "a/b", strings.Repeat("a", 129), "nginx"}
		}, wantErrs: []string{
			"spec.charts[1]: Required value: a chart name",
			`spec.charts[2]: Invalid value: "My_Chart": must be one OCI repository path component`,
			`spec.charts[3]: Invalid value: "a/b"`,
			"spec.charts[4]: Too long",
			`spec.charts[5]: Duplicate value: "nginx"`,
		}},
		{name: "oci too many charts", mutate: func(r *appstore.Repo) {
			ociRepo(r)
			r.Spec.Charts = nil
			for i := 0; i <= MaxOCICharts; i++ {
				r.Spec.Charts = append(r.Spec.Charts, "c"+strings.Repeat("x", i))
			}
		}, wantErrs: []string{"spec.charts: Too many: 101: must have at most 100 items"}},
		{name: "charts on an index repo", mutate: func(r *appstore.Repo) { r.Spec.Charts = []string{"nginx"} },
			wantErrs: []string{"spec.charts: Forbidden: only an OCI repo names its charts"}},
		{name: "upload with a source", mutate: func(r *appstore.Repo) {
			r.Spec.Source = appstore.RepoSourceUpload
			r.Spec.CABundle = ca
			r.Spec.CredentialsSecretRef = &appstore.LocalSecretReference{Name: "x"}
		}, wantErrs: []string{
			"spec.url: Forbidden: an Upload repo holds uploaded charts",
			"spec.credentialsSecretRef: Forbidden: an Upload repo reads no source",
			"spec.caBundle: Forbidden: an Upload repo reads no source",
		}},
		{name: "credentials without name", mutate: func(r *appstore.Repo) { r.Spec.CredentialsSecretRef = &appstore.LocalSecretReference{} },
			wantErrs: []string{"spec.credentialsSecretRef.name: Required value"}},
		{name: "credentials bad name", mutate: func(r *appstore.Repo) {
			r.Spec.CredentialsSecretRef = &appstore.LocalSecretReference{Name: "Bad_Name"}
		}, wantErrs: []string{`spec.credentialsSecretRef.name: Invalid value: "Bad_Name"`}},
		{name: "caBundle not PEM", mutate: func(r *appstore.Repo) { r.Spec.CABundle = []byte("hello") },
			wantErrs: []string{`spec.caBundle: Invalid value: "<omitted>": must be PEM-encoded certificates`}},
		{name: "caBundle with a key", mutate: func(r *appstore.Repo) {
			r.Spec.CABundle = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})
		}, wantErrs: []string{`spec.caBundle: must hold only PEM CERTIFICATE blocks, found "PRIVATE KEY"`}},
		{name: "caBundle garbage certificate", mutate: func(r *appstore.Repo) {
			r.Spec.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})
		}, wantErrs: []string{"spec.caBundle: certificate 1 does not parse"}},
		{name: "sync interval at the floor", mutate: func(r *appstore.Repo) { r.Spec.SyncInterval.Duration = 3 * time.Minute }},
		{name: "sync interval below the floor", mutate: func(r *appstore.Repo) { r.Spec.SyncInterval.Duration = time.Minute },
			wantErrs: []string{`spec.syncInterval: Invalid value: "1m0s": must be at least 3m0s`}},
		{name: "max index size zero", mutate: func(r *appstore.Repo) { q := resource.MustParse("0"); r.Spec.MaxIndexSize = &q },
			wantErrs: []string{`spec.maxIndexSize: Invalid value: "0": must be greater than 0`}},
		{name: "max index size too large", mutate: func(r *appstore.Repo) { q := resource.MustParse("2Gi"); r.Spec.MaxIndexSize = &q },
			wantErrs: []string{`spec.maxIndexSize: Invalid value: "2Gi": must be at most 1Gi`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := indexRepo("stable")
			tc.mutate(r)
			assertErrors(t, ValidateRepo(r), tc.wantErrs)
		})
	}
}

func TestValidateRepoUpdate(t *testing.T) {
	old := indexRepo("stable")
	old.ResourceVersion = "1"
	r := old.DeepCopy()
	r.Spec.URL = "https://mirror.example.com/stable"
	assert.Empty(t, ValidateRepoUpdate(r, old), "the URL may change")

	r.Spec = appstore.RepoSpec{Source: appstore.RepoSourceUpload}
	assertErrors(t, ValidateRepoUpdate(r, old), []string{`spec.source: Invalid value: "Upload": field is immutable`})

	r = old.DeepCopy()
	r.Name = "other"
	assertErrors(t, ValidateRepoUpdate(r, old), []string{`metadata.name: Invalid value: "other": field is immutable`})
}

func TestValidateRepoStatusUpdate(t *testing.T) {
	old := indexRepo("stable")
	old.ResourceVersion = "1"
	valid := old.DeepCopy()
	valid.Status = appstore.RepoStatus{
		ObservedGeneration: 1, IndexDigest: "sha256:" + strings.Repeat("ab", 32), IndexSize: 10, ChartCount: 1, VersionCount: 2,
		Conditions: []metav1.Condition{{Type: appstore.RepoSynced, Status: metav1.ConditionTrue, Reason: appstore.RepoReasonSynced, LastTransitionTime: metav1.Now()}},
	}
	assert.Empty(t, ValidateRepoStatusUpdate(valid, old))

	bad := valid.DeepCopy()
	bad.Status.ObservedGeneration = -1
	bad.Status.Conditions[0].Status = "Maybe"
	bad.Status.IndexSize = -1
	bad.Status.ChartCount = -1
	bad.Status.VersionCount = -1
	bad.Status.SkippedEntries = -1
	bad.Status.IndexDigest = "md5:abc"
	assertErrors(t, ValidateRepoStatusUpdate(bad, old), []string{
		"status.observedGeneration: must be greater than or equal to 0",
		`status.conditions[0].status: Unsupported value: "Maybe"`,
		"status.indexSize: must be greater than or equal to 0",
		"status.chartCount: must be greater than or equal to 0",
		"status.versionCount: must be greater than or equal to 0",
		"status.skippedEntries: must be greater than or equal to 0",
		`status.indexDigest: Invalid value: "md5:abc": must be sha256:`,
	})
}
