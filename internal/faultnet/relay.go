// Package faultnet plays a failing network in tests: a TCP relay that can go silent, or
// start leading somewhere else.
package faultnet

import (
	"net"
	"sync"
)

// Relay forwards every TCP connection made to Addr to a target until Freeze; from then on
// it reads nothing more and writes nothing, yet keeps the connections open: a peer whose
// machine vanished, or a NAT entry that was dropped, where no reset ever arrives.
type Relay struct {
	l      net.Listener
	frozen chan struct{}
	once   sync.Once

	mu     sync.Mutex
	target string
	conns  []net.Conn
}

// NewRelay listens on 127.0.0.1 and forwards to target (host:port).
func NewRelay(target string) (*Relay, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{l: l, target: target, frozen: make(chan struct{})}
	go r.accept()
	return r, nil
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string { return r.l.Addr().String() }

// Freeze stops all traffic, on open connections and new ones alike.
func (r *Relay) Freeze() { r.once.Do(func() { close(r.frozen) }) }

// Redirect closes every open connection and forwards new ones to target: the name a
// client dials now leads to another server (DNS, a load balancer).
func (r *Relay) Redirect(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = target
	r.closeAll()
}

// Close stops listening and closes every connection.
func (r *Relay) Close() {
	_ = r.l.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeAll()
}

func (r *Relay) closeAll() {
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

func (r *Relay) accept() {
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		target := r.target
		r.mu.Unlock()
		up, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go r.pipe(up, c)
		go r.pipe(c, up)
	}
}

// pipe copies until frozen; what it read after that is dropped, and it reads no more.
func (r *Relay) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-r.frozen:
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
