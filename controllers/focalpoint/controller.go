// Package focalpoint reconciles FocalPoint resources: a State Party's 24/7 point of
// contact (article 41), its national CA and the gateway workload that peers call.
//
// The reconcile is the shared skeleton (internal/reconciler) over the phases listed
// in Reconciler.kind; the CA is internal/ca's; this package holds what is the
// FocalPoint's own: its children, its certificates' wiring and its status.
package focalpoint

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// kindFocalPoint labels the FocalPoint's certificate metrics and names the CA owner.
const kindFocalPoint = "FocalPoint"

// Reconciler provisions a FocalPoint's CA and gateway and reports its status.
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
	// APIReader reads from the API server, not the cache; SetupWithManager sets the
	// manager's when nil. Only the files a channels Secret keeps while channels move
	// are read with it (shards.go): the cache holds them as digests.
	APIReader client.Reader

	// certManagerInstalled is whether cert-manager's Certificate kind was served when
	// the controller was set up; only then is it watched and are FocalPoints with
	// spec.certificates.issuerRef issued through it.
	certManagerInstalled bool
	// batches are the FocalPoints whose channels are changing (see channelBatches).
	batches *channelBatches
}

// scope is what the phases of one reconcile share.
type scope struct {
	*reconciler.Base
	fp       *cybercoopv1alpha1.FocalPoint
	children *apply.Children

	// ca is the national CA after the certificate phase; nil in the cert-manager mode
	// or when its Secrets could not be read.
	ca *ca.State
	// certs is what the certificate phase found and did, for status and events.
	certs certs.Report
	// podCertificates are the certificate annotations the gateway's pod template
	// must carry (ca.ConsumerTemplateAnnotations); nil when unknown, and the
	// template's are then left as they are.
	podCertificates map[string]string

	// configured is false when the gateway's configuration could not be applied, so
	// the Deployment that mounts it is not touched.
	configured bool
	deployment *appsv1.Deployment // the live gateway Deployment, once applied

	// vault is the evidence vault the gateway records requests in; nil when the
	// FocalPoint has none yet.
	vault *gateway.VaultEndpoint
	// channels are the channels written into the gateway's channels file.
	channels []gateway.Channel
	// channelShards is how many channels Secrets the gateway mounts (shards.go); 0
	// when they could not be read, and the Deployment is then left as it is.
	channelShards int
	// channelsKnown is whether channels is what the gateway loads; when the channels
	// Secrets could not be read it is not, and the NetworkPolicy is left as it is.
	channelsKnown bool
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts;secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=cooperationchannels;evidencevaults;jointinvestigations,verbs=get;list;watch
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one FocalPoint's CA, certificates and children to the declared
// state and writes its status once, at the end, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.kind().Reconcile(ctx, req)
}

// kind is the FocalPoint's reconcile: certificates first (the gateway's pod template
// names the trust bundle), then the channels file (the NetworkPolicy opens egress to
// each peer), the NetworkPolicy (pods never run without it), the configuration, the
// gateway, its Service and its disruption budget.
func (r *Reconciler) kind() *reconciler.Kind[*cybercoopv1alpha1.FocalPoint, *scope] {
	return &reconciler.Kind[*cybercoopv1alpha1.FocalPoint, *scope]{
		Client:   r.Client,
		Clock:    r.Clock,
		New:      func() *cybercoopv1alpha1.FocalPoint { return &cybercoopv1alpha1.FocalPoint{} },
		NewScope: r.newScope,
		Phases: []reconciler.Phase[*scope]{
			{Name: "certificates", Run: r.reconcileCertificates},
			{Name: "channels", Run: r.reconcileChannels},
			{Name: "network policy", Run: r.reconcileNetworkPolicy},
			{Name: "configuration", Run: r.reconcileConfiguration},
			{Name: "gateway", Run: r.reconcileGateway},
			{Name: "service", Run: r.reconcileService},
			{Name: "disruption budget", Run: r.reconcileDisruptionBudget},
		},
		Status: computeStatus,
		Report: r.report,
		// Children carry owner references; the garbage collector removes them, all
		// but the national CA, which the finalizer keeps unless asked (caDeletionPolicy).
		Finalizer: Finalizer,
		Finalize:  r.finalize,
		Forget: func(key types.NamespacedName) {
			metrics.ForgetCertificates(key.Namespace, kindFocalPoint, key.Name, focalPointRoles...)
			metrics.ForgetRosterCoverage(key.Namespace, key.Name)
		},
	}
}

func (r *Reconciler) newScope(fp *cybercoopv1alpha1.FocalPoint, now time.Time) *scope {
	return &scope{
		Base: &reconciler.Base{Now: now},
		fp:   fp,
		children: &apply.Children{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, Owner: fp,
			SpecObserved: fp.Status.ObservedGeneration == fp.Generation},
	}
}

