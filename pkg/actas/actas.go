// Package actas builds the client configuration of a component that acts on a member as a
// user: cluster-apiserver's /clusters/<name>/ path, impersonating that user, so that the
// host's per-cluster gate and the member's RBAC decide as for the user's own kubectl. What
// lets the component impersonate is pkg/requesterauthz, on that path only.
package actas

import (
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// User is who to act as.
type User struct {
	Username, UID string
	Groups        []string
	Extra         map[string][]string
}

// Config is base (cluster-apiserver's address and the component's own credentials) for
// cluster, impersonating u, with userAgent.
func Config(base *rest.Config, cluster string, u User, userAgent string) *rest.Config {
	c := rest.CopyConfig(base)
	c.Host = strings.TrimSuffix(c.Host, "/") + "/clusters/" + url.PathEscape(cluster)
	c.Impersonate = rest.ImpersonationConfig{UserName: u.Username}
	// A ServiceAccount is impersonated by name alone: its groups follow from it, and the
	// serviceaccount mode of constrained impersonation admits nothing else.
	if !strings.HasPrefix(u.Username, "system:serviceaccount:") {
		c.Impersonate.UID, c.Impersonate.Groups, c.Impersonate.Extra = u.UID, u.Groups, u.Extra
	}
	c.UserAgent = userAgent
	return c
}
