package buffers

import "testing"

func TestPoolGivesFullBuffers(t *testing.T) {
	var p Pool
	b := p.Get()
	if len(b) != Size {
		t.Fatalf("Get: %d bytes, want %d", len(b), Size)
	}
	// A buffer a caller resliced comes back whole.
	p.Put(b[:10])
	if got := len(p.Get()); got != Size {
		t.Fatalf("Get after Put of a resliced buffer: %d bytes, want %d", got, Size)
	}
	// A foreign small buffer is dropped, never handed out short.
	p.Put(make([]byte, 10))
	if got := len(p.Get()); got != Size {
		t.Fatalf("Get after Put of a small buffer: %d bytes, want %d", got, Size)
	}
}
