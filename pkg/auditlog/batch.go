package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

// maxWrite bounds one write: a rotating log (lumberjack) refuses a write longer than its
// --audit-log-maxsize, and rotates only between writes.
const maxWrite = 256 << 10

// wholeLines is the longest start of lines, whole lines only, of at most max bytes; a
// single longer line alone.
func wholeLines(lines []byte, max int) []byte {
	if len(lines) <= max {
		return lines
	}
	if i := bytes.LastIndexByte(lines[:max], '\n'); i >= 0 {
		return lines[:i+1]
	}
	if i := bytes.IndexByte(lines, '\n'); i >= 0 {
		return lines[:i+1]
	}
	return lines
}

// maxSpare is the largest write buffer kept for the next write; a burst's bigger one is
// left to the collector.
const maxSpare = 1 << 20

// batchWriter is --audit-log-mode=batch for the fast encoder. Upstream's batch mode copies
// each event (the caller reuses it), hands the copy to a worker goroutine over a channel
// and writes one line per system call, which CPU profiles of proxied GETs showed as most
// of the audit's cost. Here the request's
// goroutine encodes the line itself (nothing of the event is kept, so nothing is copied)
// and appends it to the lines waiting; one writer goroutine writes everything waiting in
// one write as soon as it is free. A request never waits for the file, lines never
// interleave, and under load many requests share a system call. Like upstream's, it holds
// at most bufferSize lines (--audit-log-batch-buffer-size) and drops, with an error,
// what would go beyond; it writes as soon as it can, so --audit-log-batch-max-size and
// -max-wait, whose log-backend defaults also mean "one event, at once", change nothing.
type batchWriter struct {
	enc        *backend
	bufferSize int

	mu      sync.Mutex
	waiting []byte // whole lines, in the order they came
	count   int    // lines in waiting
	spare   []byte
	started bool
	stopped bool

	wake chan struct{} // holds one signal at most: "lines are waiting"
	done chan struct{} // closed when the writer has written the last lines
}

func newBatchWriter(enc *backend, bufferSize int) *batchWriter {
	return &batchWriter{enc: enc, bufferSize: bufferSize, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (b *batchWriter) ProcessEvents(events ...*auditinternal.Event) bool {
	for _, ev := range events {
		buf := lines.Get().(*[]byte)
		line, err := b.enc.encode(buf, ev)
		if err == nil {
			err = b.add(line)
		}
		lines.Put(buf)
		if err != nil {
			audit.HandlePluginError(pluginlog.PluginName, err, ev)
		}
	}
	// As upstream's batch mode: a lost event is reported, never a failed request.
	return true
}

func (b *batchWriter) add(line []byte) error {
	b.mu.Lock()
	switch {
	case b.stopped:
		b.mu.Unlock()
		return errors.New("audit backend shut down")
	case b.count >= b.bufferSize:
		b.mu.Unlock()
		return fmt.Errorf("audit buffer queue blocked: %d lines wait for the file", b.count)
	}
	b.waiting = append(b.waiting, line...)
	b.count++
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default: // the writer is already told
	}
	return nil
}

// Run starts the writer; it writes what is left and ends when stopCh closes.
func (b *batchWriter) Run(stopCh <-chan struct{}) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("the audit log writer is already running")
	}
	b.started = true
	b.mu.Unlock()
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.wake:
				b.write()
			case <-stopCh:
				b.stop()
				return
			}
		}
	}()
	return nil
}

// stop refuses further lines and writes those waiting.
func (b *batchWriter) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.write()
}

func (b *batchWriter) write() {
	b.mu.Lock()
	out, n := b.waiting, b.count
	b.waiting, b.spare, b.count = b.spare[:0], nil, 0
	b.mu.Unlock()
	if n == 0 {
		return
	}
	for rest := out; len(rest) > 0; {
		chunk := wholeLines(rest, maxWrite)
		if _, err := b.enc.out.Write(chunk); err != nil {
			audit.HandlePluginError(pluginlog.PluginName, fmt.Errorf("writing %d bytes of audit lines: %w", len(chunk), err))
		}
		rest = rest[len(chunk):]
	}
	if cap(out) <= maxSpare {
		b.mu.Lock()
		b.spare = out[:0]
		b.mu.Unlock()
	}
}

// Shutdown waits until the writer has written every line, once Run's stopCh is closed.
// Without Run it writes them itself.
func (b *batchWriter) Shutdown() {
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if started {
		<-b.done
		return
	}
	b.stop()
}

func (b *batchWriter) String() string { return pluginlog.PluginName }
