package proxy

import (
	"fmt"
	"net/url"
	"strings"
)

// cleanPath checks the path a client asked for on the member and returns it with one
// leading slash. It refuses anything that could climb out of the member's API or be read
// differently by another server: dot segments, encoded slashes or dots, backslashes and
// control characters.
func cleanPath(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	lower := strings.ToLower(raw)
	// An encoded percent sign too: "%252e%252e" would be ".." to a server that decodes
	// twice, and cleaning would not be idempotent.
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") || strings.Contains(lower, "%25") || strings.Contains(raw, "\\") {
		return "", fmt.Errorf("the path %q holds an encoded slash, backslash, dot or percent sign", raw)
	}
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("the path %q is not a valid URL path: %v", raw, err)
	}
	for _, r := range decoded {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("the path %q holds a control character", raw)
		}
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("the path %q holds a %q segment", raw, seg)
		}
	}
	if !strings.HasPrefix(decoded, "/") {
		decoded = "/" + decoded
	}
	return decoded, nil
}
