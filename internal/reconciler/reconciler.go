// Package reconciler is the reconcile skeleton every kind uses: get the object; a
// missing one is done; deletion (with a finalizer only where owner references cannot
// do the job); the kind's phases, all of them, over one scope, their errors joined;
// status computed by the kind's pure function; one status write, compared first,
// with an optimistic lock; a requeue at the earliest time a phase asked for.
//
// A new kind writes its scope, its phases and its status function, and wires them
// into a Kind.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// Scope is what a kind's phases share in one reconcile. Embed *Base in it.
type Scope interface {
	base() *Base
}

// Base is the part of every scope the skeleton reads: the reconcile's single clock
// reading and the earliest time-based recheck the phases asked for.
type Base struct {
	// Now is read once per reconcile, so every phase and the status agree on the time.
	Now          time.Time
	requeueAt    time.Time
	provisionErr error
	holdStatus   bool
}

// Provisioned records a child phase's error (the first one is kept), for the Ready
// condition's ProvisioningFailed, and returns it.
func (b *Base) Provisioned(err error) error {
	if err != nil && b.provisionErr == nil {
		b.provisionErr = err
	}
	return err
}

// ProvisionErr is the first error a child phase recorded with Provisioned.
func (b *Base) ProvisionErr() error { return b.provisionErr }

func (b *Base) base() *Base { return b }

// RequeueAt asks for a reconcile at t (certificate renewal, the roster's next week);
// the earliest request wins. A zero t asks for nothing.
func (b *Base) RequeueAt(t time.Time) {
	if !t.IsZero() && (b.requeueAt.IsZero() || t.Before(b.requeueAt)) {
		b.requeueAt = t
	}
}

// HoldStatus leaves the status unwritten in this reconcile: for a first status that
// would only say the object waits on another one which has not reported yet, and
// whose first report, watched, brings the object back at once. Events and metrics
// still go out, and a time given to RequeueAt still brings the object back.
func (b *Base) HoldStatus() { b.holdStatus = true }

// Phase is one step of a kind's reconcile. Every phase runs, also after another
// failed; a phase that needs an earlier one's result checks the scope.
type Phase[S Scope] struct {
	Name string
	Run  func(ctx context.Context, s S) error
}

// Kind wires one kind into the skeleton.
type Kind[O client.Object, S Scope] struct {
	Client client.Client
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// New returns an empty object of the kind.
	New func() O
	// NewScope starts a reconcile of obj at now.
	NewScope func(obj O, now time.Time) S
	// Phases run in order over the scope.
	Phases []Phase[S]
	// Status writes the object's status from the scope; err is every phase's error
	// joined. It does no I/O. Conditions are stamped with the object's generation
	// (SetConditions), so a failed step reads "failed", not "not yet observed".
	Status func(s S, err error)
	// Report, if set, runs after Status for what is not status: events, metrics.
	Report func(ctx context.Context, s S)
	// Finalizer, if set, is added to every live object, and Finalize runs before it is
	// removed from an object being deleted. Use it only for what owner references
	// cannot do, such as keeping evidence when a resource is deleted.
	Finalizer string
	Finalize  func(ctx context.Context, obj O) error
	// Forget, if set, runs when the object is gone or going: drop what the operator
	// keeps about it outside the API (metrics).
	Forget func(key types.NamespacedName)
}

