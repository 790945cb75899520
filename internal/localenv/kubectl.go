package localenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

// Kubectl runs the pinned kubectl against a context of the admin kubeconfig, with stdin.
func (e *Env) Kubectl(ctx context.Context, kubeContext, stdin string, args ...string) (string, error) {
	return e.KubectlAs(ctx, e.Kubeconfig(), kubeContext, stdin, args...)
}

// KubectlAs runs the pinned kubectl with another kubeconfig (for example a non-admin user).
func (e *Env) KubectlAs(ctx context.Context, kubeconfig, kubeContext, stdin string, args ...string) (string, error) {
	cmd := e.KubectlCmd(ctx, kubeconfig, kubeContext, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// KubectlCmd is the pinned kubectl with a kubeconfig and context, not yet started: for
// commands that stream (logs -f, port-forward) or need their own environment.
func (e *Env) KubectlCmd(ctx context.Context, kubeconfig, kubeContext string, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig=" + kubeconfig}, args...)
	if kubeContext != "" {
		full = append([]string{"--context=" + kubeContext}, full...)
	}
	return exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), full...)
}

// render fills a manifest template for kubectl apply; the templates are this package's
// own, so a failure is a bug.
func render(t *template.Template, data any) string {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		panic(err)
	}
	return b.String()
}
