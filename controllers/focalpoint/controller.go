// Package focalpoint reconciles FocalPoint resources: a State Party's 24/7 point of
// contact (article 41) and the gateway workload that peers call.
package focalpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
)

// Reconciler provisions a FocalPoint's gateway and reports its status.
type Reconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Clock is the time source for roster coverage; tests inject a fake one.
	Clock clock.PassiveClock
	// GatewayImage is the image the gateway runs when spec.gateway.image is empty:
	// the operator's own image, which holds every role of the cybercoop binary.
	GatewayImage string
}

// scope is what the sub-reconcilers of one reconcile share.
type scope struct {
	fp         *cybercoopv1alpha1.FocalPoint
	status     cybercoopv1alpha1.FocalPointStatus // being computed
	deployment *appsv1.Deployment                 // live gateway Deployment, once ensured
	requeueAt  time.Time                          // earliest time-based recheck, zero for none
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one FocalPoint's children to the declared state and writes its
// status once, at the end, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	fp := &cybercoopv1alpha1.FocalPoint{}
	if err := r.Get(ctx, req.NamespacedName, fp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !fp.DeletionTimestamp.IsZero() {
		// Children carry owner references; the garbage collector removes them.
		return ctrl.Result{}, nil
	}

	s := &scope{fp: fp, status: *fp.Status.DeepCopy()}
	provisionErr := r.reconcileChildren(ctx, s)
	r.computeStatus(s, provisionErr)

	if err := r.patchStatus(ctx, fp, s.status); err != nil {
		return ctrl.Result{}, errors.Join(provisionErr, err)
	}
	if provisionErr != nil {
		return ctrl.Result{}, provisionErr
	}
	if !s.requeueAt.IsZero() {
		return ctrl.Result{RequeueAfter: max(s.requeueAt.Sub(r.Clock.Now()), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// reconcileChildren ensures each child in order; the first failure stops the rest
// because later children depend on earlier ones (the Deployment mounts the ConfigMap).
func (r *Reconciler) reconcileChildren(ctx context.Context, s *scope) error {
	fp := s.fp
	cm, err := desiredConfigMap(fp)
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { _, err := ensure(ctx, r, fp, cm, configMapSpec); return err },
		func() error { _, err := ensure(ctx, r, fp, desiredServiceAccount(fp), serviceAccountSpec); return err },
		func() error {
			dep, err := ensure(ctx, r, fp, desiredDeployment(fp, cm, r.GatewayImage), deploymentSpec)
			s.deployment = dep
			return err
		},
		func() error { _, err := ensure(ctx, r, fp, desiredService(fp), serviceSpec); return err },
		func() error {
			// One replica cannot tolerate any disruption, so a budget would only block node drains.
			if replicas(fp) < 2 {
				return r.absent(ctx, fp, &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta(fp)})
			}
			_, err := ensure(ctx, r, fp, desiredPodDisruptionBudget(fp), podDisruptionBudgetSpec)
			return err
		},
		func() error { _, err := ensure(ctx, r, fp, desiredNetworkPolicy(fp), networkPolicySpec); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// ensure applies one child and records an event for each create or repair.
func ensure[T client.Object](ctx context.Context, r *Reconciler, fp *cybercoopv1alpha1.FocalPoint, desired T, spec apply.Spec[T]) (T, error) {
	kind := kindName(desired, r.Scheme)
	live, outcome, err := apply.Ensure(ctx, r.Client, r.Scheme, fp, desired, spec)
	if err != nil {
		if apierrors.IsConflict(err) {
			return live, err // retried with backoff; a newer version is already on its way
		}
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, "ProvisioningFailed", "Apply"+kind,
			"%s %s could not be applied: %v", kind, desired.GetName(), err)
		return live, fmt.Errorf("applying %s %s: %w", kind, desired.GetName(), err)
	}
	r.recordOutcome(ctx, fp, kind, desired.GetName(), outcome)
	return live, nil
}

func (r *Reconciler) absent(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, obj client.Object) error {
	outcome, err := apply.Absent(ctx, r.Client, fp, obj)
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kindName(obj, r.Scheme), obj.GetName(), err)
	}
	r.recordOutcome(ctx, fp, kindName(obj, r.Scheme), obj.GetName(), outcome)
	return nil
}

func (r *Reconciler) recordOutcome(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, kind, name string, outcome apply.Outcome) {
	switch outcome {
	case apply.Created:
		r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, "Created", "Create"+kind, "created %s %s", kind, name)
	case apply.Updated:
		// An update while the spec is unchanged since the last successful
		// reconcile means someone edited the child: that is drift.
		if fp.Status.ObservedGeneration == fp.Generation {
			r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, "DriftRepaired", "Repair"+kind,
				"%s %s differed from the FocalPoint's spec and was restored", kind, name)
		} else {
			r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, "Updated", "Update"+kind, "updated %s %s to the new spec", kind, name)
		}
	case apply.Deleted:
		r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, "Deleted", "Delete"+kind, "deleted %s %s, no longer needed", kind, name)
	default:
		return
	}
	log.FromContext(ctx).Info("child applied", "kind", kind, "name", name, "outcome", outcome)
}

// computeStatus fills s.status from the observed children and the roster.
func (r *Reconciler) computeStatus(s *scope, provisionErr error) {
	fp := s.fp
	coverage, coverageCond, nextWeek := coverageStatus(fp.Spec.Roster, r.Clock.Now())
	s.status.Coverage = coverage
	s.requeueAt = nextWeek

	availableCond, gatewayReplicas := availableCondition(s.deployment, replicas(fp))
	s.status.GatewayReplicas = gatewayReplicas
	s.status.Endpoint = fmt.Sprintf("https://%s.%s.svc:%d", gatewayName(fp), fp.Namespace, GatewayServicePort)

	generation := fp.Status.ObservedGeneration
	if provisionErr == nil {
		generation = fp.Generation
		s.status.ObservedGeneration = fp.Generation
	}
	setConditions(&s.status, generation, availableCond, coverageCond,
		readyCondition(provisionErr, availableCond, coverageCond))
}

// patchStatus writes status only when it differs from what is stored, with an
// optimistic lock so a concurrent writer is never overwritten.
func (r *Reconciler) patchStatus(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, status cybercoopv1alpha1.FocalPointStatus) error {
	if equality.Semantic.DeepEqual(fp.Status, status) {
		return nil
	}
	base := fp.DeepCopy()
	fp.Status = status
	if err := r.Status().Patch(ctx, fp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

func kindName(obj runtime.Object, scheme *runtime.Scheme) string {
	if gvks, _, err := scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		return gvks[0].Kind
	}
	return fmt.Sprintf("%T", obj)
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Spec changes and annotation changes (force-renew and similar requests);
		// status-only updates, including our own, are ignored.
		For(&cybercoopv1alpha1.FocalPoint{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The Deployment: its status drives Available; edits or deletion are drift.
		Owns(&appsv1.Deployment{}).
		// The remaining children: edits or deletion are drift to repair.
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Named("focalpoint").
		Complete(r)
}
