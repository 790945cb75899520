package buffers

import (
	"net/http/httputil"
	"testing"
)

func TestPoolsGiveFullBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool httputil.BufferPool
		size int
	}{{"Pool", Pool{}, Size}, {"SmallPool", SmallPool{}, SmallSize}} {
		b := tc.pool.Get()
		if len(b) != tc.size {
			t.Fatalf("%s.Get: %d bytes, want %d", tc.name, len(b), tc.size)
		}
		// A buffer a caller resliced comes back whole.
		tc.pool.Put(b[:10])
		if got := len(tc.pool.Get()); got != tc.size {
			t.Fatalf("%s.Get after Put of a resliced buffer: %d bytes, want %d", tc.name, got, tc.size)
		}
		// A foreign small buffer is dropped, never handed out short.
		tc.pool.Put(make([]byte, 10))
		if got := len(tc.pool.Get()); got != tc.size {
			t.Fatalf("%s.Get after Put of a small buffer: %d bytes, want %d", tc.name, got, tc.size)
		}
	}
}
