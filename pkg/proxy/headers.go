package proxy

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// identityHeaderPrefixes are headers by which a client could claim an identity at the
// member. None may pass: the member must see exactly the impersonation we set.
var identityHeaderPrefixes = []string{"Impersonate-", "X-Remote-"}

// identityHeaders are whole headers with the same risk.
var identityHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Forwarded-User",
	"X-Forwarded-Groups", "X-Forwarded-Email", "X-Forwarded-Access-Token"}

// websocketTokenProtocolPrefix is how browsers pass a bearer token on a WebSocket upgrade.
const websocketTokenProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// stripIdentity removes every header that could carry a client's identity or credential.
func stripIdentity(h http.Header) {
	for name := range h {
		canonical := http.CanonicalHeaderKey(name)
		for _, p := range identityHeaderPrefixes {
			if strings.HasPrefix(canonical, p) {
				delete(h, name)
			}
		}
	}
	for _, name := range identityHeaders {
		h.Del(name)
	}
	if protos := h.Values("Sec-Websocket-Protocol"); len(protos) > 0 {
		var keep []string
		for _, v := range protos {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, websocketTokenProtocolPrefix) {
					keep = append(keep, p)
				}
			}
		}
		h.Del("Sec-Websocket-Protocol")
		if len(keep) > 0 {
			h.Set("Sec-Websocket-Protocol", strings.Join(keep, ", "))
		}
	}
}

// impersonate sets the headers that make the member act as u. system:authenticated is
// left out: the member adds it to every authenticated user itself, and impersonating it
// explicitly is refused by some servers.
func impersonate(h http.Header, u user.Info) {
	h.Set("Impersonate-User", u.GetName())
	if uid := u.GetUID(); uid != "" {
		h.Set("Impersonate-Uid", uid)
	}
	for _, g := range u.GetGroups() {
		if g != user.AllAuthenticated {
			h.Add("Impersonate-Group", g)
		}
	}
	for k, vs := range u.GetExtra() {
		// Header names cannot hold every character an extra key may: percent-encode it,
		// as the impersonation API specifies.
		name := "Impersonate-Extra-" + escapeHeaderKey(k)
		for _, v := range vs {
			h.Add(name, v)
		}
	}
}

// escapeHeaderKey percent-encodes every byte of key that may not stand in a header name
// (RFC 7230 tchar), and '%' itself, so that the member's url.PathUnescape gives key back.
// url.PathEscape is not enough: it keeps ':', '@', '=' and others that no header name may
// hold, and the request would fail.
func escapeHeaderKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if isTokenChar(c) && c != '%' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
