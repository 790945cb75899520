// Package auditlog is cluster-apiserver's audit log backend: the lines k8s.io/apiserver's
// log backend writes (format json, audit.k8s.io/v1), encoded without reflection or
// conversion. Every proxied request is audited, and upstream's encoder (conversion to v1,
// then encoding/json) was most of the audit's cost: about a tenth of this server's CPU
// under proxied GETs. Events with bodies or other rare fields go to the upstream encoder,
// so the file is the same either way; the tests compare the two byte for byte.
//
// The backend is built from the server's --audit-log-* options as upstream builds its own
// (file, rotation, mode, truncation); only the encoder differs, and in batch mode how the
// lines reach the file (batch.go).
package auditlog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/server/options"
	pluginbuffered "k8s.io/apiserver/plugin/pkg/audit/buffered"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
	plugintruncate "k8s.io/apiserver/plugin/pkg/audit/truncate"
)

// New returns the log backend o describes, wrapped for its mode and truncation as
// k8s.io/apiserver wraps its own, or nil when o has no --audit-log-path.
func New(o *options.AuditLogOptions) (audit.Backend, error) {
	if o.Path == "" {
		return nil, nil
	}
	w, err := writer(o)
	if err != nil {
		return nil, err
	}
	gv, err := schema.ParseGroupVersion(o.GroupVersionString)
	if err != nil {
		return nil, err
	}
	b := NewBackend(w, o.Format, gv)
	switch o.BatchOptions.Mode {
	case options.ModeBlockingStrict:
	case options.ModeBlocking:
		b = ignoreErrors{b}
	default:
		if fast, ok := b.(*backend); ok && !o.BatchOptions.BatchConfig.ThrottleEnable {
			b = newBatchWriter(fast, o.BatchOptions.BatchConfig.BufferSize)
		} else {
			b = pluginbuffered.NewBackend(b, o.BatchOptions.BatchConfig)
		}
	}
	if o.TruncateOptions.Enabled {
		b = plugintruncate.NewBackend(b, o.TruncateOptions.TruncateConfig, gv)
	}
	return b, nil
}

// writer opens the log as k8s.io/apiserver does: standard output for "-", the file
// (created 0600 in a 0700 directory) rotated by size unless --audit-log-maxsize is 0.
func writer(o *options.AuditLogOptions) (io.Writer, error) {
	if o.Path == "-" {
		return os.Stdout, nil
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	if o.MaxSize == 0 {
		return f, nil
	}
	_ = f.Close()
	return &lumberjack.Logger{Filename: o.Path, MaxAge: o.MaxAge, MaxBackups: o.MaxBackups, MaxSize: o.MaxSize, Compress: o.Compress}, nil
}

// ignoreErrors is upstream's blocking mode: the request waits for the write, and is not
// failed by it.
type ignoreErrors struct{ audit.Backend }

func (b ignoreErrors) ProcessEvents(ev ...*auditinternal.Event) bool {
	b.Backend.ProcessEvents(ev...)
	return true
}

// NewBackend writes events to out, one line each. Only format json in audit.k8s.io/v1 has
// the fast encoder; anything else is upstream's backend as is.
func NewBackend(out io.Writer, format string, gv schema.GroupVersion) audit.Backend {
	if format != pluginlog.FormatJson || gv != auditv1.SchemeGroupVersion {
		return pluginlog.NewBackend(out, format, gv)
	}
	return &backend{out: out, upstream: audit.Codecs.LegacyCodec(gv)}
}

type backend struct {
	out      io.Writer
	upstream runtime.Encoder
}

var lines = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (b *backend) ProcessEvents(events ...*auditinternal.Event) bool {
	ok := true
	for _, ev := range events {
		ok = b.logEvent(ev) && ok
	}
	return ok
}

func (b *backend) logEvent(ev *auditinternal.Event) bool {
	buf := lines.Get().(*[]byte)
	defer lines.Put(buf)
	line, err := b.encode(buf, ev)
	if err != nil {
		audit.HandlePluginError(pluginlog.PluginName, err, ev)
		return false
	}
	// One write per event, as upstream: lines from concurrent requests never interleave.
	if _, err := b.out.Write(line); err != nil {
		audit.HandlePluginError(pluginlog.PluginName, err, ev)
		return false
	}
	return true
}

// encode returns ev's line, in *buf (grown as needed) when the fast encoder takes it.
func (b *backend) encode(buf *[]byte, ev *auditinternal.Event) ([]byte, error) {
	line, fast := appendEvent((*buf)[:0], ev)
	if !fast {
		return runtime.Encode(b.upstream, ev)
	}
	*buf = line
	return line, nil
}

func (b *backend) Run(<-chan struct{}) error { return nil }

func (b *backend) Shutdown() {}

func (b *backend) String() string { return pluginlog.PluginName }
