// Package focalpoint reconciles FocalPoint resources: a State Party's 24/7 point of
// contact (article 41) and the gateway workload that peers call.
package focalpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
)

// kindFocalPoint labels the FocalPoint's certificate metrics.
const kindFocalPoint = "FocalPoint"

// Reconciler provisions a FocalPoint's gateway and reports its status.
type Reconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Clock is the time source for roster coverage and certificates; tests inject a
	// fake one. Nil means the real clock.
	Clock clock.PassiveClock
	// GatewayImage is the image the gateway runs when spec.gateway.image is empty:
	// the operator's own image, which holds every role of the cybercoop binary.
	GatewayImage string

	// certManagerInstalled is whether cert-manager's Certificate kind was served when
	// the controller was set up; only then is it watched and are FocalPoints with
	// spec.certificates.issuerRef issued through it.
	certManagerInstalled bool
}

// scope is what the sub-reconcilers of one reconcile share.
type scope struct {
	fp         *cybercoopv1alpha1.FocalPoint
	status     cybercoopv1alpha1.FocalPointStatus // being computed
	deployment *appsv1.Deployment                 // live gateway Deployment, once ensured
	requeueAt  time.Time                          // earliest time-based recheck, zero for none
	certs      certificateReport                  // what the certificate sub-reconciler found and did
	bundleHash string                             // SHA-256 of the published trust bundle, for the pod template
	// templateBundleHash is the bundle hash on the live gateway pod template.
	templateBundleHash string
	// servingCertificate is the serving certificate fingerprint for the gateway pod
	// template (templateServingCertificate); templateServingCertificate is the one on
	// the live template.
	servingCertificate         string
	templateServingCertificate string
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts;secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one FocalPoint's children to the declared state and writes its
// status once, at the end, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	fp := &cybercoopv1alpha1.FocalPoint{}
	if err := r.Get(ctx, req.NamespacedName, fp); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetCertificates(req.Namespace, kindFocalPoint, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !fp.DeletionTimestamp.IsZero() {
		// Children carry owner references; the garbage collector removes them.
		metrics.ForgetCertificates(fp.Namespace, kindFocalPoint, fp.Name)
		return ctrl.Result{}, nil
	}

	s := &scope{fp: fp, status: *fp.Status.DeepCopy()}
	// Certificates first: the gateway's pod template carries the trust bundle's hash.
	certErr := r.reconcileCertificates(ctx, s)
	s.certs.err = certErr
	provisionErr := r.reconcileChildren(ctx, s)
	r.computeStatus(s, errors.Join(certErr, provisionErr), provisionErr)
	r.reportCertificates(ctx, s)

	reconcileErr := errors.Join(certErr, provisionErr)
	if err := r.patchStatus(ctx, fp, s.status); err != nil {
		return ctrl.Result{}, errors.Join(reconcileErr, err)
	}
	if reconcileErr != nil {
		return ctrl.Result{}, reconcileErr
	}
	if !s.requeueAt.IsZero() {
		return ctrl.Result{RequeueAfter: max(s.requeueAt.Sub(r.now()), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
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
			desired := desiredDeployment(fp, cm, r.GatewayImage, podCertificates{bundleHash: s.bundleHash, servingCertificate: s.servingCertificate})
			dep, err := ensurePlanned(ctx, r, fp, desired, deploymentSpec, plannedRollout(s))
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

// plannedRollout says why the operator itself changes the gateway pod template's
// certificate annotations in this reconcile, so the update is not reported as drift;
// empty when it does not.
func plannedRollout(s *scope) string {
	var why []string
	if s.bundleHash != "" && s.bundleHash != s.templateBundleHash {
		why = append(why, "the trust bundle changed, so the gateway pods are rolled to load it")
	}
	if s.bundleHash != "" && s.servingCertificate != s.templateServingCertificate {
		if s.servingCertificate != "" {
			why = append(why, "the serving certificate was re-issued from the new CA, so the gateway pods are rolled to load it before the old CA is pruned")
		} else if len(why) == 0 {
			why = append(why, "the CA key replacement no longer waits for the gateway to load its serving certificate")
		}
	}
	return strings.Join(why, "; ")
}

// ensure applies one child and records an event for each create or repair.
func ensure[T client.Object](ctx context.Context, r *Reconciler, fp *cybercoopv1alpha1.FocalPoint, desired T, spec apply.Spec[T]) (T, error) {
	return ensurePlanned(ctx, r, fp, desired, spec, "")
}

// ensurePlanned is ensure for a child the operator itself is changing for the reason
// planned (when not empty), so an update is not reported as drift.
func ensurePlanned[T client.Object](ctx context.Context, r *Reconciler, fp *cybercoopv1alpha1.FocalPoint, desired T, spec apply.Spec[T], planned string) (T, error) {
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
	r.recordOutcome(ctx, fp, kind, desired.GetName(), outcome, planned)
	return live, nil
}

func (r *Reconciler) absent(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, obj client.Object) error {
	outcome, err := apply.Absent(ctx, r.Client, fp, obj)
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kindName(obj, r.Scheme), obj.GetName(), err)
	}
	r.recordOutcome(ctx, fp, kindName(obj, r.Scheme), obj.GetName(), outcome, "")
	return nil
}

func (r *Reconciler) recordOutcome(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, kind, name string, outcome apply.Outcome, planned string) {
	switch {
	case outcome == apply.Updated && planned != "":
		r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, "Updated", "Update"+kind, "updated %s %s: %s", kind, name, planned)
		log.FromContext(ctx).Info("child applied", "kind", kind, "name", name, "outcome", outcome, "why", planned)
		return
	}
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

// computeStatus fills s.status from the observed children, certificates and the
// roster. reconcileErr is every sub-reconciler's error (observedGeneration advances
// only without one); provisionErr is the children's alone, which Ready reports as
// ProvisioningFailed (certificate failures show in CertificateReady).
func (r *Reconciler) computeStatus(s *scope, reconcileErr, provisionErr error) {
	fp := s.fp
	now := r.now()
	coverage, coverageCond, nextWeek := coverageStatus(fp.Spec.Roster, now)
	s.status.Coverage = coverage
	s.requeueAt = earliest(nextWeek, nextCertificateCheck(&s.certs, now))
	if s.certs.observed {
		s.status.Certificates = certificatesStatus(&s.certs)
	}
	certCond := certificateReadyCondition(&s.certs, now)

	availableCond, gatewayReplicas := availableCondition(s.deployment, replicas(fp))
	s.status.GatewayReplicas = gatewayReplicas
	s.status.Endpoint = fmt.Sprintf("https://%s.%s.svc:%d", gatewayName(fp), fp.Namespace, GatewayServicePort)

	generation := fp.Status.ObservedGeneration
	if reconcileErr == nil {
		generation = fp.Generation
		s.status.ObservedGeneration = fp.Generation
	}
	setConditions(&s.status, generation, availableCond, certCond, coverageCond,
		readyCondition(provisionErr, availableCond, certCond, coverageCond))
}

// earliest is the earlier of two times, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// reportCertificates publishes the certificates' expiry as metrics and warns about
// certificates in use that are past their renewal time.
func (r *Reconciler) reportCertificates(ctx context.Context, s *scope) {
	fp := s.fp
	now := r.now()
	if !s.certs.observed {
		return
	}
	roles := map[string]bool{roleCA: false, roleGatewayServing: false}
	for _, o := range s.certs.inUse() {
		metrics.SetCertificateExpiration(fp.Namespace, kindFocalPoint, fp.Name, o.role, o.cert.NotAfter)
		roles[o.role] = true
	}
	for role, present := range roles {
		if !present {
			metrics.DeleteCertificateExpiration(fp.Namespace, kindFocalPoint, fp.Name, role)
		}
	}
	for _, w := range expiryWarnings(&s.certs, now) {
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, w.reason, "CheckCertificate", "%s", w.message)
		log.FromContext(ctx).Info("certificate renewal overdue", "reason", w.reason, "detail", w.message)
	}
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

// SetupWithManager registers the controller and its watches. cert-manager's
// Certificates are watched only when cert-manager is installed, so the operator starts
// and works without it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	installed, err := CertManagerInstalled(mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	r.certManagerInstalled = installed
	b := ctrl.NewControllerManagedBy(mgr).
		// Spec changes and annotation changes (force-renew and similar requests);
		// status-only updates, including our own, are ignored.
		For(&cybercoopv1alpha1.FocalPoint{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The Deployment: its status drives Available; edits or deletion are drift.
		Owns(&appsv1.Deployment{}).
		// The CA, trust bundle and leaf Secrets: an edit or deletion is tampering to
		// detect and repair at once, not at the next renewal.
		Owns(&corev1.Secret{}).
		// The remaining children: edits or deletion are drift to repair.
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{})
	if installed {
		// cert-manager's Certificates (spec.certificates.issuerRef): their Ready condition
		// and revision change when cert-manager has issued into the Secret, which carries
		// no owner reference to the FocalPoint; edits of their spec are drift to repair.
		certificate := &unstructured.Unstructured{}
		certificate.SetGroupVersionKind(CertificateGVK)
		b = b.Owns(certificate)
	}
	return b.Named("focalpoint").Complete(r)
}
