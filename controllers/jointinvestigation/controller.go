// Package jointinvestigation reconciles JointInvestigations (article 48): it
// reports each party's channel and whether it is reachable, what was shared and
// fetched (from the FocalPoint's gateway), and when the investigation ends. The
// FocalPoint passes the investigation to its gateway, which shares the evidence.
package jointinvestigation

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// defaultRefreshInterval is how often what was shared and fetched is read again.
const defaultRefreshInterval = 5 * time.Minute

// Reconciler reports JointInvestigations.
type Reconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// GatewayEndpoint, as for CooperationChannels: the FocalPoint's own gateway
	// when the operator runs outside the cluster.
	GatewayEndpoint func(fp *cybercoopv1alpha1.FocalPoint) (endpoint, serverName string)
	// RefreshInterval is how often the counts are read; zero means every 5 minutes.
	RefreshInterval time.Duration

	// lastRead is when each JointInvestigation's counts were last read from the
	// gateway: other reconciles (a channel's reachability changing) do not ask again.
	lastRead sync.Map // types.NamespacedName -> time.Time
}

type scope struct {
	*reconciler.Base
	ji       *cybercoopv1alpha1.JointInvestigation
	fp       *cybercoopv1alpha1.FocalPoint
	channels map[string]*cybercoopv1alpha1.CooperationChannel
	// summary is the gateway's count for this case; nil when it was not read.
	summary *wire.JointSummary
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=jointinvestigations,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=jointinvestigations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints;cooperationchannels,verbs=get;list;watch

// Reconcile reports one JointInvestigation.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return (&reconciler.Kind[*cybercoopv1alpha1.JointInvestigation, *scope]{
		Client: r.Client,
		Clock:  r.Clock,
		New:    func() *cybercoopv1alpha1.JointInvestigation { return &cybercoopv1alpha1.JointInvestigation{} },
		NewScope: func(ji *cybercoopv1alpha1.JointInvestigation, now time.Time) *scope {
			return &scope{Base: &reconciler.Base{Now: now}, ji: ji}
		},
		Phases: []reconciler.Phase[*scope]{
			{Name: "focal point and channels", Run: r.readInputs},
			{Name: "shared", Run: r.readShared},
		},
		Status: computeStatus,
	}).Reconcile(ctx, req)
}

func (r *Reconciler) readInputs(ctx context.Context, s *scope) error {
	fp := &cybercoopv1alpha1.FocalPoint{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.ji.Namespace, Name: s.ji.Spec.FocalPointRef.Name}, fp)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		s.fp = fp
	}
	var list cybercoopv1alpha1.CooperationChannelList
	if err := r.List(ctx, &list, client.InNamespace(s.ji.Namespace)); err != nil {
		return err
	}
	s.channels = map[string]*cybercoopv1alpha1.CooperationChannel{}
	for i := range list.Items {
		s.channels[list.Items[i].Name] = &list.Items[i]
	}
	return nil
}

// readShared asks the FocalPoint's gateway what was shared for the case and
// fetched by whom. A gateway that does not answer leaves the counts as they were.
func (r *Reconciler) readShared(ctx context.Context, s *scope) error {
	if s.ji.Spec.EndDate != nil && s.Now.Before(s.ji.Spec.EndDate.Time) {
		s.RequeueAt(s.ji.Spec.EndDate.Time)
	}
	if s.fp == nil {
		return nil
	}
	refreshInterval := r.RefreshInterval
	if refreshInterval <= 0 {
		refreshInterval = defaultRefreshInterval
	}
	key := types.NamespacedName{Namespace: s.ji.Namespace, Name: s.ji.Name}
	if last, ok := r.lastRead.Load(key); ok && s.ji.Status.SharedItems != nil && s.Now.Sub(last.(time.Time)) < refreshInterval && s.Now.After(last.(time.Time)) {
		s.RequeueAt(last.(time.Time).Add(refreshInterval))
		return nil
	}
	s.RequeueAt(s.Now.Add(refreshInterval))
	endpoint, serverName := cooperationchannel.GatewayEndpointOf(s.fp, r.GatewayEndpoint)
	sum, err := cooperationchannel.FetchSummary(ctx, r.Client, s.fp, endpoint, serverName)
	if err != nil {
		log.FromContext(ctx).V(1).Info("the gateway's summary could not be read; the shared counts are kept", "error", err.Error())
		return nil
	}
	for i := range sum.Joint {
		if sum.Joint[i].CaseID == s.ji.Spec.CaseID {
			s.summary = &sum.Joint[i]
		}
	}
	if s.summary == nil {
		s.summary = &wire.JointSummary{CaseID: s.ji.Spec.CaseID} // not passed to the gateway yet, or nothing shared
	}
	r.lastRead.Store(key, s.Now)
	return nil
}

