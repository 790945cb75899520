package validation

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/appstore"
)

func release(name string) *appstore.ApplicationRelease {
	return &appstore.ApplicationRelease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appstore.ApplicationReleaseSpec{
			Application:     "stable.nginx",
			Version:         "1.2.3",
			Values:          &runtime.RawExtension{Raw: []byte(`{"replicaCount":2}`)},
			TargetNamespace: "web",
			ReleaseName:     name,
			Placement:       appstore.Placement{Clusters: []string{"member1", "member2"}},
			RemovalPolicy:   appstore.RemovalPolicyUninstall,
			Timeout:         &metav1.Duration{Duration: 5 * time.Minute},
		},
	}
}

func TestValidateApplicationRelease(t *testing.T) {
	cases := []struct {
		name     string
		mutate   func(r *appstore.ApplicationRelease)
		wantErrs []string
	}{
		{name: "valid", mutate: func(r *appstore.ApplicationRelease) {}},
		{name: "valid selector, no values, name to be defaulted", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Placement = appstore.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}
			r.Spec.Values = nil
			r.Spec.ReleaseName = ""
		}},
		{name: "valid chart segment with dots", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Application = "stable.my.chart" }},
		{name: "no application", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Application = "" },
			wantErrs: []string{"spec.application: Required value: the Application to install"}},
		{name: "application without chart", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Application = "nginx" },
			wantErrs: []string{`spec.application: Invalid value: "nginx": must be <repo>.<chart>`}},
		{name: "application not a name", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Application = "Stable.nginx" },
			wantErrs: []string{
				`spec.application: Invalid value: "Stable.nginx": a lowercase RFC 1123 subdomain`,
				`spec.application: Invalid value: "Stable.nginx": the repo segment: a lowercase RFC 1123 label`,
			}},
		{name: "application with empty repo", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Application = ".nginx" },
			wantErrs: []string{
				`spec.application: Invalid value: ".nginx": a lowercase RFC 1123 subdomain`,
				`spec.application: Invalid value: ".nginx": must be <repo>.<chart>`,
			}},
		{name: "no version", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Version = "" },
			wantErrs: []string{"spec.version: Required value: the exact chart version"}},
		{name: "version too long", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Version = strings.Repeat("1", 257) },
			wantErrs: []string{"spec.version: Too long: may not be more than 256 bytes"}},
		{name: "values not an object", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Values.Raw = []byte(`[1,2]`) },
			wantErrs: []string{`spec.values: Invalid value: "<omitted>": must be a JSON object of chart values`}},
		{name: "values not JSON", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Values.Raw = []byte(`replicaCount: 2`) },
			wantErrs: []string{"spec.values: must be a JSON object"}},
		{name: "values too large", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Values.Raw = []byte(`{"a":"` + strings.Repeat("x", MaxValuesSize) + `"}`)
		}, wantErrs: []string{"spec.values: Too long: may not be more than 262144 bytes"}},
		{name: "values at the limit", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Values.Raw = []byte(`{"a":"` + strings.Repeat("x", MaxValuesSize-8) + `"}`)
		}},
		{name: "no target namespace", mutate: func(r *appstore.ApplicationRelease) { r.Spec.TargetNamespace = "" },
			wantErrs: []string{"spec.targetNamespace: Required value"}},
		{name: "target namespace not a label", mutate: func(r *appstore.ApplicationRelease) { r.Spec.TargetNamespace = "web.prod" },
			wantErrs: []string{`spec.targetNamespace: Invalid value: "web.prod"`}},
		{name: "release name too long", mutate: func(r *appstore.ApplicationRelease) { r.Spec.ReleaseName = strings.Repeat("a", 54) },
			wantErrs: []string{"spec.releaseName: Too long: may not be more than 53 bytes"}},
		{name: "release name invalid", mutate: func(r *appstore.ApplicationRelease) { r.Spec.ReleaseName = "Web_1" },
			wantErrs: []string{`spec.releaseName: Invalid value: "Web_1"`}},
		{name: "long name, release name defaulted from it", mutate: func(r *appstore.ApplicationRelease) {
			r.Name = strings.Repeat("a", 60)
			r.Spec.ReleaseName = ""
		}, wantErrs: []string{"metadata.name: Too long: may not be more than 53 bytes (spec.releaseName defaults to metadata.name"}},
		{name: "long name with a release name", mutate: func(r *appstore.ApplicationRelease) {
			r.Name = strings.Repeat("a", 60)
			r.Spec.ReleaseName = "web"
		}},
		{name: "no placement", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Placement = appstore.Placement{} },
			wantErrs: []string{"spec.placement: Required value: exactly one of clusters and clusterSelector"}},
		{name: "both placements", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Placement.ClusterSelector = &metav1.LabelSelector{}
		}, wantErrs: []string{"spec.placement.clusterSelector: Forbidden: set exactly one of clusters and clusterSelector"}},
		{name: "bad cluster names", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Placement.Clusters = []string{"member1", "", "Member.2", "member1"}
		}, wantErrs: []string{
			"spec.placement.clusters[1]: Required value",
			`spec.placement.clusters[2]: Invalid value: "Member.2"`,
			`spec.placement.clusters[3]: Duplicate value: "member1"`,
		}},
		{name: "bad selector", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Placement = appstore.Placement{ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}}
		}, wantErrs: []string{`spec.placement.clusterSelector.matchExpressions[0].operator: Invalid value: "Near"`}},
		{name: "no removal policy", mutate: func(r *appstore.ApplicationRelease) { r.Spec.RemovalPolicy = "" },
			wantErrs: []string{"spec.removalPolicy: Required value"}},
		{name: "unknown removal policy", mutate: func(r *appstore.ApplicationRelease) { r.Spec.RemovalPolicy = "Orphan" },
			wantErrs: []string{`spec.removalPolicy: Unsupported value: "Orphan"`}},
		{name: "zero timeout", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Timeout.Duration = 0 },
			wantErrs: []string{`spec.timeout: Invalid value: "0s": must be greater than 0 and at most 1h0m0s`}},
		{name: "timeout too long", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Timeout.Duration = 2 * time.Hour },
			wantErrs: []string{`spec.timeout: Invalid value: "2h0m0s"`}},
		{name: "rollback on create", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: 1} },
			wantErrs: []string{"spec.rollback: Forbidden: a new release has no earlier revision"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := release("web")
			tc.mutate(r)
			assertErrors(t, ValidateApplicationRelease(r), tc.wantErrs)
		})
	}
}

