package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The member objects the GETs and LISTs read (ensurePods creates them).
const (
	getPath  = "/api/v1/namespaces/bench-get/pods/pod-0"
	listPath = "/api/v1/namespaces/bench-list/pods"
)

// ensurePods creates n pods in ns once; scheduling gates keep them Pending so that the
// member's scheduler and kwok leave them alone.
func ensurePods(ctx context.Context, cs kubernetes.Interface, ns string, n int) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	have, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(have.Items) >= n {
		return nil
	}
	fmt.Fprintf(os.Stderr, "creating %d pods in %s\n", n-len(have.Items), ns)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := int64(-1)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := atomic.AddInt64(&next, 1); i < int64(n); i = atomic.AddInt64(&next, 1) {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "bench"}},
					Spec: corev1.PodSpec{
						SchedulingGates: []corev1.PodSchedulingGate{{Name: "bench.kubesphere.io/hold"}},
						Containers:      []corev1.Container{{Name: "main", Image: "registry.example/bench:1", Args: []string{"--serve", "--port=8080"}}},
					},
				}
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

func get(r route, path string) (int64, error) { return getEncoded(r, path, "") }

// getEncoded is get with an Accept-Encoding, when not empty.
func getEncoded(r route, path, encoding string) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Accept", "application/json")
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return n, err
}

// warm opens r's connections and fills its caches before its GETs are timed.
func warm(r route, path string) {
	for i := 0; i < 20; i++ {
		_, err := get(r, path)
		check(err)
	}
}

// latency runs total GETs of path split over clients concurrent loops (at least one GET
// each) and returns each one's latency.
func latency(r route, path string, clients, total int) []time.Duration {
	per := max(total/clients, 1)
	all := make([]time.Duration, 0, per*clients)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				start := time.Now()
				_, err := get(r, path)
				check(err)
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// list times one LIST through r, with Accept-Encoding encoding when not empty, and returns
// the bytes it read.
func list(r route, path, encoding string) (int64, time.Duration) {
	start := time.Now()
	b, err := getEncoded(r, path, encoding)
	check(err)
	return b, time.Since(start)
}

// watchAll opens n watches on a fresh namespace through r, makes events ConfigMaps, and
// counts the ADDED events the watches receive (every watch must see every one).
func watchAll(ctx context.Context, cs kubernetes.Interface, r route, n, events int) (delivered, expected int64, took time.Duration) {
	ns := fmt.Sprintf("bench-watch-%d", time.Now().UnixNano())
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	check(err)
	defer func() { _ = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) }()

	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var got atomic.Int64
	var opened, done sync.WaitGroup
	for i := 0; i < n; i++ {
		opened.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequestWithContext(wctx, http.MethodGet, r.base+"/api/v1/namespaces/"+ns+"/configmaps?watch=1&allowWatchBookmarks=true", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := r.client.Do(req)
			opened.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			dec := newEventDecoder(resp.Body)
			mine := 0
			for mine < events {
				typ, err := dec.next()
				if err != nil {
					return
				}
				if typ == "ADDED" {
					mine++
					got.Add(1)
				}
			}
		}()
	}
	opened.Wait()
	time.Sleep(500 * time.Millisecond) // the watches are registered on the member
	start := time.Now()
	for i := 0; i < events; i++ {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		check(err)
	}
	done.Wait()
	return got.Load(), int64(n * events), time.Since(start)
}

// eventDecoder reads the type of each event of a JSON watch stream.
type eventDecoder struct{ dec *json.Decoder }

func newEventDecoder(r io.Reader) *eventDecoder { return &eventDecoder{json.NewDecoder(r)} }

func (d *eventDecoder) next() (string, error) {
	var e struct {
		Type string `json:"type"`
	}
	err := d.dec.Decode(&e)
	return e.Type, err
}
