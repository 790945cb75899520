// Package buffers recycles the 32 KiB buffers that stream copies use: allocating one per
// proxied request or spliced stream was most of the proxies' garbage under load.
package buffers

import "sync"

// Size of each buffer: what io.Copy would allocate.
const Size = 32 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, Size); return &b }}

// Pool is a httputil.BufferPool over the shared pool.
type Pool struct{}

// Get returns a buffer of Size bytes.
func (Pool) Get() []byte { return *pool.Get().(*[]byte) }

// Put returns b to the pool.
func (Pool) Put(b []byte) {
	if cap(b) >= Size {
		b = b[:Size]
		pool.Put(&b)
	}
}
