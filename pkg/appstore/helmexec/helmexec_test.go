package helmexec

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

func TestRESTConfig(t *testing.T) {
	e := New(&rest.Config{Host: "https://127.0.0.1:9443/", BearerToken: "controller"}, nil)
	user := v1alpha1.Requester{Username: "dev", UID: "u1", Groups: []string{"developers"}, Extra: map[string][]string{"scopes": {"a"}}}
	c := e.RESTConfig(Target{Cluster: "member1", User: user})
	assert.Equal(t, "https://127.0.0.1:9443/clusters/member1", c.Host, "the proxy path of the cluster")
	assert.Equal(t, "controller", c.BearerToken, "the controller's own credential")
	assert.Equal(t, rest.ImpersonationConfig{UserName: "dev", UID: "u1", Groups: []string{"developers"}, Extra: map[string][]string{"scopes": {"a"}}}, c.Impersonate)

	sa := v1alpha1.Requester{Username: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts"}}
	c = e.RESTConfig(Target{Cluster: "member2", User: sa})
	assert.Equal(t, rest.ImpersonationConfig{UserName: "system:serviceaccount:ci:deployer"}, c.Impersonate,
		"a ServiceAccount by name alone")
}

func TestClassify(t *testing.T) {
	err := classify(errors.New(`another operation (install/upgrade/rollback) is in progress`))
	assert.ErrorIs(t, err, ErrOperationInProgress)
	assert.NoError(t, classify(nil))
}
