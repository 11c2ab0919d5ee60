// Package evidencevault reconciles EvidenceVault resources: the store for preserved
// electronic evidence (articles 25 and 42). It deploys `cybercoop vault` as a
// StatefulSet that is a consumer of its FocalPoint's national CA, keeps the
// encryption keyring and the checkpoint signing key, anchors the custody log by
// recording verified checkpoints in status, and never deletes evidence with the
// resource unless asked to.
package evidencevault

import (
	"context"
	"crypto/x509"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// kindEvidenceVault labels the vault's certificate metrics.
const kindEvidenceVault = "EvidenceVault"

// Finalizer keeps an EvidenceVault until its evidence is detached (Retain) or may be
// deleted (Delete): owner references alone would let the garbage collector take the
// keyring with it.
const Finalizer = "cybercoop.io/evidence"

// focalPointIndex indexes EvidenceVaults by spec.focalPointRef.name.
const focalPointIndex = "spec.focalPointRef.name"

// defaultPollInterval is how often the vault's inventory and checkpoint are read:
// the vault tells the operator nothing by itself.
const defaultPollInterval = 5 * time.Minute

// unreachableRetry is how soon a vault that did not answer is asked again.
const unreachableRetry = 30 * time.Second

// Reconciler provisions EvidenceVaults and reports their status.
type Reconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// VaultImage is the image the vault runs when spec.image is empty: the operator's
	// own image, which holds every role of the cybercoop binary.
	VaultImage string
	// VaultEndpoint, if set, gives the address of an EvidenceVault's API instead of
	// its Service's, for an operator that runs outside the cluster (tests, the demo).
	VaultEndpoint func(ev *cybercoopv1alpha1.EvidenceVault) string
	// PollInterval is how often the vault's inventory and checkpoint are read; zero
	// means every 5 minutes.
	PollInterval time.Duration

	// verifying holds the EvidenceVaults whose full verification is running: it can
	// take long on a large store, so it runs beside the reconciles, and its result
	// is read from the vault's own status.
	verifying sync.Map
	// verified carries the EvidenceVaults whose full verification ended, so that
	// the result reaches status at once, not at the next poll.
	verified chan event.TypedGenericEvent[*cybercoopv1alpha1.EvidenceVault]
}

// scope is what the phases of one reconcile share.
type scope struct {
	*reconciler.Base
	ev       *cybercoopv1alpha1.EvidenceVault
	children *apply.Children

	// fp is the FocalPoint the vault serves; nil when it does not exist.
	fp *cybercoopv1alpha1.FocalPoint
	// ca is its national CA as read in the certificate phase.
	ca *ca.State

	certs           certs.Report
	podCertificates map[string]string
	operatorClient  certs.LeafResult

	keyring     keyringDecision
	keyringErr  error
	verifierKey string
	signingLost string
	// adoptedCheckpoint is the last checkpoint of an EvidenceVault of this name that
	// was deleted with Retain, until this one records its own.
	adoptedCheckpoint *cybercoopv1alpha1.CheckpointStatus

	claim *corev1.PersistentVolumeClaim
	// s3Problem says what is wrong with storage.s3's credentials Secret; empty if
	// nothing (or storage is a volume).
	s3Problem string

	// vault is the vault's own report; nil when it could not be reached (vaultErr says why).
	vault    *vault.Status
	vaultErr error
	// integrity is what the checkpoint check found.
	integrity integrityResult
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=evidencevaults,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=evidencevaults/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=evidencevaults/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;update;patch;delete

// Reconcile brings one EvidenceVault to its declared state.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.kind().Reconcile(ctx, req)
}

// kind is the EvidenceVault's reconcile: its FocalPoint; its certificates (the vault
// pods' template names the trust bundle); the checkpoint key; the vault's own
// report, read before the keyring because only the vault knows which key versions
// objects use; the keyring; then the children, NetworkPolicy first; the volume.
func (r *Reconciler) kind() *reconciler.Kind[*cybercoopv1alpha1.EvidenceVault, *scope] {
	return &reconciler.Kind[*cybercoopv1alpha1.EvidenceVault, *scope]{
		Client:   r.Client,
		Clock:    r.Clock,
		New:      func() *cybercoopv1alpha1.EvidenceVault { return &cybercoopv1alpha1.EvidenceVault{} },
		NewScope: r.newScope,
		Phases: []reconciler.Phase[*scope]{
			{Name: "focal point", Run: r.reconcileFocalPoint},
			{Name: "certificates", Run: r.reconcileCertificates},
			{Name: "checkpoint key", Run: r.reconcileCheckpointKey},
			{Name: "vault", Run: r.observeVault},
			{Name: "keyring", Run: r.reconcileKeyring},
			{Name: "network policy", Run: r.reconcileNetworkPolicy},
			{Name: "services", Run: r.reconcileServices},
			{Name: "stateful set", Run: r.reconcileStatefulSet},
			{Name: "disruption budget", Run: r.reconcileDisruptionBudget},
			{Name: "storage", Run: r.reconcileStorage},
		},
		Status:    computeStatus,
		Report:    r.report,
		Finalizer: Finalizer,
		Finalize:  r.finalize,
		Forget: func(key types.NamespacedName) {
			metrics.ForgetCertificates(key.Namespace, kindEvidenceVault, key.Name, roleVaultServing, roleOperatorClient)
			metrics.ForgetVault(key.Namespace, key.Name)
		},
	}
}