// report publishes the certificates' expiry and the roster coverage as metrics and
// warns about certificates in use that are past their renewal time.
func (r *Reconciler) report(ctx context.Context, s *scope) {
	certs.Publish(ctx, r.Recorder, s.fp, kindFocalPoint, focalPointRoles, &s.certs, s.Now)
	if c := s.fp.Status.Coverage; c != nil {
		metrics.SetRosterCoverage(s.fp.Namespace, s.fp.Name, true, c.CoveredMinutes, c.WeekMinutes)
	} else {
		metrics.SetRosterCoverage(s.fp.Namespace, s.fp.Name, false, 0, 0)
	}
}

// focalPointRoles are the roles of the certificates a FocalPoint publishes metrics of.
var focalPointRoles = []string{certs.RoleCA, roleGatewayServing, roleGatewayClient, roleOfficer, roleOperatorClient}

// SetupWithManager registers the controller and its watches. cert-manager's
// Certificates are watched only when cert-manager is installed, so the operator starts
// and works without it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	installed, err := CertManagerInstalled(mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	r.certManagerInstalled = installed
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.batches = &channelBatches{}
	channelObject := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[gateway.FocalPointLabel] != ""
	}))
	caConsumer := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[ca.TrustsCALabel] != "" || o.GetLabels()[certs.IssuerLabel] != ""
	}))
	// A channel's client certificate is a leaf of the CA too, but its changes come
	// in batches (a country's peers applied at once, every channel renewed in the
	// same minute) and reach the FocalPoint through the batched watch below; at the
	// batch's end a key replacement sees every re-issued channel leaf at once.
	// Enqueued one by one as well, 192 channels created at once cost as many
	// FocalPoint reconciles, back to back, beside the channels' own (test/perf).
	caConsumerSecret := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		l := o.GetLabels()
		return (l[ca.TrustsCALabel] != "" || l[certs.IssuerLabel] != "") && l[gateway.FocalPointLabel] == ""
	}))
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
		Owns(&networkingv1.NetworkPolicy{}).
		// Workloads of any kind that trust this FocalPoint's CA, and leaves issued from
		// it to other resources: a CA key replacement waits for their rollouts and
		// re-issued leaves, so each change of theirs may let it move on.
		Watches(&appsv1.Deployment{}, ca.EnqueueCAOwner(mgr.GetClient(), kindFocalPoint), caConsumer).
		Watches(&appsv1.StatefulSet{}, ca.EnqueueCAOwner(mgr.GetClient(), kindFocalPoint), caConsumer).
		Watches(&corev1.Secret{}, ca.EnqueueCAOwner(mgr.GetClient(), kindFocalPoint), caConsumerSecret).
		// CooperationChannels: each one's peer, types and terms go into the channels
		// file, and a CA key replacement waits for each one's peer to accept the new CA.
		// Channels change in batches: the FocalPoint writes the file once per batch
		// (channelBatches), so its gateway reloads once, not once per channel.
		Watches(&cybercoopv1alpha1.CooperationChannel{}, r.batches.enqueueBatched(focalPointOfChannel),
			builder.WithPredicates(channelChanged)).
		// JointInvestigations go into the channels file with the batch.
		Watches(&cybercoopv1alpha1.JointInvestigation{}, r.batches.enqueueBatched(focalPointOfJoint),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A channel's client Secret, labelled with the FocalPoint: its certificate
		// renewed or a peer CA learned, it goes into the channels file with the
		// batch. Also the trust ConfigMaps of earlier releases, read until each
		// channel moves its trust into its Secret and deletes them.
		Watches(&corev1.Secret{}, r.batches.enqueueBatched(focalPointOfLabel), channelObject).
		Watches(&corev1.ConfigMap{}, r.batches.enqueueBatched(focalPointOfLabel), channelObject).
		// EvidenceVaults: the vault's endpoint goes into the gateway's configuration.
		Watches(&cybercoopv1alpha1.EvidenceVault{}, handler.EnqueueRequestsFromMapFunc(focalPointOfVault),
			builder.WithPredicates(vaultEndpointChanged))
	if installed {
		// cert-manager's Certificates (spec.certificates.issuerRef): their Ready condition
		// and revision change when cert-manager has issued into the Secret, which carries
		// no owner reference to the FocalPoint; edits of their spec are drift to repair.
		certificate := &unstructured.Unstructured{}
		certificate.SetGroupVersionKind(CertificateGVK)
		b = b.Owns(certificate)
	}
	return b.Named("focalpoint").WithOptions(controller.Options{MaxConcurrentReconciles: Workers}).Complete(r)
}

// Workers is how many FocalPoints are reconciled side by side. A FocalPoint's
// first reconcile is a chain of about a dozen API writes (its CA, trust bundle,
// serving certificate, gateway children, status), about a third of a second
// under load, during which its channels wait for the CA; a regional hub applies
// many States' stacks at once. Measured with test/perf on 2 CPUs, 20 countries of
// 50 channels created at once: with 1 worker the FocalPoints were provisioned one
// after another, about 330 ms apart, and every channel was Ready in 7.6 s.
// Different FocalPoints share nothing a reconcile writes; the same one is never
// reconciled twice at once.
const Workers = 4
