package apiserver

import "testing"

// deepChain stands for a proxied request's handler chain: depth frames of about 400 bytes
// each, some 24 KiB of stack in all.
//
//go:noinline
func deepChain(depth int) byte {
	var locals [384]byte
	locals[depth%len(locals)] = byte(depth)
	if depth == 0 {
		return locals[0]
	}
	return deepChain(depth-1) + locals[1]
}

// BenchmarkGrowStack runs a deep call chain on a new goroutine per operation, as the
// HTTP/2 server runs each request: with Go's starting stack, which grows (and is copied,
// every frame walked) as the chain deepens, and after growStack, which grows it once while
// it is shallow.
func BenchmarkGrowStack(b *testing.B) {
	for _, bm := range []struct {
		name string
		grow bool
	}{{"starting-stack", false}, {"growStack-first", true}} {
		b.Run(bm.name, func(b *testing.B) {
			done := make(chan byte)
			for b.Loop() {
				go func() {
					if bm.grow {
						growStack()
					}
					done <- deepChain(60)
				}()
				<-done
			}
		})
	}
}
