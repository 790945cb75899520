package tunnel

// Write batching of a tunnel: yamux writes each frame on its own, and TLS makes a record of
// each write; batched, the frames of many streams share records and system calls.

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// frameWriter is the connection yamux writes its frames to. Its send loop hands over a
// frame and goes on at once; a flusher goroutine encrypts and writes whatever has gathered
// meanwhile. So frames of many streams share TLS records and system calls, a frame's header
// and body go out together, and the send loop takes the next frame while the kernel copies
// the last. Pending data is bounded: past pendingMax, Write waits for the flusher.
// Only yamux's send loop writes, so Write is never called concurrently.
type frameWriter struct {
	net.Conn
	// batch, when the TLS connection runs over one, collects the TLS records of a flush
	// into one system call.
	batch *batchConn

	mu       sync.Mutex
	drained  sync.Cond // signalled when the flusher takes pending or stops
	pending  []byte
	flushing bool
	err      error
}

// pendingMax bounds what waits for the flusher: beyond it the send loop waits, as it would
// on a slow connection.
const pendingMax = 256 << 10

var flushBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// newFrameWriter wraps a tunnel's TLS connection (possibly behind a bufferedConn).
func newFrameWriter(c net.Conn) *frameWriter {
	fw := &frameWriter{Conn: c}
	fw.drained.L = &fw.mu
	inner := c
	if b, ok := c.(bufferedConn); ok {
		inner = b.Conn
	}
	if t, ok := inner.(*tls.Conn); ok {
		fw.batch, _ = t.NetConn().(*batchConn)
	}
	return fw
}

func (c *frameWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && len(c.pending) >= pendingMax {
		c.drained.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.pending == nil {
		c.pending = (*flushBuffers.Get().(*[]byte))[:0]
	}
	c.pending = append(c.pending, p...)
	if !c.flushing {
		c.flushing = true
		go c.flush()
	}
	return len(p), nil
}

// flush writes what is pending until nothing is, then returns its buffers to the pool (an
// idle tunnel holds none).
func (c *frameWriter) flush() {
	var out []byte
	for {
		c.mu.Lock()
		if out != nil {
			recycle(out)
		}
		if len(c.pending) == 0 || c.err != nil {
			if c.pending != nil && c.err == nil {
				recycle(c.pending)
				c.pending = nil
			}
			c.flushing = false
			c.drained.Broadcast()
			c.mu.Unlock()
			return
		}
		out, c.pending = c.pending, nil
		c.drained.Broadcast()
		c.mu.Unlock()

		if err := c.write(out); err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			// yamux learns of it from its reader: the connection is gone.
			_ = c.Conn.Close()
		}
	}
}

func recycle(b []byte) {
	b = b[:0]
	flushBuffers.Put(&b)
}

// write sends p to the TLS connection, its records in one system call when batching.
func (c *frameWriter) write(p []byte) error {
	// yamux's write timeout ends when the frame is handed over, not when it is sent: a peer
	// that stopped reading is bounded here instead.
	_ = c.Conn.SetWriteDeadline(time.Now().Add(KeepAliveTimeout))
	if c.batch == nil {
		_, err := c.Conn.Write(p)
		return err
	}
	c.batch.start()
	_, err := c.Conn.Write(p)
	if ferr := c.batch.flush(); err == nil {
		err = ferr
	}
	return err
}

// Close lets what is pending (a GoAway, the last frames) go out first, for at most a
// second, then closes the connection.
func (c *frameWriter) Close() error {
	c.mu.Lock()
	deadline := time.AfterFunc(time.Second, func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.drained.Broadcast()
		c.mu.Unlock()
	})
	for c.flushing && c.err == nil {
		c.drained.Wait()
	}
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.mu.Unlock()
	deadline.Stop()
	return c.Conn.Close()
}

// batchConn sits below TLS: between start and flush, the records TLS writes are collected
// and go out in one write, instead of one system call per 16 KiB record.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

// batchMax bounds what is collected before it is written anyway.
const batchMax = 256 << 10

func (c *batchConn) start() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > batchMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		c.batching = true
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *batchConn) flushLocked() error {
	c.batching = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// BatchListener wraps l's connections so that tunnels over TLS on them (tls.NewListener
// around it) write the records of each flush in one system call. A tower proxy listens on it.
func BatchListener(l net.Listener) net.Listener { return batchListener{l} }

type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}