func (r *Reconciler) newScope(ev *cybercoopv1alpha1.EvidenceVault, now time.Time) *scope {
	return &scope{
		Base: &reconciler.Base{Now: now},
		ev:   ev,
		children: &apply.Children{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, Owner: ev,
			SpecObserved: ev.Status.ObservedGeneration == ev.Generation},
	}
}

func (r *Reconciler) pollInterval() time.Duration {
	if r.PollInterval > 0 {
		return r.PollInterval
	}
	return defaultPollInterval
}

func (r *Reconciler) report(ctx context.Context, s *scope) {
	certs.Publish(ctx, r.Recorder, s.ev, kindEvidenceVault, []string{roleVaultServing, roleOperatorClient}, &s.certs, s.Now)
	metrics.SetVaultIntegrity(s.ev.Namespace, s.ev.Name, s.integrity.known, s.integrity.consistent)
	contents := metrics.VaultContents{Objects: s.ev.Status.Objects, Bytes: s.ev.Status.Bytes,
		VerificationInterval: verificationInterval(s.ev)}
	if v := s.ev.Status.LastVerification; v != nil {
		contents.LastVerification, contents.LastVerificationPassed = v.Time.Time, v.Result == "Passed"
	}
	metrics.SetVaultContents(s.ev.Namespace, s.ev.Name, contents)
	if s.integrity.known && !s.integrity.consistent {
		r.Recorder.Eventf(s.ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventLogInconsistent, "CheckCheckpoint",
			"%s; the checkpoint recorded in status is kept as the evidence of what the log held", s.integrity.problem)
	}
	if v := s.vault; v != nil && v.LastVerification != nil && !v.LastVerification.OK {
		r.Recorder.Eventf(s.ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventVerificationFailed, "VerifyVault",
			"the full verification of %s found %d problem(s)", v.LastVerification.Time.UTC().Format(time.RFC3339), v.LastVerification.Findings)
	}
}

// servedCertificate is the vault's serving certificate, for the pod template.
func (s *scope) servedCertificate() *x509.Certificate {
	if o := s.certs.Leaf(roleVaultServing); o != nil {
		return o.Certificate
	}
	return nil
}

// SetupWithManager registers the controller, its index and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &cybercoopv1alpha1.EvidenceVault{}, focalPointIndex,
		func(o client.Object) []string {
			return []string{o.(*cybercoopv1alpha1.EvidenceVault).Spec.FocalPointRef.Name}
		}); err != nil {
		return err
	}
	r.verified = make(chan event.TypedGenericEvent[*cybercoopv1alpha1.EvidenceVault], 64)
	return ctrl.NewControllerManagedBy(mgr).
		// Spec and annotation changes (force-renew), and deletion; status-only updates are ignored.
		For(&cybercoopv1alpha1.EvidenceVault{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The StatefulSet: its rollouts and pod readiness; edits are drift.
		Owns(&appsv1.StatefulSet{}).
		// Leaves, keyring and checkpoint key: edits and deletions are tampering or loss to report.
		Owns(&corev1.Secret{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		// The FocalPoint and its CA and trust bundle Secrets: a key replacement's phase
		// changes which CA the vault's leaves come from and what its pods must load.
		Watches(&cybercoopv1alpha1.FocalPoint{}, handler.EnqueueRequestsFromMapFunc(r.vaultsOfFocalPoint)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.vaultsOfCASecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				role := o.GetLabels()[certs.RoleLabel]
				return role == "ca" || role == "trust-bundle"
			}))).
		// The volume claim the StatefulSet makes: its binding is StorageBound.
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(vaultOfClaim)).
		// A full verification that ended: its result is in the vault's status.
		WatchesRawSource(source.Channel(r.verified, &handler.TypedEnqueueRequestForObject[*cybercoopv1alpha1.EvidenceVault]{})).
		Named("evidencevault").
		WithOptions(controller.Options{MaxConcurrentReconciles: Workers}).
		Complete(r)
}

// Workers is how many EvidenceVaults are reconciled side by side: as for
// FocalPoints (focalpoint.Workers), a vault's first reconcile is a chain of API
// writes, and a regional hub applies many States' vaults at once. Different
// vaults share nothing a reconcile writes (a full verification runs apart, in
// its own goroutine, and reports through a channel).
const Workers = 4

func (r *Reconciler) vaultsOfFocalPoint(ctx context.Context, o client.Object) []reconcile.Request {
	return r.vaultsReferencing(ctx, o.GetNamespace(), o.GetName())
}

// vaultsOfCASecret maps a FocalPoint's CA or trust bundle Secret to the vaults of
// that FocalPoint (its controller).
func (r *Reconciler) vaultsOfCASecret(ctx context.Context, o client.Object) []reconcile.Request {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "FocalPoint" && ref.Controller != nil && *ref.Controller {
			return r.vaultsReferencing(ctx, o.GetNamespace(), ref.Name)
		}
	}
	return nil
}

func (r *Reconciler) vaultsReferencing(ctx context.Context, namespace, focalPoint string) []reconcile.Request {
	list := &cybercoopv1alpha1.EvidenceVaultList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{focalPointIndex: focalPoint}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// vaultOfClaim maps the vault's volume claim (labelled by the claim template) to its EvidenceVault.
func vaultOfClaim(_ context.Context, o client.Object) []reconcile.Request {
	if o.GetLabels()["app.kubernetes.io/name"] != "cybercoop-vault" {
		return nil
	}
	name := o.GetLabels()["app.kubernetes.io/instance"]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