func TestValidateApplicationReleaseUpdate(t *testing.T) {
	old := release("web")
	old.ResourceVersion = "1"
	old.Generation = 3
	cases := []struct {
		name     string
		mutate   func(r *appstore.ApplicationRelease)
		wantErrs []string
	}{
		{name: "upgrade", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Version = "1.3.0" }},
		{name: "rollback to an earlier generation", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: 2}
		}},
		{name: "rollback by revision", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Rollback = &appstore.ReleaseRollback{Revisions: map[string]int32{"member1": 1}}
		}},
		{name: "release name changed", mutate: func(r *appstore.ApplicationRelease) { r.Spec.ReleaseName = "web2" },
			wantErrs: []string{`spec.releaseName: Invalid value: "web2": field is immutable`}},
		{name: "release name cleared", mutate: func(r *appstore.ApplicationRelease) { r.Spec.ReleaseName = "" },
			wantErrs: []string{`spec.releaseName: Invalid value: "": field is immutable`}},
		{name: "target namespace moved", mutate: func(r *appstore.ApplicationRelease) { r.Spec.TargetNamespace = "other" },
			wantErrs: []string{`spec.targetNamespace: Invalid value: "other": field is immutable`}},
		{name: "empty rollback", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Rollback = &appstore.ReleaseRollback{} },
			wantErrs: []string{"spec.rollback: Required value: toGeneration or revisions"}},
		{name: "rollback to the current generation", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: 3}
		}, wantErrs: []string{"spec.rollback.toGeneration: Invalid value: 3: must be an earlier generation than the current one, 3"}},
		{name: "rollback to a negative generation", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: -1}
		}, wantErrs: []string{"spec.rollback.toGeneration: Invalid value: -1: must be greater than 0"}},
		{name: "rollback revisions", mutate: func(r *appstore.ApplicationRelease) {
			r.Spec.Rollback = &appstore.ReleaseRollback{Revisions: map[string]int32{"member1": 0, "Bad_Cluster": 2}}
		}, wantErrs: []string{
			`spec.rollback.revisions[Bad_Cluster]: Invalid value: "Bad_Cluster"`,
			"spec.rollback.revisions[member1]: Invalid value: 0: must be a Helm revision, 1 or more",
		}},
		{name: "spec rules apply", mutate: func(r *appstore.ApplicationRelease) { r.Spec.Placement = appstore.Placement{} },
			wantErrs: []string{"spec.placement: Required value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := old.DeepCopy()
			tc.mutate(r)
			assertErrors(t, ValidateApplicationReleaseUpdate(r, old), tc.wantErrs)
		})
	}

	// A rollback kept unchanged stays valid as the generation moves past it.
	rolled := old.DeepCopy()
	rolled.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: 3}
	rolled.Generation = 4
	next := rolled.DeepCopy()
	next.Spec.Timeout.Duration = time.Minute
	assert.Empty(t, ValidateApplicationReleaseUpdate(next, rolled))
}

