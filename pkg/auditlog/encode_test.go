package auditlog

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
)

// upstream is what k8s.io/apiserver's log backend writes for ev.
func upstream(t testing.TB, ev *auditinternal.Event) []byte {
	t.Helper()
	b, err := runtime.Encode(audit.Codecs.LegacyCodec(auditv1.SchemeGroupVersion), ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxiedGet is the event of a proxied GET at level Metadata, the common line.
func proxiedGet() *auditinternal.Event {
	received := time.Date(2026, 11, 27, 19, 54, 28, 900062123, time.UTC)
	return &auditinternal.Event{
		Level: auditinternal.LevelMetadata, AuditID: "baf24daa-093c-4ec5-902c-cce5b49bb5b7", Stage: auditinternal.StageResponseComplete,
		RequestURI: "/clusters/member1/api/v1/namespaces/bench-get/pods/pod-0", Verb: "get",
		User: authnv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"},
			Extra: map[string]authnv1.ExtraValue{"authentication.kubernetes.io/credential-id": {"X509SHA256=9a72"}}},
		SourceIPs: []string{"127.0.0.1"}, UserAgent: "bench-proxy/v0.0.0 (linux/amd64) kubernetes/$Format",
		ObjectRef:                &auditinternal.ObjectReference{Resource: "clusters", Name: "member1", APIGroup: "clusters.kubesphere.io", APIVersion: "v1alpha1", Subresource: "proxy"},
		ResponseStatus:           &metav1.Status{Code: 200},
		RequestReceivedTimestamp: metav1.NewMicroTime(received),
		StageTimestamp:           metav1.NewMicroTime(received.Add(2 * time.Millisecond)),
		Annotations:              map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
	}
}

func TestProxiedGetIsEncodedAsUpstreamDoes(t *testing.T) {
	ev := proxiedGet()
	got, ok := appendEvent(nil, ev)
	if !ok {
		t.Fatal("the common event took the slow path")
	}
	if want := upstream(t, ev); !bytes.Equal(got, want) {
		t.Fatalf("got\n%s\nupstream wrote\n%s", got, want)
	}
}

// Strings that encoding/json escapes, or that are invalid UTF-8.
var awkward = []string{"", "a", "system:masters", "<script>&amp;</script>", `"quoted" \back\slash`,
	"\x00\x01\x1f\x7f", "\b\f\n\r\t", "é日本語", "\u2028 and \u2029", "\xff\xfe", "cut \xc3", "\xed\xa0\x80",
	"🙂 emoji", "\u00a0nbsp", "/api/v1/namespaces/x/pods?watch=1&labelSelector=a%3Db"}

func TestRandomEventsAreEncodedAsUpstreamDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := func() string { return awkward[r.IntN(len(awkward))] }
	strs := func() []string {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		v := make([]string, 1+r.IntN(3))
		for i := range v {
			v[i] = s()
		}
		return v
	}
	user := func() authnv1.UserInfo {
		u := authnv1.UserInfo{Username: s(), UID: s(), Groups: strs()}
		if r.IntN(2) == 0 {
			u.Extra = map[string]authnv1.ExtraValue{}
			for range r.IntN(4) {
				u.Extra[s()] = strs()
			}
		}
		return u
	}
	when := func() metav1.MicroTime {
		switch r.IntN(5) {
		case 0:
			return metav1.MicroTime{}
		case 1:
			return metav1.NewMicroTime(time.Date(1+r.IntN(9998), 1, 1, 0, 0, 0, r.IntN(1e9), time.FixedZone("x", 3600*r.IntN(12))))
		}
		return metav1.NewMicroTime(time.Unix(r.Int64N(4e9), r.Int64N(1e9)))
	}
	fast := 0
	const n = 20000
	for i := range n {
		ev := &auditinternal.Event{Level: auditinternal.Level(s()), AuditID: types.UID(s()), Stage: auditinternal.Stage(s()),
			RequestURI: s(), Verb: s(), User: user(), SourceIPs: strs(), UserAgent: s(),
			RequestReceivedTimestamp: when(), StageTimestamp: when()}
		if r.IntN(2) == 0 {
			u := user()
			ev.ImpersonatedUser = &u
		}
		if r.IntN(2) == 0 {
			ev.ObjectRef = &auditinternal.ObjectReference{Resource: s(), Namespace: s(), Name: s(), UID: types.UID(s()),
				APIGroup: s(), APIVersion: s(), ResourceVersion: s(), Subresource: s()}
		}
		if r.IntN(2) == 0 {
			st := &metav1.Status{Status: s(), Message: s(), Reason: metav1.StatusReason(s()), Code: int32(r.IntN(600)) - 50}
			st.Kind, st.APIVersion = s(), s()
			st.SelfLink, st.ResourceVersion, st.Continue = s(), s(), s()
			if r.IntN(2) == 0 {
				c := r.Int64N(1000) - 10
				st.RemainingItemCount = &c
			}
			if r.IntN(8) == 0 {
				st.Details = &metav1.StatusDetails{Name: s(), Kind: s(), Causes: []metav1.StatusCause{{Message: s()}}}
			}
			ev.ResponseStatus = st
		}
		if r.IntN(3) > 0 {
			ev.Annotations = map[string]string{}
			for range r.IntN(4) {
				ev.Annotations[s()] = s()
			}
		}
		if r.IntN(10) == 0 {
			ev.RequestObject = &runtime.Unknown{Raw: []byte(`{"a":1}`), ContentType: runtime.ContentTypeJSON}
		}
		got, ok := appendEvent(nil, ev)
		if !ok {
			continue
		}
		fast++
		if want := upstream(t, ev); !bytes.Equal(got, want) {
			t.Fatalf("event %d: got\n%s\nupstream wrote\n%s", i, got, want)
		}
	}
	// Most shapes must take the fast path, or this test checks little.
	if fast < n/2 {
		t.Fatalf("only %d of %d events were encoded by appendEvent", fast, n)
	}
}

func BenchmarkEncode(b *testing.B) {
	ev := proxiedGet()
	b.Run("upstream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			upstream(b, ev)
		}
	})
	b.Run("auditlog", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendEvent(buf[:0], ev)
		}
	})
}