func computeStatus(s *scope, _ error) {
	ji, st := s.ji, &s.ji.Status
	active := reconciler.NewCondition(cybercoopv1alpha1.ConditionActive, metav1.ConditionTrue, cybercoopv1alpha1.ReasonBeforeEndDate,
		"the parties may fetch what is shared until %s", ji.Spec.EndDate.UTC().Format(time.RFC3339))
	if !s.Now.Before(ji.Spec.EndDate.Time) {
		active = reconciler.NewCondition(cybercoopv1alpha1.ConditionActive, metav1.ConditionFalse, cybercoopv1alpha1.ReasonEnded,
			"ended at %s: the gateway shares nothing for it any more", ji.Spec.EndDate.UTC().Format(time.RFC3339))
	}
	var missing, providers []string
	parties := make([]cybercoopv1alpha1.JointInvestigationPartyStatus, 0, len(ji.Spec.Parties))
	for _, p := range ji.Spec.Parties {
		ps := cybercoopv1alpha1.JointInvestigationPartyStatus{Channel: p.Channel, Reachable: metav1.ConditionUnknown}
		if prev := previousParty(st.Parties, p.Channel); prev != nil {
			ps.Fetched = prev.Fetched
		}
		cc := s.channels[p.Channel]
		switch {
		case cc == nil:
			missing = append(missing, p.Channel)
		case cc.Spec.Peer.Provider != "":
			// Article 48 is between States: a provider answers orders, it
			// is not a party to the investigation.
			providers = append(providers, p.Channel)
		default:
			ps.Country = cc.Spec.Peer.Country
			if c := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable); c != nil {
				ps.Reachable = c.Status
			}
			if s.summary != nil {
				ps.Fetched = ptr.To(s.summary.Fetched[string(cc.Spec.Peer.Country)])
			}
		}
		parties = append(parties, ps)
	}
	st.Parties = parties
	if s.summary != nil {
		st.SharedItems = ptr.To(s.summary.Items)
	}
	known := reconciler.NewCondition(cybercoopv1alpha1.ConditionPartiesKnown, metav1.ConditionTrue, cybercoopv1alpha1.ReasonAllPartiesKnown,
		"every party has a CooperationChannel: %d parties", len(parties))
	switch {
	case s.fp == nil:
		known = reconciler.NewCondition(cybercoopv1alpha1.ConditionPartiesKnown, metav1.ConditionFalse, cybercoopv1alpha1.ReasonFocalPointNotFound,
			"no FocalPoint %s in this namespace: nothing is shared", ji.Spec.FocalPointRef.Name)
	case len(missing) > 0:
		known = reconciler.NewCondition(cybercoopv1alpha1.ConditionPartiesKnown, metav1.ConditionFalse, cybercoopv1alpha1.ReasonPartyChannelMissing,
			"no CooperationChannel %s in this namespace: that party cannot fetch anything", strings.Join(missing, ", "))
	case len(providers) > 0:
		known = reconciler.NewCondition(cybercoopv1alpha1.ConditionPartiesKnown, metav1.ConditionFalse, cybercoopv1alpha1.ReasonPartyNotAState,
			"CooperationChannel %s leads to a service provider, not a State: the parties to a joint investigation are States (article 48), and a provider fetches nothing", strings.Join(providers, ", "))
	}
	ready := reconciler.ReadyCondition(nil, fmt.Sprintf("case %s is shared with %d parties until %s", ji.Spec.CaseID, len(parties),
		ji.Spec.EndDate.UTC().Format(time.RFC3339)), active, known)
	reconciler.SetConditions(&st.Conditions, ji.Generation, active, known, ready)
	st.ObservedGeneration = ji.Generation
}

func reachability(cc *cybercoopv1alpha1.CooperationChannel) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

func previousParty(parties []cybercoopv1alpha1.JointInvestigationPartyStatus, channel string) *cybercoopv1alpha1.JointInvestigationPartyStatus {
	for i := range parties {
		if parties[i].Channel == channel {
			return &parties[i]
		}
	}
	return nil
}

// SetupWithManager registers the controller: JointInvestigations, and the
// FocalPoints and channels of their namespace.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	inNamespace := func(ctx context.Context, o client.Object) []reconcile.Request {
		var list cybercoopv1alpha1.JointInvestigationList
		if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, ji := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ji.Namespace, Name: ji.Name}})
		}
		return out
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&cybercoopv1alpha1.JointInvestigation{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A channel appearing, going, or changing reachability.
		Watches(&cybercoopv1alpha1.CooperationChannel{}, handler.EnqueueRequestsFromMapFunc(inNamespace),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				before, after := e.ObjectOld.(*cybercoopv1alpha1.CooperationChannel), e.ObjectNew.(*cybercoopv1alpha1.CooperationChannel)
				return reachability(before) != reachability(after) || before.Spec.Peer.Country != after.Spec.Peer.Country
			}})).
		Watches(&cybercoopv1alpha1.FocalPoint{}, handler.EnqueueRequestsFromMapFunc(inNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("jointinvestigation").
		Complete(r)
}
