package reposync

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// chartCache keeps verified chart archives by their sha256, within max bytes in all,
// dropping the least recently used first, and lets concurrent requests for one digest
// share one download: installing a chart on ten clusters reads it once.
type chartCache struct {
	max     int64
	timeout time.Duration // of one shared download

	mu      sync.Mutex
	size    int64
	order   *list.List // of *cachedChart, the most recently used in front
	entries map[[32]byte]*list.Element
	flights map[[32]byte]*flight
}

type cachedChart struct {
	digest [32]byte
	data   []byte
}

// flight is a download that callers of one digest wait for.
type flight struct {
	done chan struct{}
	data []byte
	err  error
}

func newChartCache(max int64, timeout time.Duration) *chartCache {
	return &chartCache{max: max, timeout: timeout, order: list.New(),
		entries: map[[32]byte]*list.Element{}, flights: map[[32]byte]*flight{}}
}

// get returns the archive of digest d if it is cached. The bytes are shared: read only.
func (c *chartCache) get(d [32]byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookup(d)
}

func (c *chartCache) lookup(d [32]byte) ([]byte, bool) {
	e, ok := c.entries[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedChart).data, true
}

// add caches data as the archive of digest d; an archive larger than the whole cache is
// not kept.
func (c *chartCache) add(d [32]byte, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	if _, ok := c.entries[d]; ok {
		return
	}
	c.entries[d] = c.order.PushFront(&cachedChart{digest: d, data: data})
	c.size += int64(len(data))
	for c.size > c.max {
		last := c.order.Back()
		old := last.Value.(*cachedChart)
		c.order.Remove(last)
		delete(c.entries, old.digest)
		c.size -= int64(len(old.data))
	}
}

// fetch returns the archive of digest d from the cache or from download, which runs once
// for all who ask at the same time and whose result is cached only when it is not an
// error (download verifies the digest). The download has a context of its own, with ctx's
// values but not its end, so that the client who started it leaving fails no other; the
// caller stops waiting when ctx ends.
func (c *chartCache) fetch(ctx context.Context, d [32]byte, download func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if data, ok := c.lookup(d); ok {
		c.mu.Unlock()
		return data, nil
	}
	f, ok := c.flights[d]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[d] = f
		go func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
			defer cancel()
			f.data, f.err = download(dctx)
			c.mu.Lock()
			delete(c.flights, d)
			if f.err == nil {
				c.add(d, f.data)
			}
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
