package v1alpha1

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestRepoDefaults(t *testing.T) {
	cases := []struct {
		url        string
		source     RepoSource
		wantSource RepoSource
		synced     bool
	}{
		{url: "https://charts.example.com", wantSource: RepoSourceIndex, synced: true},
		{url: "oci://registry.example.com/charts", wantSource: RepoSourceOCI, synced: true},
		{url: "OCI://registry.example.com/charts", wantSource: RepoSourceOCI, synced: true},
		{url: "http://charts.example.com", wantSource: RepoSourceIndex, synced: true}, // validation refuses it
		{url: "", wantSource: RepoSourceUpload},
		{url: "oci://registry.example.com/charts", source: RepoSourceIndex, wantSource: RepoSourceIndex, synced: true},
	}
	for _, tc := range cases {
		r := &Repo{Spec: RepoSpec{URL: tc.url, Source: tc.source}}
		SetObjectDefaults_Repo(r)
		assert.Equal(t, tc.wantSource, r.Spec.Source, tc.url)
		if !tc.synced {
			assert.Nil(t, r.Spec.SyncInterval, "an Upload repo is not synced")
			assert.Nil(t, r.Spec.MaxIndexSize)
			continue
		}
		require.NotNil(t, r.Spec.SyncInterval)
		assert.Equal(t, time.Hour, r.Spec.SyncInterval.Duration)
		require.NotNil(t, r.Spec.MaxIndexSize)
		assert.Equal(t, "50Mi", r.Spec.MaxIndexSize.String())
	}

	q := resource.MustParse("10Mi")
	set := &Repo{Spec: RepoSpec{URL: "https://x", SyncInterval: &metav1.Duration{Duration: 5 * time.Minute}, MaxIndexSize: &q}}
	SetObjectDefaults_Repo(set)
	assert.Equal(t, 5*time.Minute, set.Spec.SyncInterval.Duration, "a set value is kept")
	assert.Equal(t, "10Mi", set.Spec.MaxIndexSize.String())
	// The default is copied, never shared: changing one object must not change the next.
	a, b := &Repo{Spec: RepoSpec{URL: "https://a"}}, &Repo{Spec: RepoSpec{URL: "https://b"}}
	SetObjectDefaults_Repo(a)
	SetObjectDefaults_Repo(b)
	a.Spec.MaxIndexSize.Add(resource.MustParse("1Mi"))
	assert.Equal(t, "50Mi", b.Spec.MaxIndexSize.String())
}

func TestApplicationReleaseDefaults(t *testing.T) {
	r := &ApplicationRelease{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	SetObjectDefaults_ApplicationRelease(r)
	assert.Equal(t, RemovalPolicyUninstall, r.Spec.RemovalPolicy)
	require.NotNil(t, r.Spec.Timeout)
	assert.Equal(t, 5*time.Minute, r.Spec.Timeout.Duration)
	assert.Empty(t, r.Spec.ReleaseName, "the registry strategy defaults releaseName, not the defaulter")

	kept := &ApplicationRelease{Spec: ApplicationReleaseSpec{RemovalPolicy: RemovalPolicyKeep, Timeout: &metav1.Duration{Duration: time.Minute}}}
	SetObjectDefaults_ApplicationRelease(kept)
	assert.Equal(t, RemovalPolicyKeep, kept.Spec.RemovalPolicy)
	assert.Equal(t, time.Minute, kept.Spec.Timeout.Duration)
}

func TestFieldLabels(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, AddToScheme(scheme))
	for kind, labels := range map[string][]string{"Application": applicationFields, "ApplicationVersion": applicationVersionFields} {
		gvk := SchemeGroupVersion.WithKind(kind)
		for _, l := range labels {
			label, value, err := scheme.ConvertFieldLabel(gvk, l, "x")
			require.NoError(t, err, "%s %s", kind, l)
			assert.Equal(t, l, label)
			assert.Equal(t, "x", value)
		}
		_, _, err := scheme.ConvertFieldLabel(gvk, "spec.description", "x")
		assert.ErrorContains(t, err, "field label not supported: spec.description (supported: metadata.name, spec.repo")
	}
	_, _, err := scheme.ConvertFieldLabel(SchemeGroupVersion.WithKind("ApplicationVersion"), "spec.version", "1.0.0")
	assert.NoError(t, err)
	_, _, err = scheme.ConvertFieldLabel(SchemeGroupVersion.WithKind("Application"), "spec.version", "1.0.0")
	assert.Error(t, err, "applications have no spec.version")
}
