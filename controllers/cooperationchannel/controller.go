// Package cooperationchannel reconciles CooperationChannel resources: a secure
// channel to one peer State's point of contact (articles 40-42). For each channel it
// keeps the client certificate the FocalPoint's gateway presents to the peer (issued
// from the FocalPoint's national CA, so it takes part in every key replacement), the
// set of the peer's CAs the gateway trusts (from the spec, and from the peer's own
// signed trust bundle, so a peer's CA key replacement is followed without anyone
// copying bundles), both in one Secret, and probes the peer with a mutual-TLS
// handshake. The FocalPoint's controller aggregates the channels' Secrets into the
// gateway's channels file.
package cooperationchannel

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// Reconciler provisions CooperationChannels and reports their status.
type Reconciler struct {
	client.Client
	// APIReader reads from the API server, bypassing every cache: the Secret a
	// person names in spec.peer.trustBundle.secretRef is read through it. Nil means
	// the Client.
	APIReader client.Reader
	// SecretNames is the cache of Secret names (manageropts.NamesCache) whose watch
	// wakes a channel when the Secret its spec names changes; share the one the
	// reconciler client consults. Nil: SetupWithManager starts one.
	SecretNames cache.Cache
	Scheme      *runtime.Scheme
	Recorder    events.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// ProbeInterval is how often the peer of a channel whose spec sets no
	// spec.probe.interval is probed; zero means every 5 minutes. Tests shorten it.
	ProbeInterval time.Duration
	// Namespaces are the namespaces the manager is restricted to (--watch-namespace);
	// empty means all. The watch of trust bundle Secrets keeps to them.
	Namespaces []string
	// GatewayEndpoint, if set, gives a FocalPoint's own gateway (URL and the name
	// on its certificate) instead of its Service, for an operator that runs outside
	// the cluster (tests, the demo).
	GatewayEndpoint func(fp *cybercoopv1alpha1.FocalPoint) (endpoint, serverName string)

	summaries summaries
	probes    probeLog
}

// scope is what the phases of one reconcile share.
type scope struct {
	*reconciler.Base
	cc       *cybercoopv1alpha1.CooperationChannel
	children *apply.Children

	// fp is the FocalPoint; nil when it does not exist (or could not be read: fpErr).
	fp         *cybercoopv1alpha1.FocalPoint
	fpErr      error
	peerIsSelf bool

	// ca is the FocalPoint's national CA as read in the certificate phase.
	ca     *ca.State
	certs  certs.Report
	client certs.LeafResult

	// trust is the peer CAs trusted; nil when spec.peer.trustBundle could not be
	// read (trustErr says why).
	trust    *peerTrust
	trustErr error
	// liveTrust is the trust as stored; liveTrustRead is false when it could not
	// be read (trustErr), and then nothing writes the client Secret.
	liveTrust     liveTrust
	liveTrustRead bool
	trustStored   bool

	// block is why the peer was not probed; probe is what this reconcile's probe
	// found, nil when none was due.
	block *probeBlock
	probe *probeOutcome
	// prevReachable is PeerReachable as stored before this reconcile.
	prevReachable *metav1.Condition
	// reported: the channel's status held conditions before this reconcile.
	reported bool
	// requests is status.requests as the gateway's summary gives it; nil when it
	// was not read this reconcile. prevRequests is status.requests before it.
	requests     *cybercoopv1alpha1.ChannelRequestsStatus
	prevRequests *cybercoopv1alpha1.ChannelRequestsStatus
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=cooperationchannels,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=cooperationchannels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=cooperationchannels/finalizers,verbs=update
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CooperationChannel to its declared state.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.kind().Reconcile(ctx, req)
}

// kind is the channel's reconcile: its FocalPoint; the peer's CAs from the spec
// and the client Secret; the client certificate, written with those CAs in one
// Secret; the probe, which needs both and may learn more CAs, written to the Secret
// then. No finalizer: the Secret is owned and garbage-collected.
func (r *Reconciler) kind() *reconciler.Kind[*cybercoopv1alpha1.CooperationChannel, *scope] {
	return &reconciler.Kind[*cybercoopv1alpha1.CooperationChannel, *scope]{
		Client:   r.Client,
		Clock:    r.Clock,
		New:      func() *cybercoopv1alpha1.CooperationChannel { return &cybercoopv1alpha1.CooperationChannel{} },
		NewScope: r.newScope,
		Phases: []reconciler.Phase[*scope]{
			{Name: "focal point", Run: r.reconcileFocalPoint},
			{Name: "trust", Run: r.reconcileTrust},
			{Name: "certificate", Run: r.reconcileCertificate},
			{Name: "probe", Run: r.probePeer},
			{Name: "requests", Run: r.countRequests},
			{Name: "learned trust", Run: r.publishTrust},
		},
		Status: computeStatus,
		Report: r.report,
		Forget: func(key types.NamespacedName) {
			metrics.ForgetCertificates(key.Namespace, kindCooperationChannel, key.Name, roleChannelClient)
			metrics.ForgetChannel(key.Namespace, key.Name)
			r.probes.forget(key)
		},
	}
}

