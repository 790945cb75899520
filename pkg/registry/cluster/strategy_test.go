package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/clusters"
)

func sample() *clusters.Cluster {
	return &clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "member1", ResourceVersion: "1", Labels: map[string]string{"env": "dev"}},
		Spec: clusters.ClusterSpec{Region: "eu", Connection: clusters.Connection{
			Type: clusters.ConnectionDirect, KubernetesAPIEndpoint: "https://127.0.0.1:6443",
			CredentialsSecretRef: &clusters.SecretReference{Namespace: "kubesphere-system", Name: "member1"},
		}},
	}
}

func TestCreateDropsStatusAndSetsGeneration(t *testing.T) {
	s := NewStrategy(runtime.NewScheme())
	c := sample()
	c.Status.KubernetesVersion = "v1.0.0"
	s.PrepareForCreate(context.Background(), c)
	assert.Empty(t, c.Status.KubernetesVersion, "a user cannot create a cluster with a made-up status")
	assert.Equal(t, int64(1), c.Generation)
	assert.Empty(t, s.Validate(context.Background(), c))
	assert.False(t, s.NamespaceScoped())
}

func TestUpdateIgnoresStatusAndBumpsGenerationOnSpecChange(t *testing.T) {
	s := NewStrategy(runtime.NewScheme())
	old := sample()
	old.Generation = 3
	old.Status.NodeCount = 5

	sameSpec := old.DeepCopy()
	sameSpec.Status.NodeCount = 99
	sameSpec.Labels["env"] = "prod"
	s.PrepareForUpdate(context.Background(), sameSpec, old)
	assert.Equal(t, int32(5), sameSpec.Status.NodeCount, "status sent through the main resource is ignored")
	assert.Equal(t, int64(3), sameSpec.Generation, "metadata changes do not bump the generation")

	newSpec := old.DeepCopy()
	newSpec.Spec.Region = "us"
	s.PrepareForUpdate(context.Background(), newSpec, old)
	assert.Equal(t, int64(4), newSpec.Generation)
}

func TestStatusUpdateKeepsSpecAndMetadata(t *testing.T) {
	s := NewStatusStrategy(NewStrategy(runtime.NewScheme()))
	old := sample()
	c := old.DeepCopy()
	c.Spec.Region = "changed"
	c.Labels = map[string]string{"sneaky": "yes"}
	c.Status.KubernetesVersion = "v1.36.3"
	c.Status.Conditions = []metav1.Condition{{Type: clusters.ClusterReady, Status: metav1.ConditionTrue,
		Reason: "Healthy", LastTransitionTime: metav1.NewTime(time.Now())}}
	s.PrepareForUpdate(context.Background(), c, old)
	assert.Equal(t, "eu", c.Spec.Region, "a status write cannot change the spec")
	assert.Equal(t, map[string]string{"env": "dev"}, c.Labels, "a status write cannot change labels")
	assert.Equal(t, "v1.36.3", c.Status.KubernetesVersion)
	assert.Empty(t, s.ValidateUpdate(context.Background(), c, old))
}

func TestResetFields(t *testing.T) {
	main := NewStrategy(runtime.NewScheme())
	status := NewStatusStrategy(main)
	mainReset := main.GetResetFields()["clusters.kubesphere.io/v1alpha1"]
	statusReset := status.GetResetFields()["clusters.kubesphere.io/v1alpha1"]
	require.NotNil(t, mainReset)
	require.NotNil(t, statusReset)
	assert.Contains(t, mainReset.String(), ".status")
	assert.Contains(t, statusReset.String(), ".spec")
}

func TestSelectableFields(t *testing.T) {
	labels, fields, err := GetAttrs(sample())
	require.NoError(t, err)
	assert.Equal(t, "dev", labels["env"])
	assert.Equal(t, "Direct", fields["spec.connection.type"])
	assert.Equal(t, "member1", fields["metadata.name"])
}

func TestTable(t *testing.T) {
	c := sample()
	c.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Minute))
	probed := c.DeepCopy()
	probed.Name = "member2"
	now := metav1.Now()
	probed.Status = clusters.ClusterStatus{KubernetesVersion: "v1.36.3", NodeCount: 2, LastProbeTime: &now,
		Conditions: []metav1.Condition{{Type: clusters.ClusterReady, Status: metav1.ConditionFalse, Reason: "Unreachable"}}}
	list := &clusters.ClusterList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: []clusters.Cluster{*c, *probed}}

	table, err := tableConvertor.ConvertToTable(context.Background(), list, nil)
	require.NoError(t, err)
	var names []string
	for _, col := range table.ColumnDefinitions {
		if col.Priority == 0 {
			names = append(names, col.Name)
		}
	}
	assert.Equal(t, []string{"Name", "Connection", "Ready", "Version", "Nodes", "Age"}, names)
	assert.Equal(t, "42", table.ResourceVersion)
	require.Len(t, table.Rows, 2)
	assert.Equal(t, []interface{}{"member1", "Direct", "Unknown", "", "", "90m", "https://127.0.0.1:6443", ""}, table.Rows[0].Cells,
		"before the first probe Ready is Unknown and Nodes is empty, not 0")
	assert.Equal(t, []interface{}{"member2", "Direct", "False", "v1.36.3", "2", "90m", "https://127.0.0.1:6443", "Unreachable"}, table.Rows[1].Cells)

	one, err := tableConvertor.ConvertToTable(context.Background(), c, nil)
	require.NoError(t, err)
	assert.Len(t, one.Rows, 1)
	_, err = tableConvertor.ConvertToTable(context.Background(), &metav1.Status{}, nil)
	assert.Error(t, err)
}
