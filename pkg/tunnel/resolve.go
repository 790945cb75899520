package tunnel

import (
	"context"
	"net"
	"net/url"
)

// resolveAll returns host:port for every address of u's host: the tower proxy replicas an
// agent keeps a tunnel to, and a dialer tries. An IP, or a name that does not resolve now,
// stands for itself (it is dialled, and retried, as is).
func resolveAll(ctx context.Context, u *url.URL) []string {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	if net.ParseIP(host) != nil {
		return []string{net.JoinHostPort(host, port)}
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(ips) == 0 {
		return []string{net.JoinHostPort(host, port)}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip, port))
	}
	return out
}
