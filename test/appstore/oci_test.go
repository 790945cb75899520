package appstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/reposync"
	"kubesphere.io/multicluster/test/framework"
)

// secret applies a credentials Secret in the credentials namespace for the test's length.
func secret(t *testing.T, s *corev1.Secret) {
	t.Helper()
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	s.Namespace = localenv.Namespace
	data, err := json.Marshal(s)
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", string(data), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "secret", "-n", localenv.Namespace, s.Name, "--ignore-not-found")
	})
}

// An OCI Repo of the environment's registry lists the tags of the charts it names, with
// the registry's login; the versions are ApplicationVersions like an index's.
func TestOCIRepoSyncs(t *testing.T) {
	creds, err := env.AppStoreOCISecret()
	require.NoError(t, err)
	secret(t, creds)
	repo(t, "oci", env.RegistryURL(), map[string]any{"caBundle": caBundle(t), "charts": []string{"hello"},
		"credentialsSecretRef": map[string]any{"name": creds.Name}})
	r, c := syncedCondition(t, "oci")
	require.Equal(t, metav1.ConditionTrue, c.Status, c.Message)
	assert.Equal(t, "Synced", c.Reason)
	assert.Equal(t, v1alpha1.RepoSourceOCI, r.Spec.Source)
	assert.EqualValues(t, 1, r.Status.ChartCount)
	assert.EqualValues(t, 2, r.Status.VersionCount)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, r.Status.IndexDigest)

	var versions v1alpha1.ApplicationVersionList
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "applicationversions",
		"-l", "appstore.kubesphere.io/repo=oci", "-o", "json")), &versions))
	require.Len(t, versions.Items, 2)
	digests := map[string]string{}
	for _, v := range versions.Items {
		assert.Equal(t, "hello", v.Spec.Chart, v.Name)
		assert.Equal(t, "oci.hello."+v.Spec.Version, v.Name)
		assert.Equal(t, env.RegistryHost()+"/"+localenv.RegistryRepository+"/hello:"+v.Spec.Version, v.Spec.OCIReference)
		assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, v.Spec.Digest, v.Name)
		assert.Equal(t, v1alpha1.AppStateActive, v.Status.State)
		digests[v.Spec.Version] = v.Spec.Digest
	}
	assert.Contains(t, digests, "0.1.0")
	assert.Contains(t, digests, "0.2.0")
	table := framework.Kubectl(t, env, "host", "", "get", "applications", "-l", "appstore.kubesphere.io/repo=oci")
	assert.Regexp(t, `oci\.hello\s+oci\s+0\.2\.0\s+`, table)

	// The chart a version names, pulled as the chart subresource will: the archive helm
	// pushed, matching the digest the view shows.
	s := inProcessSyncer(t)
	data, sum, err := s.PullOCIChart(context.Background(), "oci", "hello", "0.1.0")
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sum)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), digests["0.1.0"])
	packaged, err := os.ReadFile(filepath.Join(env.Dir, "appstore", "repo", "hello-0.1.0.tgz"))
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(packaged), sum, "the pushed archive")
}

// What goes wrong with a registry is a condition saying what to fix.
func TestOCIRepoBadInputs(t *testing.T) {
	creds, err := env.AppStoreOCISecret()
	require.NoError(t, err)
	secret(t, creds)
	wrong := creds.DeepCopy()
	wrong.Name, wrong.Data["password"] = "appstore-oci-wrong", []byte("not-the-password")
	secret(t, wrong)
	ca := caBundle(t)
	for name, c := range map[string]struct {
		url    string
		extra  map[string]any
		reason string
	}{
		"oci-wrong-password": {env.RegistryURL(), map[string]any{"caBundle": ca, "credentialsSecretRef": map[string]any{"name": wrong.Name}}, "Unauthorized"},
		"oci-no-creds":       {env.RegistryURL(), map[string]any{"caBundle": ca}, "Unauthorized"},
		"oci-no-ca":          {env.RegistryURL(), map[string]any{"credentialsSecretRef": map[string]any{"name": creds.Name}}, "TLSError"},
		"oci-no-server":      {"oci://127.0.0.1:1/charts", map[string]any{"caBundle": ca}, "Unreachable"},
		"oci-no-chart": {env.RegistryURL(), map[string]any{"caBundle": ca, "credentialsSecretRef": map[string]any{"name": creds.Name},
			"charts": []string{"nothing"}}, "NotFound"},
	} {
		t.Run(name, func(t *testing.T) {
			extra := map[string]any{"charts": []string{"hello"}}
			for k, v := range c.extra {
				extra[k] = v
			}
			repo(t, name, c.url, extra)
			r, cond := syncedCondition(t, name)
			assert.Equal(t, metav1.ConditionFalse, cond.Status)
			assert.Equal(t, c.reason, cond.Reason, cond.Message)
			assert.NotEmpty(t, cond.Message)
			assert.Zero(t, r.Status.VersionCount)
		})
	}
}

// inProcessSyncer is a Syncer of this process over the host's Repos and credential
// Secrets, never run: PullOCIChart needs only the Repo and its Secret.
func inProcessSyncer(t *testing.T) *reposync.Syncer {
	t.Helper()
	cfg := framework.AdminRESTConfig(t, env, "")
	client, err := versioned.NewForConfig(cfg)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	factory := externalversions.NewSharedInformerFactory(client, 0)
	kubeFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(localenv.Namespace))
	secrets := kubeFactory.Core().V1().Secrets()
	s, err := reposync.New(client, factory.Appstore().V1alpha1().Repos(), secrets.Lister(), localenv.Namespace, catalog.New(0))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	kubeFactory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		require.True(t, ok, "%v cache", typ)
	}
	for typ, ok := range kubeFactory.WaitForCacheSync(ctx.Done()) {
		require.True(t, ok, "%v cache", typ)
	}
	return s
}
