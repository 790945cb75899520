// Package access is what a storage checks, inside its create and update, beyond the write
// itself: a right of the requesting user that the object's content calls for (reading the
// Secret it names, a special verb), decided by the server's own authorizer. Clusters and
// App Store Repos name credentials Secrets alike, so they share one rule and one message.
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Authorizer decides SubjectAccessReviews (the server's authorizer: agents locally, everyone
// else by the host).
type Authorizer interface {
	Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error)
}

// Require allows the write to resource name only if the requesting user may do attrs (its
// User is filled in here). A refusal is a Forbidden whose message is why(user) and the
// authorizer's reason; no user or no authorizer refuses too: nothing is decided unchecked.
func Require(ctx context.Context, authz Authorizer, resource schema.GroupResource, name string,
	attrs authorizer.AttributesRecord, why func(user string) string) error {
	u, ok := request.UserFrom(ctx)
	if !ok || authz == nil {
		return apierrors.NewForbidden(resource, name, fmt.Errorf("no user or no authorizer to decide this write"))
	}
	attrs.User = u
	decision, reason, err := authz.Authorize(ctx, attrs)
	if decision == authorizer.DecisionAllow {
		return nil
	}
	msg := why(u.GetName())
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (%v)", err)
	}
	return apierrors.NewForbidden(resource, name, fmt.Errorf("%s", msg))
}

// ReadSecret requires the right to get Secret namespace/secret: an object that names a
// credentials Secret uses what is in it, so naming one must not give more than reading it.
func ReadSecret(ctx context.Context, authz Authorizer, resource schema.GroupResource, name, namespace, secret string) error {
	attrs := authorizer.AttributesRecord{Verb: "get", APIVersion: "v1", Resource: "secrets",
		Namespace: namespace, Name: secret, ResourceRequest: true}
	return Require(ctx, authz, resource, name, attrs, func(user string) string {
		return fmt.Sprintf("naming credentials Secret %s/%s (or changing where its credentials are sent) needs the right to read it: "+
			"user %q may not get secrets %q in namespace %q", namespace, secret, user, secret, namespace)
	})
}

// OnCreate runs admit after the caller's own create validation.
func OnCreate(validate rest.ValidateObjectFunc, admit func(ctx context.Context, obj, old runtime.Object) error) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		if validate != nil {
			if err := validate(ctx, obj); err != nil {
				return err
			}
		}
		return admit(ctx, obj, nil)
	}
}

// OnUpdate runs admit after the caller's own update validation, on the object as it will
// be stored (a patch already applied).
func OnUpdate(validate rest.ValidateObjectUpdateFunc, admit func(ctx context.Context, obj, old runtime.Object) error) rest.ValidateObjectUpdateFunc {
	return func(ctx context.Context, obj, old runtime.Object) error {
		if validate != nil {
			if err := validate(ctx, obj, old); err != nil {
				return err
			}
		}
		return admit(ctx, obj, old)
	}
}

// Admitted is a store whose creates and updates also pass Admit, after the caller's own
// admission, on the object as it will be stored.
type Admitted struct {
	*genericregistry.Store
	Admit func(ctx context.Context, obj, old runtime.Object) error
}

// Create admits the new object.
func (a *Admitted) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return a.Store.Create(ctx, obj, OnCreate(createValidation, a.Admit), options)
}

// Update admits the object as it will be stored, and one that an update creates
// (server-side apply of a new one) as Create does.
func (a *Admitted) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return a.Store.Update(ctx, name, objInfo, OnCreate(createValidation, a.Admit), OnUpdate(updateValidation, a.Admit), forceAllowCreate, options)
}

// UseCluster requires the requester's verb on clusters/proxy of cluster: a component that
// acts there as the requester (the App Store, federation) meets the same per-cluster gate,
// so a write it would be refused is refused now. actor names that component, what says
// what it would do.
func UseCluster(ctx context.Context, authz Authorizer, resource schema.GroupResource, name, cluster, verb, what, actor string) error {
	attrs := authorizer.AttributesRecord{Verb: verb, APIGroup: "clusters.kubesphere.io", APIVersion: "v1alpha1",
		Resource: "clusters", Subresource: "proxy", Name: cluster, ResourceRequest: true}
	return Require(ctx, authz, resource, name, attrs, func(user string) string {
		return fmt.Sprintf("to %s cluster %q %s acts as you, so you need its proxy right: user %q may not %s clusters/proxy %q",
			what, cluster, actor, user, verb, cluster)
	})
}

// SystemActor reports whether u is one of the cluster's own components (kube-controller-
// manager's controllers, the namespace controller and the garbage collector among them):
// such a user deletes objects on the cluster's behalf, and must never become the user a
// component acts as on members, where the same name is that member's own component.
func SystemActor(u user.Info) bool {
	name := u.GetName()
	if strings.HasPrefix(name, "system:serviceaccount:") {
		return strings.HasPrefix(name, "system:serviceaccount:kube-system:")
	}
	return strings.HasPrefix(name, "system:")
}

// RefuseUnimpersonable refuses users a component acting as them (actor) could never be: a
// node's identity acts for its kubelet only, and constrained impersonation never
// impersonates system:masters. Such an administrator may still delete (deleting): the
// clean-up acts as the last requester.
func RefuseUnimpersonable(u user.Info, resource schema.GroupResource, name, actor string, deleting bool) error {
	if strings.HasPrefix(u.GetName(), "system:node:") || slices.Contains(u.GetGroups(), user.NodesGroup) {
		return apierrors.NewForbidden(resource, name, fmt.Errorf("nodes may not make objects %s acts on", actor))
	}
	if SystemActor(u) && !deleting {
		return apierrors.NewForbidden(resource, name, fmt.Errorf("user %q is a component of the cluster, which %s never acts as on members", u.GetName(), actor))
	}
	if slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup) && !deleting {
		return apierrors.NewForbidden(resource, name, fmt.Errorf("user %q is in the group %s, which Kubernetes lets no one impersonate, "+
			"and %s acts on members as the user who asks: ask as a user or ServiceAccount whose RBAC grants what it "+
			"needs (for example kubectl --as=<user>)", u.GetName(), user.SystemPrivilegedGroup, actor))
	}
	return nil
}