// Reconcile is the skeleton.
func (k *Kind[O, S]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := k.New()
	if err := k.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			replaced.Delete(lagKey{fmt.Sprintf("%T", obj), req.NamespacedName})
			if k.Forget != nil {
				k.Forget(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if staleRead(obj, req.NamespacedName) {
		// The status write of the last reconcile has not reached the cache yet; a
		// status computed from this copy would be patched under a stale optimistic
		// lock and refused (409). Status-only events are filtered out of every
		// kind's watch, so nothing else wakes the object when the cache catches up.
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, k.delete(ctx, req.NamespacedName, obj)
	}
	if k.Finalizer != "" && !controllerutil.ContainsFinalizer(obj, k.Finalizer) {
		base := obj.DeepCopyObject().(O)
		controllerutil.AddFinalizer(obj, k.Finalizer)
		if err := k.Client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer %s: %w", k.Finalizer, err)
		}
	}

	now := time.Now()
	if k.Clock != nil {
		now = k.Clock.Now()
	}
	stored := obj.DeepCopyObject().(O)
	s := k.NewScope(obj, now)
	var errs []error
	for _, p := range k.Phases {
		if err := p.Run(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	k.Status(s, err)
	if k.Report != nil {
		k.Report(ctx, s)
	}
	if s.base().holdStatus {
		if err != nil {
			return ctrl.Result{}, err
		}
		return s.base().result(now), nil
	}
	if werr := PatchStatus(ctx, k.Client, stored, obj); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	if obj.GetResourceVersion() != stored.GetResourceVersion() {
		replaced.Store(lagKey{fmt.Sprintf("%T", obj), req.NamespacedName}, stored.GetResourceVersion())
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return s.base().result(now), nil
}

// result brings the object back at the earliest time given to RequeueAt, if any.
func (b *Base) result(now time.Time) ctrl.Result {
	if b.requeueAt.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(b.requeueAt.Sub(now), time.Second)}
}

func (k *Kind[O, S]) delete(ctx context.Context, key types.NamespacedName, obj O) error {
	if k.Forget != nil {
		k.Forget(key)
	}
	if k.Finalizer == "" || !controllerutil.ContainsFinalizer(obj, k.Finalizer) {
		return nil // children carry owner references; the garbage collector removes them
	}
	if k.Finalize != nil {
		if err := k.Finalize(ctx, obj); err != nil {
			return err
		}
	}
	base := obj.DeepCopyObject().(O)
	controllerutil.RemoveFinalizer(obj, k.Finalizer)
	if err := k.Client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// cacheLagRetry is how soon a reconcile that read its own object from before its
// last status write looks again: the informer normally delivers the write within
// milliseconds.
const cacheLagRetry = 50 * time.Millisecond

type lagKey struct {
	kind string
	key  types.NamespacedName
}

// replaced holds, per object, the resourceVersion its last status write replaced,
// until the cache is seen to hold another version.
var replaced sync.Map

// staleRead reports whether obj, as read from the cache, is the version the last
// status write of this process replaced. Versions are only compared for equality,
// which the API allows.
func staleRead(obj client.Object, key types.NamespacedName) bool {
	k := lagKey{fmt.Sprintf("%T", obj), key}
	v, ok := replaced.Load(k)
	if !ok {
		return false
	}
	if v.(string) == obj.GetResourceVersion() {
		return true
	}
	replaced.CompareAndDelete(k, v)
	return false
}

// PatchStatus writes obj's status when it differs from stored's, with an optimistic
// lock so a concurrent writer is never overwritten. A steady-state reconcile
// therefore writes nothing.
func PatchStatus(ctx context.Context, c client.Client, stored, obj client.Object) error {
	if equality.Semantic.DeepEqual(stored, obj) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// SetConditions applies conds to a status's conditions, keeping lastTransitionTime
// of conditions whose status did not change, and stamping observedGeneration with
// generation: the object's current metadata.generation, whether or not the
// reconcile succeeded.
func SetConditions(conditions *[]metav1.Condition, generation int64, conds ...metav1.Condition) {
	for _, c := range conds {
		c.ObservedGeneration = generation
		meta.SetStatusCondition(conditions, c)
	}
}

// ReadyCondition summarises a resource's other conditions into Ready. provisionErr
// is the error from applying children, which makes Ready False at once; otherwise
// Ready is True with healthy as its message when every other condition is True,
// Unknown when one is Unknown, and False naming those that are not True.
func ReadyCondition(provisionErr error, healthy string, others ...metav1.Condition) metav1.Condition {
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionReady}
	if provisionErr != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, cybercoopv1alpha1.ReasonProvisioningFailed, provisionErr.Error()
		return cond
	}
	var notTrue []string
	unknown := false
	for _, c := range others {
		if c.Status != metav1.ConditionTrue {
			notTrue = append(notTrue, fmt.Sprintf("%s is %s (%s)", c.Type, c.Status, c.Reason))
			unknown = unknown || c.Status == metav1.ConditionUnknown
		}
	}
	switch {
	case len(notTrue) == 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, cybercoopv1alpha1.ReasonAllConditionsMet, healthy
	case unknown:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, strings.Join(notTrue, "; ")
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, cybercoopv1alpha1.ReasonNotReady, strings.Join(notTrue, "; ")
	}
	return cond
}

// NewCondition is a condition of type t with a formatted message.
func NewCondition(t string, status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}
