package tunnel

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The frame writer returns before the bytes are on the wire; what it promises is that they
// all get there, in order, that a slow connection holds back the writer instead of
// piling up, and that Close sends what is pending first (a GoAway must reach the agent).
func TestFrameWriterKeepsOrderAndBoundsPending(t *testing.T) {
	a, b := net.Pipe()
	w := newFrameWriter(a)
	const frames, size = 400, 3000 // 1.2 MB: well past pendingMax
	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(&slowReader{r: b})
		got <- all
	}()
	var want []byte
	for i := 0; i < frames; i++ {
		frame := make([]byte, size)
		for j := range frame {
			frame[j] = byte(i + j)
		}
		want = append(want, frame...)
		n, err := w.Write(frame)
		require.NoError(t, err)
		require.Equal(t, size, n)
		w.mu.Lock()
		pending := len(w.pending)
		w.mu.Unlock()
		require.LessOrEqual(t, pending, pendingMax+size, "pending beyond its bound: the writer did not wait")
	}
	require.NoError(t, w.Close())
	all := <-got
	require.Equal(t, len(want), len(all))
	require.True(t, string(want) == string(all), "bytes arrived out of order")
	_, err := w.Write([]byte("late"))
	require.Error(t, err, "a closed writer takes no more")
}

// slowReader reads in small pieces with pauses, like a congested connection.
type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(50 * time.Microsecond)
	return s.r.Read(p[:min(len(p), 8<<10)])
}
