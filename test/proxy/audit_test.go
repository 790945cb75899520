package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/test/framework"
)

// A proxied request has one audit ID, on the host and on the member: the member's audit
// log can be matched with cluster-apiserver's, and a client sees one Audit-Id and one
// Cache-Control, not the host's and the member's one after the other.
func TestOneAuditIDOnHostAndMember(t *testing.T) {
	for _, r := range routes() {
		t.Run(r.name(), func(t *testing.T) {
			client, err := rest.HTTPClientFor(framework.AdminRESTConfig(t, env, r.server()))
			require.NoError(t, err)
			get := func(auditID string) http.Header {
				req, err := http.NewRequest(http.MethodGet, r.server()+"/api/v1/namespaces/default", nil)
				require.NoError(t, err)
				if auditID != "" {
					req.Header.Set("Audit-ID", auditID)
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				return resp.Header
			}
			oneValue := func(h http.Header, name string) string {
				values := h.Values(name)
				require.NotEmpty(t, values, name)
				if r.path == "direct-path" {
					require.Len(t, values, 1, "%s: %v", name, values)
				} else {
					// The host's aggregator adds its own copy in front (upstream's
					// behaviour); it must still be the same one.
					for _, v := range values {
						require.Equal(t, values[0], v, "%s: %v", name, values)
					}
				}
				return values[0]
			}

			// The member answers with the audit ID it recorded; it must be the one
			// cluster-apiserver audited the request under.
			h := get("")
			id := oneValue(h, "Audit-Id")
			oneValue(h, "Cache-Control")
			require.Eventually(t, func() bool {
				return strings.Contains(readLog(t, "host-cluster-apiserver-audit"), `"auditID":"`+id+`"`)
			}, 30*time.Second, 250*time.Millisecond, "cluster-apiserver's audit log has no event %s", id)

			// A caller's own Audit-ID is kept end to end, as kube-apiserver keeps it.
			own := "own-audit-id-" + r.name()
			assert.Equal(t, own, oneValue(get(own), "Audit-Id"))
		})
	}
}

// A proxied watch its client closes is audited as a normal end, with the member's status:
// not as a Panic with code 500 (the reverse proxy's abort when the client went away).
func TestClosedWatchIsNotAPanic(t *testing.T) {
	for _, r := range routes() {
		t.Run(r.name(), func(t *testing.T) {
			client, err := rest.HTTPClientFor(framework.AdminRESTConfig(t, env, r.server()))
			require.NoError(t, err)
			id := "closed-watch-" + r.name()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.server()+"/api/v1/namespaces?watch=true", nil)
			require.NoError(t, err)
			req.Header.Set("Audit-ID", id)
			resp, err := client.Do(req)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			_, err = resp.Body.Read(make([]byte, 512)) // the first events
			require.NoError(t, err)
			cancel()
			resp.Body.Close()

			var events []string
			require.Eventually(t, func() bool {
				events = auditEvents(t, id)
				return len(events) > 0 && strings.Contains(events[len(events)-1], `"stage":"ResponseComplete"`)
			}, 30*time.Second, 250*time.Millisecond, "cluster-apiserver's audit log ends the watch: %v", events)
			for _, ev := range events {
				assert.NotContains(t, ev, `"stage":"Panic"`)
			}
			assert.Contains(t, events[len(events)-1], `"responseStatus":{"metadata":{},"code":200}`)
		})
	}
}

// auditEvents are the lines of cluster-apiserver's audit log with audit ID id.
func auditEvents(t *testing.T, id string) []string {
	var out []string
	for _, line := range strings.Split(readLog(t, "host-cluster-apiserver-audit"), "\n") {
		if strings.Contains(line, `"auditID":"`+id+`"`) {
			out = append(out, line)
		}
	}
	return out
}
