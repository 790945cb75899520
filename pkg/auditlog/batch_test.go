package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/server/options"
	pluginbuffered "k8s.io/apiserver/plugin/pkg/audit/buffered"
)

// countingWriter records each write.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func newTestBatch(bufferSize int) (*batchWriter, *countingWriter) {
	out := &countingWriter{}
	return newBatchWriter(NewBackend(out, "json", auditv1.SchemeGroupVersion).(*backend), bufferSize), out
}

func auditIDs(t *testing.T, log []byte) []string {
	t.Helper()
	var ids []string
	for _, line := range bytes.Split(bytes.TrimSuffix(log, []byte("\n")), []byte("\n")) {
		var ev struct{ AuditID string }
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("a line is not one JSON event (%v): %q", err, line)
		}
		ids = append(ids, ev.AuditID)
	}
	return ids
}

func event(id string) *auditinternal.Event {
	ev := proxiedGet()
	ev.AuditID = types.UID("id-" + id)
	return ev
}

// Lines that wait while the writer is busy go out together, in order, in one write.
func TestBatchWritesWhatWaitsInOneWrite(t *testing.T) {
	b, out := newTestBatch(100)
	for _, id := range []string{"a", "b", "c"} {
		if !b.ProcessEvents(event(id)) {
			t.Fatal("ProcessEvents failed")
		}
	}
	stop := make(chan struct{})
	if err := b.Run(stop); err != nil {
		t.Fatal(err)
	}
	close(stop)
	b.Shutdown()
	if got := auditIDs(t, out.buf.Bytes()); len(got) != 3 || got[0] != "id-a" || got[1] != "id-b" || got[2] != "id-c" {
		t.Fatalf("lines %v, want id-a, id-b, id-c", got)
	}
	if out.writes != 1 {
		t.Fatalf("%d writes for three waiting lines, want 1", out.writes)
	}
}

// Beyond --audit-log-batch-buffer-size lines waiting, an event is dropped and reported, and
// the request is not failed; after Shutdown nothing more is taken.
func TestBatchDropsBeyondItsBuffer(t *testing.T) {
	b, out := newTestBatch(2)
	for _, id := range []string{"a", "b", "c"} {
		if !b.ProcessEvents(event(id)) {
			t.Fatal("ProcessEvents failed a request")
		}
	}
	b.Shutdown() // never Run: Shutdown writes what waits
	if !b.ProcessEvents(event("d")) {
		t.Fatal("ProcessEvents after Shutdown failed a request")
	}
	if got := auditIDs(t, out.buf.Bytes()); len(got) != 2 || got[0] != "id-a" || got[1] != "id-b" {
		t.Fatalf("lines %v, want id-a and id-b only", got)
	}
}

// Concurrent requests' lines are each whole, none lost, however the writes group them.
func TestBatchConcurrentLinesStayWhole(t *testing.T) {
	b, out := newTestBatch(10000)
	stop := make(chan struct{})
	if err := b.Run(stop); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b.ProcessEvents(event(fmt.Sprintf("%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	close(stop)
	b.Shutdown()
	if got := auditIDs(t, out.buf.Bytes()); len(got) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(got), goroutines*each)
	}
	t.Logf("%d lines in %d writes", goroutines*each, out.writes)
}

var _ audit.Backend = &batchWriter{}

// BenchmarkBatchMode is --audit-log-mode=batch to a file as cluster-apiserver's requests
// use it, one proxied GET's event per request: through upstream's batch wrapper around
// the fast encoder, then through batchWriter. It reports the process's CPU time per event
// (cpu-ns/event: the requests' goroutines and the writer's together, every line written)
// beside the usual figures, which count only the callers' time.
func BenchmarkBatchMode(b *testing.B) {
	for _, name := range []string{"upstream-buffered", "batchWriter"} {
		b.Run(name, func(b *testing.B) {
			o := options.NewAuditOptions()
			o.LogOptions.Path = filepath.Join(b.TempDir(), "audit.log")
			o.LogOptions.MaxSize = 0
			o.LogOptions.BatchOptions.Mode = options.ModeBatch
			o.LogOptions.BatchOptions.BatchConfig.BufferSize = b.N + 1 // none dropped
			backend, err := New(&o.LogOptions)
			if err != nil {
				b.Fatal(err)
			}
			if name == "upstream-buffered" {
				w, _ := writer(&o.LogOptions)
				backend = pluginbuffered.NewBackend(NewBackend(w, "json", auditv1.SchemeGroupVersion), o.LogOptions.BatchOptions.BatchConfig)
			}
			stop := make(chan struct{})
			if err := backend.Run(stop); err != nil {
				b.Fatal(err)
			}
			ev := proxiedGet()
			b.ReportAllocs()
			before := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					backend.ProcessEvents(ev)
				}
			})
			close(stop)
			backend.Shutdown()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/event")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// A burst is written in whole lines of at most maxWrite bytes each: a rotating log refuses
// a longer write.
func TestBatchWritesWholeLinesInBoundedWrites(t *testing.T) {
	b, out := newTestBatch(100000)
	ev := event("x")
	buf := lines.Get().(*[]byte)
	line, _ := b.enc.encode(buf, ev)
	n := 3*maxWrite/len(line) + 7
	for range n {
		b.ProcessEvents(ev)
	}
	lines.Put(buf)
	var sizes []int
	b.enc.out = writerFunc(func(p []byte) (int, error) {
		if p[len(p)-1] != '\n' || len(p) > maxWrite {
			t.Errorf("a write of %d bytes that ends in %q", len(p), p[len(p)-1])
		}
		sizes = append(sizes, len(p))
		return out.Write(p)
	})
	b.Shutdown()
	if got := len(auditIDs(t, out.buf.Bytes())); got != n {
		t.Fatalf("%d lines, want %d", got, n)
	}
	if len(sizes) < 4 {
		t.Fatalf("%d bytes in %d writes %v, want at least 4 of at most %d", out.buf.Len(), len(sizes), sizes, maxWrite)
	}
	if got := wholeLines([]byte("a-line-longer-than-max\nb\n"), 4); string(got) != "a-line-longer-than-max\n" {
		t.Fatalf("wholeLines gave %q for a line longer than max", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