func (r *Reconciler) newScope(cc *cybercoopv1alpha1.CooperationChannel, now time.Time) *scope {
	return &scope{
		Base: &reconciler.Base{Now: now},
		cc:   cc,
		// A child's creation is part of the channel's provisioning, which the client
		// certificate's CertificateIssued event tells: one event per new channel
		// (192 channels created at once sent 402 events with one per child).
		children: &apply.Children{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, Owner: cc,
			SpecObserved: cc.Status.ObservedGeneration == cc.Generation, QuietCreate: true},
		prevReachable: previousReachable(cc),
		reported:      len(cc.Status.Conditions) > 0,
		prevRequests:  cc.Status.Requests.DeepCopy(),
	}
}

// report tells people what is not status: certificate expiry metrics and warnings,
// the CAs learned from the peer, the expiry warnings of its CAs (once each), and
// the peer becoming unreachable or reachable again.
func (r *Reconciler) report(ctx context.Context, s *scope) {
	cc := s.cc
	certs.Publish(ctx, r.Recorder, cc, kindCooperationChannel, []string{roleChannelClient}, &s.certs, s.Now)
	if o := s.probe; o != nil {
		var roundTrip time.Duration
		if o.probed != nil {
			roundTrip = o.probed.RoundTrip
		}
		metrics.ObserveChannelProbe(cc.Namespace, cc.Name, o.at, o.err == nil && o.probed != nil, roundTrip)
	}
	if q := cc.Status.Requests; q != nil && q.Open != nil && q.Overdue != nil {
		metrics.SetChannelRequests(cc.Namespace, cc.Name, true, *q.Open, *q.Overdue)
	} else {
		metrics.SetChannelRequests(cc.Namespace, cc.Name, false, 0, 0)
	}
	r.reportOverdue(s, s.prevRequests)
	if t := s.trust; t != nil && s.trustStored {
		for _, c := range t.learned {
			r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventPeerCATrusted, "LearnPeerCA",
				"trusts the CA %s (SHA-256 %s, valid until %s) from %s's signed trust bundle, which verified against a CA the channel already trusted",
				subjectOf(c.cert), c.fingerprint, rfc3339(c.cert.NotAfter), cc.Spec.Peer.Party())
		}
		for _, c := range t.warnNow {
			r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventPeerTrustExpiring, "CheckPeerTrust",
				"the peer's CA %s (SHA-256 %s) expires at %s, and no CA of %s trusted by this channel is valid for more than %d days: "+
					"ask the peer for its next CA certificate", subjectOf(c.cert), c.fingerprint, rfc3339(c.cert.NotAfter),
				cc.Spec.Peer.Party(), int(expiringWindow.Hours()/24))
		}
	}
	if o := s.probe; o != nil && s.prevReachable != nil {
		switch {
		case o.err != nil && s.prevReachable.Status == metav1.ConditionTrue:
			r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventPeerUnreachable, "ProbePeer",
				"%s at %s is unreachable: %s", cc.Spec.Peer.Party(), cc.Spec.Peer.Endpoint, describeProbeError(o.err))
		case o.err == nil && s.prevReachable.Status == metav1.ConditionFalse:
			r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventPeerReachable, "ProbePeer",
				"%s at %s is reachable again: handshake and signed trust bundle verified in %d ms",
				cc.Spec.Peer.Party(), cc.Spec.Peer.Endpoint, o.probed.RoundTrip.Milliseconds())
		}
	}
}