func TestValidateApplicationReleaseStatusUpdate(t *testing.T) {
	old := release("web")
	old.ResourceVersion = "1"
	now := metav1.Now()
	valid := old.DeepCopy()
	valid.Status = appstore.ApplicationReleaseStatus{
		ObservedGeneration: 1,
		Requester:          appstore.Requester{Username: "developer"},
		Conditions:         []metav1.Condition{{Type: appstore.ReleaseReady, Status: metav1.ConditionTrue, Reason: "Deployed", LastTransitionTime: now}},
		Clusters: []appstore.ClusterRelease{{
			Cluster: "member1", Phase: appstore.ReleasePhaseDeployed, Revision: 1, AppliedGeneration: 1,
			ReadyResources: 3, TotalResources: 3, LastTransitionTime: now,
			Revisions: []appstore.RevisionRecord{{Revision: 1, Generation: 1, Action: appstore.RevisionActionInstall, User: "developer", Time: now}},
		}},
	}
	assert.Empty(t, ValidateApplicationReleaseStatusUpdate(valid, old))

	cases := []struct {
		name     string
		mutate   func(s *appstore.ApplicationReleaseStatus)
		wantErrs []string
	}{
		{name: "negative observed generation", mutate: func(s *appstore.ApplicationReleaseStatus) { s.ObservedGeneration = -1 },
			wantErrs: []string{"status.observedGeneration: must be greater than or equal to 0"}},
		{name: "bad condition", mutate: func(s *appstore.ApplicationReleaseStatus) { s.Conditions[0].Status = "Maybe" },
			wantErrs: []string{`status.conditions[0].status: Unsupported value: "Maybe"`}},
		{name: "too many requests", mutate: func(s *appstore.ApplicationReleaseStatus) { s.Requests = make([]appstore.RequestRecord, 51) },
			wantErrs: []string{"status.requests: Too many: 51: must have at most 50 items"}},
		{name: "duplicate cluster", mutate: func(s *appstore.ApplicationReleaseStatus) { s.Clusters = append(s.Clusters, s.Clusters[0]) },
			wantErrs: []string{`status.clusters[1].cluster: Duplicate value: "member1"`}},
		{name: "cluster entry", mutate: func(s *appstore.ApplicationReleaseStatus) {
			c := &s.Clusters[0]
			c.Cluster = ""
			c.Phase = "Sleeping"
			c.Revision, c.AppliedGeneration, c.Attempts = -1, -1, -1
			c.ReadyResources, c.TotalResources = 4, 3
			c.Message = strings.Repeat("m", maxMessageLength+1)
		}, wantErrs: []string{
			"status.clusters[0].cluster: Required value",
			`status.clusters[0].phase: Unsupported value: "Sleeping"`,
			"status.clusters[0].revision: must be greater than or equal to 0",
			"status.clusters[0].appliedGeneration: must be greater than or equal to 0",
			"status.clusters[0].attempts: must be greater than or equal to 0",
			"status.clusters[0].readyResources: Invalid value: 4: must not exceed totalResources (3)",
			"status.clusters[0].message: Too long",
		}},
		{name: "no phase", mutate: func(s *appstore.ApplicationReleaseStatus) { s.Clusters[0].Phase = "" },
			wantErrs: []string{"status.clusters[0].phase: Required value"}},
		{name: "negative resources", mutate: func(s *appstore.ApplicationReleaseStatus) {
			s.Clusters[0].ReadyResources, s.Clusters[0].TotalResources = -1, -1
		}, wantErrs: []string{
			"status.clusters[0].readyResources: must be greater than or equal to 0",
			"status.clusters[0].totalResources: must be greater than or equal to 0",
		}},
		{name: "revision records", mutate: func(s *appstore.ApplicationReleaseStatus) {
			s.Clusters[0].Revisions = []appstore.RevisionRecord{{Revision: 0, Generation: -1, Action: "Patch", Message: strings.Repeat("m", maxMessageLength+1)}}
		}, wantErrs: []string{
			"status.clusters[0].revisions[0].revision: Invalid value: 0: must be a Helm revision",
			"status.clusters[0].revisions[0].generation: must be greater than or equal to 0",
			`status.clusters[0].revisions[0].action: Unsupported value: "Patch"`,
			"status.clusters[0].revisions[0].message: Too long",
		}},
		{name: "too many revisions", mutate: func(s *appstore.ApplicationReleaseStatus) {
			r := s.Clusters[0].Revisions[0]
			s.Clusters[0].Revisions = nil
			for i := int32(1); i <= 21; i++ {
				r.Revision = i
				s.Clusters[0].Revisions = append(s.Clusters[0].Revisions, r)
			}
		}, wantErrs: []string{"status.clusters[0].revisions: Too many: 21: must have at most 20 items"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := valid.DeepCopy()
			tc.mutate(&r.Status)
			assertErrors(t, ValidateApplicationReleaseStatusUpdate(r, old), tc.wantErrs)
		})
	}
}

func TestValidateReviewRequest(t *testing.T) {
	assert.Empty(t, ValidateReviewRequest(&appstore.ReviewRequest{Message: "looks good"}))
	assertErrors(t, ValidateReviewRequest(&appstore.ReviewRequest{Message: strings.Repeat("m", 1025)}),
		[]string{"message: Too long: may not be more than 1024 bytes"})
}
