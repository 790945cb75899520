package auditlog

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/options"
)

// The file New writes is the file k8s.io/apiserver's own log backend writes from the same
// flags, in every mode, with and without rotation, for events the fast encoder writes and
// for those it leaves to upstream's.
func TestSameFileAsUpstream(t *testing.T) {
	withBody := proxiedGet()
	withBody.Level = auditinternal.LevelRequest
	withBody.RequestObject = &runtime.Unknown{Raw: []byte(`{"kind":"Pod"}`), ContentType: runtime.ContentTypeJSON}
	events := []*auditinternal.Event{proxiedGet(), withBody, proxiedGet()}

	for _, mode := range []string{options.ModeBlocking, options.ModeBlockingStrict, options.ModeBatch} {
		for _, maxSize := range []int{0, 100} {
			t.Run(mode, func(t *testing.T) {
				dir := t.TempDir()
				policy := filepath.Join(dir, "policy.yaml")
				if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				write := func(name string, build func(*options.AuditOptions) audit.Backend) []byte {
					o := options.NewAuditOptions()
					o.PolicyFile = policy
					o.LogOptions.Path = filepath.Join(dir, name, "audit.log")
					o.LogOptions.MaxSize = maxSize
					o.LogOptions.BatchOptions.Mode = mode
					if errs := o.Validate(); len(errs) > 0 {
						t.Fatal(errs)
					}
					b := build(o)
					stop := make(chan struct{})
					if err := b.Run(stop); err != nil {
						t.Fatal(err)
					}
					for _, ev := range events {
						if !b.ProcessEvents(ev.DeepCopy()) {
							t.Fatalf("%s: ProcessEvents failed", name)
						}
					}
					close(stop)
					b.Shutdown() // a batch backend writes what it holds
					got, err := os.ReadFile(o.LogOptions.Path)
					if err != nil {
						t.Fatal(err)
					}
					if fi, _ := os.Stat(o.LogOptions.Path); fi.Mode().Perm() != 0o600 {
						t.Errorf("%s: the log file's mode is %v, not 0600", name, fi.Mode().Perm())
					}
					return got
				}
				ours := write("ours", func(o *options.AuditOptions) audit.Backend {
					b, err := New(&o.LogOptions)
					if err != nil || b == nil {
						t.Fatalf("New: %v, %v", b, err)
					}
					return b
				})
				theirs := write("upstream", func(o *options.AuditOptions) audit.Backend {
					c := &server.Config{}
					if err := o.ApplyTo(c); err != nil || c.AuditBackend == nil {
						t.Fatalf("ApplyTo: %v, %v", c.AuditBackend, err)
					}
					return c.AuditBackend
				})
				if string(ours) != string(theirs) {
					t.Fatalf("ours:\n%s\nupstream:\n%s", ours, theirs)
				}
				if len(ours) == 0 {
					t.Fatal("nothing was written")
				}
			})
		}
	}
}

func TestNoPathNoBackend(t *testing.T) {
	o := options.NewAuditOptions()
	if b, err := New(&o.LogOptions); b != nil || err != nil {
		t.Fatalf("New without --audit-log-path: %v, %v", b, err)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	o := options.NewAuditOptions()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o.LogOptions.Path = filepath.Join(file, "audit.log") // a directory that is a file
	if _, err := New(&o.LogOptions); err == nil {
		t.Fatal("New accepted a path under a regular file")
	}
}
