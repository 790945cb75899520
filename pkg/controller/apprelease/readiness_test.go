package apprelease

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/helmexec"
)

const manifest = `---
# Source: hello/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
---
# Source: hello/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: jobs
`

func TestWorkloadsOf(t *testing.T) {
	got := workloadsOf(manifest, "web")
	want := []workload{
		{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, namespace: "web", name: "hello"},
		{gvr: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, namespace: "jobs", name: "migrate"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("workloads %+v, want %+v", got, want)
	}
}

func deployment(ready bool) *unstructured.Unstructured {
	available := int64(0)
	if ready {
		available = 1
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "hello", "namespace": "web", "generation": int64(1)},
		"spec":     map[string]any{"replicas": int64(1)},
		"status": map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1),
			"readyReplicas": available, "availableReplicas": available,
			"conditions": []any{map[string]any{"type": "Available", "status": map[bool]string{true: "True", false: "False"}[ready]}}},
	}}
}

// The ready count follows the member's Deployment: ready, not ready, gone, and unknown
// until the watch has listed.
func TestReadinessFollowsTheMember(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "DeploymentList"}, deployment(true))
	changes := make(chan string, 100)
	r := newReadiness(func(helmexec.Target) *rest.Config { return &rest.Config{} }, func(name string) { changes <- name })
	// The fake client stands in for the one built from the proxy's config.
	key := "member1\x00dev\x00"
	r.clients[key] = &sharedClient{client: client, users: 1}
	target := helmexec.Target{Cluster: "member1", Namespace: "web", Release: "hello", User: v1alpha1.Requester{Username: "dev"}}
	if _, known := r.notReady("hello", "member1"); known {
		t.Fatal("known before anything is tracked")
	}
	// One Deployment among objects that are not watched.
	deployed := manifest[:strings.Index(manifest, "apiVersion: batch/v1")]
	r.track("hello", target, deployed)
	wait := func(want int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			if n, known := r.notReady("hello", "member1"); known && n == want {
				return
			}
			select {
			case <-changes:
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				n, known := r.notReady("hello", "member1")
				t.Fatalf("not ready %d (known %v), want %d", n, known, want)
			}
		}
	}
	wait(0)
	ctx := context.Background()
	deployments := client.Resource(gvr).Namespace("web")
	if _, err := deployments.Update(ctx, deployment(false), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(1)
	if _, err := deployments.Update(ctx, deployment(true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(0)
	if err := deployments.Delete(ctx, "hello", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(1)
	// The same manifest again changes nothing; stopping forgets it.
	r.track("hello", target, deployed)
	wait(1)
	r.stopRelease("hello")
	if _, known := r.notReady("hello", "member1"); known {
		t.Fatal("known after stop")
	}
}