// SetupWithManager registers the controller, its indexes and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &cybercoopv1alpha1.CooperationChannel{}, focalPointIndex,
		func(o client.Object) []string {
			return []string{o.(*cybercoopv1alpha1.CooperationChannel).Spec.FocalPointRef.Name}
		}); err != nil {
		return err
	}
	if err := indexer.IndexField(context.Background(), &cybercoopv1alpha1.CooperationChannel{}, trustSecretIndex,
		func(o client.Object) []string {
			if ref := o.(*cybercoopv1alpha1.CooperationChannel).Spec.Peer.TrustBundle.SecretRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	secretNames, err := r.secretNamesCache(mgr)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Spec and annotation changes (force-renew), and deletion; status-only updates,
		// which every probe makes, are ignored.
		For(&cybercoopv1alpha1.CooperationChannel{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The client certificate Secret, which holds the peer's CAs too: edits and
		// deletions are tampering to repair (a deletion loses no trust the next probe
		// cannot learn again). Its creation is not watched: the reconcile that
		// created it is the one that would be woken, with nothing left to do
		// (test/perf: 192 channels created at once cost 388 reconciles, not 192),
		// and the manager's start lists every channel anyway.
		Owns(&corev1.Secret{}, builder.WithPredicates(notCreated)).
		// The FocalPoint: its appearance (FocalPointNotFound recovers), its country
		// and its certificate settings.
		Watches(&cybercoopv1alpha1.FocalPoint{}, handler.EnqueueRequestsFromMapFunc(r.channelsOfFocalPoint)).
		// The operator's own Secrets: the FocalPoint's CA and trust bundle Secrets (a
		// key replacement's phase says which CA the client certificate comes from, and
		// the CA being issued lets the first client certificate be issued), and one a
		// channel's spec.peer.trustBundle.secretRef names.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.channelsOfOperatorSecret)).
		// The Secret spec.peer.trustBundle.secretRef names, when it is not the
		// operator's: a person puts the peer's CAs there, and the channel follows each
		// edit.
		WatchesRawSource(source.Kind(secretNames, secretMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(r.channelsOfTrustSecret))).
		WithOptions(controller.Options{MaxConcurrentReconciles: Workers}).
		Named("cooperationchannel").
		Complete(r)
}

// Workers is how many channels are reconciled side by side. A reconcile is a chain
// of waits, not of work: the client certificate's Secret written, the peer probed
// (up to 10 seconds for an unreachable one, which so delays no other channel), the
// status written. Measured with test/perf on 2 CPUs, 192
// channels created at once: Ready in 1.36-1.39 s with 8 workers, 1.48 s with 6,
// 1.62-1.80 s with 4. test/perf gives its floor the same number of workers.
const Workers = 8

// notCreated passes the updates and deletions of a channel's own children, not
// their creation, which only the channel's own reconcile does.
var notCreated = predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}

// secretNamesCache is a cache of the names of every Secret that is not the
// operator's, without data, labels or annotations, started with the manager. The
// manager's cache holds only the operator's own Secrets (internal/manageropts), so a
// watch through it never sees the unlabelled Secret a person made for
// spec.peer.trustBundle.secretRef; watching every
// Secret in full would keep the cluster's keys in the operator's memory. Names and
// resourceVersions are enough to know that a referenced Secret changed: the channel
// then reads its data from the API server. Polling it instead would be a requeue of
// something that can be watched.
func (r *Reconciler) secretNamesCache(mgr ctrl.Manager) (cache.Cache, error) {
	if r.SecretNames != nil {
		return r.SecretNames, nil
	}
	return manageropts.NamesCache(mgr, r.Namespaces)
}

// secretMetadata is a Secret's metadata only, the type the names cache watches.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

func (r *Reconciler) channelsOfFocalPoint(ctx context.Context, o client.Object) []reconcile.Request {
	return r.channels(ctx, o.GetNamespace(), focalPointIndex, o.GetName())
}

// channelsOfOperatorSecret maps one of the operator's own Secrets (the label-filtered
// cache holds them, the names cache does not) to the channels it concerns: a
// FocalPoint's CA or trust bundle Secret to the channels of that FocalPoint (the
// Secret's controller), and any Secret to the channels whose
// spec.peer.trustBundle.secretRef names it. The workqueue drops a channel named twice.
func (r *Reconciler) channelsOfOperatorSecret(ctx context.Context, o client.Object) []reconcile.Request {
	out := r.channels(ctx, o.GetNamespace(), trustSecretIndex, o.GetName())
	if role := o.GetLabels()[certs.RoleLabel]; role != "ca" && role != "trust-bundle" {
		return out
	}
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "FocalPoint" && ref.Controller != nil && *ref.Controller {
			return append(out, r.channels(ctx, o.GetNamespace(), focalPointIndex, ref.Name)...)
		}
	}
	return out
}

func (r *Reconciler) channelsOfTrustSecret(ctx context.Context, o *metav1.PartialObjectMetadata) []reconcile.Request {
	return r.channels(ctx, o.GetNamespace(), trustSecretIndex, o.GetName())
}

func (r *Reconciler) channels(ctx context.Context, namespace, index, value string) []reconcile.Request {
	list := &cybercoopv1alpha1.CooperationChannelList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}
