package localenv

import (
	"context"
	"fmt"
	"strings"
)

// CopySecret copies the credentials Secret from into a new Secret to in the credentials
// namespace: one Secret backs at most one Cluster, so a test Cluster that reaches a member
// with its credentials needs its own copy.
func (e *Env) CopySecret(ctx context.Context, from, to string) error {
	data, err := e.Kubectl(ctx, "host", "", "get", "secret", "-n", Namespace, from, "-o", "jsonpath={.data}")
	if err != nil {
		return err
	}
	data = strings.TrimSpace(data)
	if data == "" {
		return fmt.Errorf("secret %s/%s has no data", Namespace, from)
	}
	_, err = e.Kubectl(ctx, "host", fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":%q,"namespace":%q},"data":%s}`, to, Namespace, data), "apply", "-f", "-")
	return err
}
