// Package conventionprofile reconciles ConventionProfile resources: a State Party's
// declarations under the convention, whose status is the article-by-article
// compliance report. The report is computed by internal/compliance from the
// namespace's FocalPoints, EvidenceVaults, CooperationChannels and the gateways'
// Deployments and disruption budgets; this controller only gathers them and writes
// the result. It is recomputed whenever one of them changes (watches), and at the
// time a result changes on its own (a certificate reaching its renewal time, a
// verification falling due, a new roster week); it provisions nothing.
package conventionprofile

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/compliance"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// Reconciler computes ConventionProfiles' compliance reports.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// Gateway is what the gateway enforces per request type; the zero value means
	// this release's gateway (compliance.GatewayRulesOfThisRelease).
	Gateway compliance.GatewayRules
}

// scope is what one reconcile shares.
type scope struct {
	*reconciler.Base
	profile *cybercoopv1alpha1.ConventionProfile
	// inputs are the namespace's resources; readErr says which could not be read
	// (the report then keeps its last controls).
	inputs  compliance.Inputs
	readErr error
	// previous are the controls as stored before this reconcile, for the events.
	previous []cybercoopv1alpha1.ComplianceControl
}

// +kubebuilder:rbac:groups=cybercoop.io,resources=conventionprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=conventionprofiles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cybercoop.io,resources=focalpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=evidencevaults,verbs=get;list;watch
// +kubebuilder:rbac:groups=cybercoop.io,resources=cooperationchannels,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile recomputes one ConventionProfile's report.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.kind().Reconcile(ctx, req)
}

// kind is the profile's reconcile: read the inputs, compute the report. No finalizer
// and no children: the report lives in status only.
func (r *Reconciler) kind() *reconciler.Kind[*cybercoopv1alpha1.ConventionProfile, *scope] {
	return &reconciler.Kind[*cybercoopv1alpha1.ConventionProfile, *scope]{
		Client: r.Client,
		Clock:  r.Clock,
		New:    func() *cybercoopv1alpha1.ConventionProfile { return &cybercoopv1alpha1.ConventionProfile{} },
		NewScope: func(p *cybercoopv1alpha1.ConventionProfile, now time.Time) *scope {
			return &scope{Base: &reconciler.Base{Now: now}, profile: p, previous: p.Status.DeepCopy().Controls}
		},
		Phases: []reconciler.Phase[*scope]{
			{Name: "inputs", Run: r.readInputs},
		},
		Status: computeStatus,
		Report: r.report,
		Forget: func(key types.NamespacedName) {
			metrics.ForgetComplianceControls(key.Namespace, key.Name)
		},
	}
}

// readInputs lists the namespace's resources the report is computed from, from the
// manager's cache.
func (r *Reconciler) readInputs(ctx context.Context, s *scope) error {
	ns := client.InNamespace(s.profile.Namespace)
	fps := &cybercoopv1alpha1.FocalPointList{}
	evs := &cybercoopv1alpha1.EvidenceVaultList{}
	ccs := &cybercoopv1alpha1.CooperationChannelList{}
	deps := &appsv1.DeploymentList{}
	pdbs := &policyv1.PodDisruptionBudgetList{}
	for what, list := range map[string]client.ObjectList{
		"FocalPoints": fps, "EvidenceVaults": evs, "CooperationChannels": ccs, "Deployments": deps, "PodDisruptionBudgets": pdbs,
	} {
		if err := r.List(ctx, list, ns); err != nil {
			s.readErr = fmt.Errorf("listing the namespace's %s: %w", what, err)
			return s.readErr
		}
	}
	rules := r.Gateway
	if rules.Intrusive == nil || rules.AuthorisationRequired == nil {
		rules = compliance.GatewayRulesOfThisRelease()
	}
	s.inputs = compliance.Inputs{
		Profile: s.profile, FocalPoints: fps.Items, Vaults: evs.Items, Channels: ccs.Items,
		Deployments: deps.Items, DisruptionBudgets: pdbs.Items, Gateway: rules,
	}
	return nil
}

// report publishes the controls' results as metrics and records an event for each
// control that started to fail or to pass.
func (r *Reconciler) report(_ context.Context, s *scope) {
	results := make(map[string]float64, len(s.profile.Status.Controls))
	for _, c := range s.profile.Status.Controls {
		results[c.ID] = controlValue(c.Result)
	}
	metrics.SetComplianceControls(s.profile.Namespace, s.profile.Name, results)
	if r.Recorder == nil {
		return
	}
	before := map[string]cybercoopv1alpha1.ControlResult{}
	for _, c := range s.previous {
		before[c.ID] = c.Result
	}
	for _, c := range s.profile.Status.Controls {
		was, known := before[c.ID]
		switch {
		case c.Result == was:
		case c.Result == cybercoopv1alpha1.ControlFail:
			r.Recorder.Eventf(s.profile, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventControlFailed, "ComputeReport",
				"%s (art. %s UN, %s Budapest) fails: %s: %s", c.ID, c.Article.UN, c.Article.Budapest, c.Reason, truncate(c.Message, 512))
		case c.Result == cybercoopv1alpha1.ControlPass && known:
			r.Recorder.Eventf(s.profile, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventControlPassed, "ComputeReport",
				"%s (art. %s UN, %s Budapest) passes again: %s", c.ID, c.Article.UN, c.Article.Budapest, truncate(c.Message, 512))
		}
	}
}

// controlValue is a control's result as the value of cybercoop_compliance_control_result.
func controlValue(result cybercoopv1alpha1.ControlResult) float64 {
	switch result {
	case cybercoopv1alpha1.ControlPass:
		return metrics.ControlPassValue
	case cybercoopv1alpha1.ControlFail:
		return metrics.ControlFailValue
	default:
		return metrics.ControlUnknownValue
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// SetupWithManager registers the controller and its watches. Status changes of the
// inputs matter (a peer becoming unreachable, a verification failing), so their
// watches have no generation filter; a recomputation that comes out the same writes
// nothing.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	toProfiles := handler.EnqueueRequestsFromMapFunc(r.profilesOfNamespace)
	return ctrl.NewControllerManagedBy(mgr).
		// The declarations; the report's own writes are status-only and ignored.
		For(&cybercoopv1alpha1.ConventionProfile{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The point of contact: roster, services, languages, replicas, certificates.
		Watches(&cybercoopv1alpha1.FocalPoint{}, toProfiles).
		// The evidence vaults: retention, verification results, certificates.
		Watches(&cybercoopv1alpha1.EvidenceVault{}, toProfiles).
		// The channels: reachability, peer CAs, terms, request types, certificates.
		Watches(&cybercoopv1alpha1.CooperationChannel{}, toProfiles).
		// The gateways' Deployments (available replicas); only those a FocalPoint controls.
		Watches(&appsv1.Deployment{}, toProfiles, builder.WithPredicates(predicate.NewPredicateFuncs(controlledByFocalPoint))).
		// The gateways' disruption budgets (the manager caches the operator's own only).
		Watches(&policyv1.PodDisruptionBudget{}, toProfiles).
		Named("conventionprofile").
		Complete(r)
}

func controlledByFocalPoint(o client.Object) bool {
	ref := metav1.GetControllerOf(o)
	return ref != nil && ref.Kind == "FocalPoint" && ref.APIVersion == cybercoopv1alpha1.GroupVersion.String()
}

// profilesOfNamespace maps a change of an input to every ConventionProfile of its
// namespace (normally one).
func (r *Reconciler) profilesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &cybercoopv1alpha1.ConventionProfileList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}
