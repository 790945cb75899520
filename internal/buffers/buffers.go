// Package buffers recycles the buffers that stream copies use: allocating one per proxied
// request or spliced stream was most of the proxies' garbage under load.
package buffers

import "sync"

// Size of each buffer of Pool: what io.Copy would allocate.
const Size = 32 << 10

// SmallSize of each buffer of SmallPool.
const SmallSize = 8 << 10

var (
	pool      = sync.Pool{New: func() any { b := make([]byte, Size); return &b }}
	smallPool = sync.Pool{New: func() any { b := make([]byte, SmallSize); return &b }}
)

// Pool is a httputil.BufferPool of Size-byte buffers, for copies that move a lot.
type Pool struct{}

// Get returns a buffer of Size bytes.
func (Pool) Get() []byte { return *pool.Get().(*[]byte) }

// Put returns b to the pool.
func (Pool) Put(b []byte) { put(&pool, b, Size) }

// SmallPool is a httputil.BufferPool of SmallSize-byte buffers, for copies that stay open
// long and move little at a time (watches), which hold their buffer while they wait.
type SmallPool struct{}

// Get returns a buffer of SmallSize bytes.
func (SmallPool) Get() []byte { return *smallPool.Get().(*[]byte) }

// Put returns b to the pool.
func (SmallPool) Put(b []byte) { put(&smallPool, b, SmallSize) }

// put keeps b, restored to its full size; a buffer too small is dropped, so that no Get
// ever hands one out short.
func put(p *sync.Pool, b []byte, size int) {
	if cap(b) >= size {
		b = b[:size]
		p.Put(&b)
	}
}
