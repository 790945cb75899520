package install

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// Decoding into the hub applies defaults and keeps every field through both conversions.
func TestRoundTrip(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)
	codecs := serializer.NewCodecFactory(scheme)

	in := []byte(`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"ApplicationRelease",
		"metadata":{"name":"web"},
		"spec":{"application":"stable.nginx","version":"1.2.3","values":{"replicaCount":2},
		"targetNamespace":"web","placement":{"clusters":["member1"]},
		"rollback":{"toGeneration":1,"revisions":{"member1":2}}}}`)
	obj, _, err := codecs.UniversalDecoder(appstore.SchemeGroupVersion).Decode(in, nil, nil)
	require.NoError(t, err)
	r, ok := obj.(*appstore.ApplicationRelease)
	require.True(t, ok, "%T", obj)
	assert.Equal(t, appstore.RemovalPolicyUninstall, r.Spec.RemovalPolicy, "defaulted on decode")
	assert.JSONEq(t, `{"replicaCount":2}`, string(r.Spec.Values.Raw))
	assert.Equal(t, map[string]int32{"member1": 2}, r.Spec.Rollback.Revisions)

	out, err := runtime.Encode(codecs.LegacyCodec(v1alpha1.SchemeGroupVersion), r)
	require.NoError(t, err)
	back, _, err := codecs.UniversalDecoder(appstore.SchemeGroupVersion).Decode(out, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, r, back)

	repo, _, err := codecs.UniversalDecoder(appstore.SchemeGroupVersion).Decode(
		[]byte(`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"oci"},"spec":{"url":"oci://r.example.com/c","charts":["nginx"]}}`), nil, nil)
	require.NoError(t, err)
	assert.Equal(t, appstore.RepoSourceOCI, repo.(*appstore.Repo).Spec.Source)

	for _, kind := range []string{"Repo", "RepoList", "Application", "ApplicationList", "ApplicationVersion",
		"ApplicationVersionList", "ApplicationRelease", "ApplicationReleaseList", "ReviewRequest"} {
		assert.True(t, scheme.Recognizes(v1alpha1.SchemeGroupVersion.WithKind(kind)), kind)
		assert.True(t, scheme.Recognizes(appstore.SchemeGroupVersion.WithKind(kind)), kind)
	}
}
