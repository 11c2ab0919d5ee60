package apply

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// Children applies one resource's child objects and tells people what changed: an
// event on the resource for each create, update, repair and deletion, with drift told
// apart from changes the spec or the operator asked for.
type Children struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Owner is the resource; it becomes each child's controller.
	Owner client.Object
	// SpecObserved is whether the owner's current spec was reconciled successfully
	// before (status.observedGeneration == metadata.generation): an update is then
	// drift, somebody else's edit, rather than the spec's new wishes.
	SpecObserved bool
	// QuietCreate logs a child's creation without an event: for an owner made by the
	// thousand (a channel per peer State) whose children are bookkeeping another
	// event already tells of. Updates, repairs and deletions are events still.
	QuietCreate bool
}

// Apply applies desired (through Ensure) and records the outcome. planned, when not
// empty, says why the operator itself changes the child in this reconcile, so the
// update is not reported as drift.
func Apply[T client.Object](ctx context.Context, ch *Children, desired T, spec Spec[T], planned string) (T, error) {
	kind := kindOf(desired, ch.Scheme)
	live, outcome, err := Ensure(ctx, ch.Client, ch.Scheme, ch.Owner, desired, spec)
	if err != nil {
		if apierrors.IsConflict(err) {
			return live, err // retried with backoff; a newer version is already on its way
		}
		ch.Recorder.Eventf(ch.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventProvisioningFailed, "Apply"+kind,
			"%s %s could not be applied: %v", kind, desired.GetName(), err)
		return live, fmt.Errorf("applying %s %s: %w", kind, desired.GetName(), err)
	}
	ch.Record(ctx, kind, desired.GetName(), outcome, planned)
	return live, nil
}

// Absent deletes obj if it exists and the owner controls it, and records that.
func (ch *Children) Absent(ctx context.Context, obj client.Object) error {
	kind := kindOf(obj, ch.Scheme)
	outcome, err := Absent(ctx, ch.Client, ch.Owner, obj)
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, obj.GetName(), err)
	}
	ch.Record(ctx, kind, obj.GetName(), outcome, "")
	return nil
}

// Record reports one outcome as an event and a log line; Unchanged is silent.
func (ch *Children) Record(ctx context.Context, kind, name string, outcome Outcome, planned string) {
	owner := ch.Owner
	ownerKind := kindOf(owner, ch.Scheme)
	switch {
	case outcome == Updated && planned != "":
		ch.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventUpdated, "Update"+kind, "updated %s %s: %s", kind, name, planned)
		log.FromContext(ctx).Info("child applied", "kind", kind, "name", name, "outcome", outcome, "why", planned)
		return
	case outcome == Created && ch.QuietCreate:
	case outcome == Created:
		ch.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCreated, "Create"+kind, "created %s %s", kind, name)
	case outcome == Updated && ch.SpecObserved:
		ch.Recorder.Eventf(owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventDriftRepaired, "Repair"+kind,
			"%s %s differed from the %s's spec and was restored", kind, name, ownerKind)
	case outcome == Updated:
		ch.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventUpdated, "Update"+kind, "updated %s %s to the new spec", kind, name)
	case outcome == Deleted:
		ch.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventDeleted, "Delete"+kind, "deleted %s %s, no longer needed", kind, name)
	default:
		return
	}
	log.FromContext(ctx).Info("child applied", "kind", kind, "name", name, "outcome", outcome)
}
