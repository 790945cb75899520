package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
)

const repoName = "bench-appstore"

// env is the running local environment, as the admin and as the developer.
type env struct {
	o       *options
	cfg     *rest.Config // the host admin's
	admin   clientset.Interface
	dev     clientset.Interface
	dir     string // the pulled chart
	archive string
	rbac    string
}

func newEnv(o *options) (*env, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "host"}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w (run make local-up first)", o.kubeconfig, err)
	}
	// The admin acts as the developer: system:masters may not ask the App Store itself.
	dev := rest.CopyConfig(cfg)
	dev.Impersonate = rest.ImpersonationConfig{UserName: "developer", Groups: []string{"developers"}}
	client, err := clientset.NewForConfig(dev)
	if err != nil {
		return nil, err
	}
	admin, err := clientset.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-appstore-")
	if err != nil {
		return nil, err
	}
	return &env{o: o, cfg: cfg, admin: admin, dev: client, dir: dir}, nil
}

func (e *env) run(ctx context.Context, stdin, binary string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.o.bin, binary), args...)
	cmd.Stdin = strings.NewReader(stdin)
	// Helm's config and cache stay out of the user's home.
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+e.dir, "HELM_CACHE_HOME="+e.dir, "HELM_DATA_HOME="+e.dir)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", binary, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

func (e *env) kubectl(ctx context.Context, kubeContext, stdin string, args ...string) (string, error) {
	return e.run(ctx, stdin, "kubectl", append([]string{"--kubeconfig", e.o.kubeconfig, "--context", kubeContext}, args...)...)
}

// setUp registers the chart repository, lets the developer use every member, and pulls
// the chart for the helm route.
func (e *env) setUp(ctx context.Context) error {
	ca, err := os.ReadFile(e.o.caFile)
	if err != nil {
		return err
	}
	repo := fmt.Sprintf(`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":%q},"spec":{"url":%q,"caBundle":%q}}`,
		repoName, e.o.chartRepo, base64.StdEncoding.EncodeToString(ca))
	if _, err := e.kubectl(ctx, "host", repo, "apply", "-f", "-"); err != nil {
		return err
	}
	e.rbac = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"bench-appstore-user"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"kubesphere:appstore-user"},
"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"developer"}]}`
	if _, err := e.kubectl(ctx, "host", e.rbac, "apply", "-f", "-"); err != nil {
		return err
	}
	for _, m := range e.o.members {
		use := fmt.Sprintf(`{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"bench-appstore-use-%[1]s"},
 "rules":[{"apiGroups":["clusters.kubesphere.io"],"resources":["clusters/proxy"],"resourceNames":[%[1]q],"verbs":["get","create","update","patch","delete"]}]},
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"bench-appstore-use-%[1]s"},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"bench-appstore-use-%[1]s"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"developer"}]}]}`, m)
		if _, err := e.kubectl(ctx, "host", use, "apply", "-f", "-"); err != nil {
			return err
		}
		edit := fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"bench-appstore-developer","namespace":%q},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"},
"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"developer"}]}`, e.o.namespace)
		if _, err := e.kubectl(ctx, m, edit, "apply", "-f", "-"); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := e.admin.AppstoreV1alpha1().Repos().Get(ctx, repoName, metav1.GetOptions{})
		if err == nil && meta.IsStatusConditionTrue(r.Status.Conditions, "Synced") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Repo %s did not sync within a minute (%v): is make local-up running with its App Store repos?", repoName, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := e.run(ctx, "", "helm", "pull", e.o.chart, "--repo", e.o.chartRepo, "--ca-file", e.o.caFile,
		"--version", e.o.version, "--destination", e.dir); err != nil {
		return err
	}
	e.archive = filepath.Join(e.dir, e.o.chart+"-"+e.o.version+".tgz")
	return nil
}

// helmInstall is the floor: helm straight to the member, waiting as the controller does.
func (e *env) helmInstall(ctx context.Context, member, name string) (time.Duration, error) {
	helm := []string{"--kubeconfig", e.o.kubeconfig, "--kube-context", member, "-n", e.o.namespace}
	start := time.Now()
	if _, err := e.run(ctx, "", "helm", append(helm, "install", name+"-helm", e.archive, "--wait=watcher", "--timeout", e.o.timeout.String())...); err != nil {
		return 0, err
	}
	took := time.Since(start)
	_, err := e.run(ctx, "", "helm", append(helm, "uninstall", name+"-helm", "--wait")...)
	return took, err
}

// storeInstall creates a release on member as the developer and waits until its Ready
// condition says the generation is deployed; then deletes it and waits until it is gone.
func (e *env) storeInstall(ctx context.Context, member, name string) (time.Duration, error) {
	releases := e.dev.AppstoreV1alpha1().ApplicationReleases()
	rel := &v1alpha1.ApplicationRelease{ObjectMeta: metav1.ObjectMeta{Name: name + "-store"},
		Spec: v1alpha1.ApplicationReleaseSpec{Application: repoName + "." + e.o.chart, Version: e.o.version,
			TargetNamespace: e.o.namespace, Placement: v1alpha1.Placement{Clusters: []string{member}}}}
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	w, err := releases.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", rel.Name).String()})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := releases.Create(ctx, rel, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	if err := until(w, func(r *v1alpha1.ApplicationRelease) bool {
		c := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ReleaseReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == r.Generation
	}); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if err := releases.Delete(ctx, rel.Name, metav1.DeleteOptions{}); err != nil {
		return 0, err
	}
	for {
		if _, err := releases.Get(ctx, rel.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return took, nil
		} else if ctx.Err() != nil {
			return 0, fmt.Errorf("release %s not gone: %w", rel.Name, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func until(w watch.Interface, done func(*v1alpha1.ApplicationRelease) bool) error {
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return apierrors.FromObject(ev.Object)
		}
		if r, ok := ev.Object.(*v1alpha1.ApplicationRelease); ok && done(r) {
			return nil
		}
	}
	return fmt.Errorf("the watch ended before the release was Ready")
}

func (e *env) cleanUp() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = e.kubectl(ctx, "host", "", "delete", "repo", repoName, "--ignore-not-found")
	if e.rbac != "" {
		_, _ = e.kubectl(ctx, "host", e.rbac, "delete", "-f", "-", "--ignore-not-found")
	}
	for _, m := range e.o.members {
		_, _ = e.kubectl(ctx, "host", "", "delete", "clusterrole,clusterrolebinding", "bench-appstore-use-"+m, "--ignore-not-found")
		_, _ = e.kubectl(ctx, m, "", "delete", "rolebinding", "bench-appstore-developer", "-n", e.o.namespace, "--ignore-not-found")
	}
	os.RemoveAll(e.dir)
}
