package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
)

// events records the last stage and code audited per request URI.
type events struct {
	mu   sync.Mutex
	last map[string]*auditinternal.Event
}

func (e *events) ProcessEvents(evs ...*auditinternal.Event) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs {
		e.last[ev.RequestURI] = ev.DeepCopy()
	}
	return true
}

func (e *events) get(uri string) *auditinternal.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[uri]
}

// The audit record is true: a watch its client closes ends with the member's status (the
// reverse proxy's abort is the normal end), while a real panic, or an abort while the
// client still listens, is still recorded as a panic.
func TestAuditOfEndedStreams(t *testing.T) {
	sink := &events{last: map[string]*auditinternal.Event{}}
	resolver := &request.RequestInfoFactory{}
	aborted := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer endedByClient(func() bool { return req.Context().Err() != nil })
		switch req.URL.Path {
		case "/watch":
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			<-req.Context().Done() // the client hangs up
			defer close(aborted)
			panic(http.ErrAbortHandler) // what httputil.ReverseProxy does then
		case "/member-failed":
			w.WriteHeader(http.StatusOK)
			panic(http.ErrAbortHandler)
		case "/bug":
			panic("a real bug")
		}
	})
	long := func(*http.Request, *request.RequestInfo) bool { return true }
	h := filters.WithAudit(inner, sink, policy.NewFakePolicyRuleEvaluator(auditinternal.LevelMetadata, nil), long)
	h = filters.WithRequestInfo(h, resolver)
	h = genericfilters.WithPanicRecovery(h, resolver)
	h = filters.WithAuditInit(h)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/watch", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	resp.Body.Close()
	select {
	case <-aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never saw the client go")
	}
	require.Eventually(t, func() bool {
		ev := sink.get("/watch")
		return ev != nil && ev.Stage == auditinternal.StageResponseComplete
	}, 10*time.Second, 10*time.Millisecond, "a watch its client closed ends as ResponseComplete")
	assert.Equal(t, int32(http.StatusOK), sink.get("/watch").ResponseStatus.Code)

	for _, path := range []string{"/bug", "/member-failed"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err == nil {
			resp.Body.Close()
		}
		require.Eventually(t, func() bool { ev := sink.get(path); return ev != nil && ev.Stage == auditinternal.StagePanic },
			10*time.Second, 10*time.Millisecond, "%s is recorded as a panic", path)
		assert.Equal(t, int32(http.StatusInternalServerError), sink.get(path).ResponseStatus.Code, path)
	}
}

// Only an abort that was not the member's doing ends a request normally.
func TestEndedByClient(t *testing.T) {
	abort := func(over bool, value any) func() {
		return func() {
			defer endedByClient(func() bool { return over })
			panic(value)
		}
	}
	assert.NotPanics(t, abort(true, http.ErrAbortHandler))
	assert.Panics(t, abort(false, http.ErrAbortHandler), "the client still listens: the member failed")
	assert.Panics(t, abort(true, "a real bug"))

	failing := &clientWriter{ResponseWriter: errWriter{httptest.NewRecorder()}}
	_, err := failing.Write([]byte("x"))
	require.Error(t, err)
	assert.True(t, failing.failed.Load(), "a failed write to the client is recorded")

	for q, want := range map[string]bool{"watch=true": true, "watch=1": true, "follow=true": true, "watch=false": false, "watch=0": false, "": false, "limit=5": false} {
		v, _ := url.ParseQuery(q)
		assert.Equal(t, want, isStream(v), q)
	}
}

type errWriter struct{ http.ResponseWriter }

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
