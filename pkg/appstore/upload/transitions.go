package upload

import (
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"kubesphere.io/multicluster/apis/appstore"
)

// transition is one review action: the states it leaves and the one it enters
// (KubeSphere's review flow).
type transition struct {
	from []appstore.AppState
	to   appstore.AppState
}

var transitions = map[appstore.ReviewAction]transition{
	appstore.ReviewActionSubmit:   {from: []appstore.AppState{appstore.AppStateDraft, appstore.AppStateRejected}, to: appstore.AppStateSubmitted},
	appstore.ReviewActionPass:     {from: []appstore.AppState{appstore.AppStateSubmitted}, to: appstore.AppStatePassed},
	appstore.ReviewActionReject:   {from: []appstore.AppState{appstore.AppStateSubmitted}, to: appstore.AppStateRejected},
	appstore.ReviewActionActivate: {from: []appstore.AppState{appstore.AppStatePassed}, to: appstore.AppStateActive},
	appstore.ReviewActionSuspend:  {from: []appstore.AppState{appstore.AppStateActive}, to: appstore.AppStateSuspended},
	appstore.ReviewActionRecover:  {from: []appstore.AppState{appstore.AppStateSuspended}, to: appstore.AppStateActive},
}

// Subresource is the subresource of applicationversions that makes action: its own
// permission (`create` on it), so that RBAC grants each transition apart.
func Subresource(action appstore.ReviewAction) string { return strings.ToLower(string(action)) }

// Actions lists the review actions, in the order of the review flow.
func Actions() []appstore.ReviewAction {
	return []appstore.ReviewAction{appstore.ReviewActionSubmit, appstore.ReviewActionPass, appstore.ReviewActionReject,
		appstore.ReviewActionActivate, appstore.ReviewActionSuspend, appstore.ReviewActionRecover}
}

// allowed tells why action cannot be made on rec now, as a 409 Conflict.
func (t transition) allowed(rec *appstore.ApplicationVersion, action appstore.ReviewAction) error {
	if !slices.Contains(t.from, rec.Status.State) {
		from := make([]string, len(t.from))
		for i, s := range t.from {
			from[i] = string(s)
		}
		return apierrors.NewConflict(versions, rec.Name, fmt.Errorf("version %s is %s: %s needs it %s",
			rec.Name, rec.Status.State, Subresource(action), strings.Join(from, " or ")))
	}
	if action == appstore.ReviewActionSubmit && rec.Spec.Digest == "" {
		return apierrors.NewConflict(versions, rec.Name, fmt.Errorf("version %s has no chart archive yet: upload it first "+
			"(PUT the .tgz to applicationversions/%s/chart)", rec.Name, rec.Name))
	}
	return nil
}
