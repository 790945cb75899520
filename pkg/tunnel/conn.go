package tunnel

import (
	"bufio"
	"io"
	"net"
)

// Connection helpers of all three roles: each reads an HTTP message off a connection and
// then hands the connection on, and half-closes streams.

// withBuffered is conn, preceded by what the HTTP server had already read of it. Nearly
// always nothing: then the 4 KiB reader is not kept for the connection's life.
func withBuffered(conn net.Conn, r *bufio.Reader) net.Conn {
	if r.Buffered() == 0 {
		return conn
	}
	return bufferedConn{Conn: conn, r: r}
}

// bufferedConn reads what the HTTP server had already buffered before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c bufferedConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite half-closes c where it can, and closes it where it cannot.
func closeWrite(c io.Closer) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
