// Package compliance computes a State Party's article-by-article compliance report
// from the resources of its namespace: one control per obligation of the convention
// the infrastructure can show, each Pass, Fail or Unknown with a reason, a message
// naming what was found, and the resources it looked at.
//
// Everything here is a pure function of its inputs and the time: the caller reads the
// resources (the ConventionProfile controller does, from its cache) and the package
// neither reads nor writes anything. Evaluate also says when a result may change
// with no input changing (a certificate reaching its renewal time, a verification
// falling due, a new roster week), so the caller requeues then instead of polling.
package compliance

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// Control ids, in the order of the report.
const (
	ControlRoster                = "roster-24x7"
	ControlGateway               = "gateway-available"
	ControlPreservationOffered   = "services-preservation"
	ControlCoordination          = "central-authority-coordination"
	ControlCertificates          = "certificates-valid"
	ControlVaultRetention        = "vault-retention"
	ControlVaultIntegrity        = "vault-integrity"
	ControlChannelsReachable     = "channels-reachable"
	ControlDataProtection        = "data-protection"
	ControlLanguages             = "languages-declared"
	ControlRequestTypesAccepted  = "request-types-accepted"
	ControlIntrusiveAuthorised   = "intrusive-authorisation"
	ControlRequestsNotOverdue    = "requests-not-overdue"
	maxResources                 = 256
	maxMessage                   = 4096
	minimumPreservationDays      = 60
	defaultVaultRetentionDays    = 90
	defaultVerificationInterval  = 24 * time.Hour
	maxVerificationGrace         = time.Hour
	certificateRenewalGrace      = time.Hour
	defaultGatewayReplicas       = 2
	minimumGatewayReplicas       = 2
	gatewayDeploymentDescription = "the gateway Deployment"
)

// Inputs are the namespace's resources the report is computed from.
type Inputs struct {
	// Profile is the ConventionProfile the report is for.
	Profile *v1.ConventionProfile
	// FocalPoints, Vaults and Channels are every one of their kind in the namespace;
	// the report looks at the FocalPoints of the profile's country and at the vaults
	// and channels that name one of them.
	FocalPoints []v1.FocalPoint
	Vaults      []v1.EvidenceVault
	Channels    []v1.CooperationChannel
	// Deployments and DisruptionBudgets are those of the namespace; a FocalPoint's
	// gateway is the Deployment it controls, and a budget counts when it selects the
	// gateway's pods.
	Deployments       []appsv1.Deployment
	DisruptionBudgets []policyv1.PodDisruptionBudget
	// Gateway is what the gateway enforces per request type.
	Gateway GatewayRules
}

// GatewayRules is what the gateway enforces per request type: which types are
// intrusive, and for which its schema requires an authorisation (reference and
// expiry) in every request.
type GatewayRules struct {
	Intrusive             func(v1.RequestType) bool
	AuthorisationRequired func(v1.RequestType) bool
}

// Result is the report as computed now.
type Result struct {
	// Controls are every control, in report order, without lastTransitionTime (Merge
	// sets it).
	Controls []v1.ComplianceControl
	// NextCheck is the earliest time a result may change though no input does; zero
	// when none will.
	NextCheck time.Time
}

// evaluation is one control being computed: the most severe finding decides the
// result, and the first finding of that severity names the reason.
type evaluation struct {
	control   v1.ComplianceControl
	findings  []finding
	resources []v1.ControlResource
	nextCheck *time.Time
}

type finding struct {
	result v1.ControlResult
	text   string
}

func newEvaluation(id, description, un, budapest string, next *time.Time) *evaluation {
	return &evaluation{control: v1.ComplianceControl{
		ID: id, Description: description, Article: v1.ArticleReference{UN: un, Budapest: budapest},
	}, nextCheck: next}
}

// severity orders results: a Fail outweighs an Unknown, which outweighs a Pass.
func severity(r v1.ControlResult) int {
	switch r {
	case v1.ControlFail:
		return 2
	case v1.ControlUnknown:
		return 1
	}
	return 0
}

// look records a resource the control looked at.
func (e *evaluation) look(kind, name string) {
	r := v1.ControlResource{Kind: kind, Name: name}
	if !slices.Contains(e.resources, r) {
		e.resources = append(e.resources, r)
	}
}

// find records a finding.
func (e *evaluation) find(result v1.ControlResult, reason, format string, args ...any) {
	if e.control.Result == "" || severity(result) > severity(e.control.Result) {
		e.control.Result, e.control.Reason = result, reason
	}
	e.findings = append(e.findings, finding{result, fmt.Sprintf(format, args...)})
}

// pass records what passed, shown only when nothing failed or stayed unknown.
func (e *evaluation) pass(reason, format string, args ...any) {
	e.find(v1.ControlPass, reason, format, args...)
}

// recheckAt asks for the report to be computed again at t.
func (e *evaluation) recheckAt(t time.Time) {
	if !t.IsZero() && (e.nextCheck.IsZero() || t.Before(*e.nextCheck)) {
		*e.nextCheck = t
	}
}

// done is the control: its message lists the findings of its result's severity
// first, then the lesser ones that are not passes.
func (e *evaluation) done() v1.ComplianceControl {
	c := e.control
	if c.Result == "" {
		c.Result, c.Reason = v1.ControlUnknown, "NothingToCheck"
		e.findings = []finding{{v1.ControlUnknown, "nothing was found to check"}}
	}
	var texts []string
	for sev := severity(c.Result); sev >= 0; sev-- {
		for _, f := range e.findings {
			if severity(f.result) == sev && (sev > 0 || c.Result == v1.ControlPass) {
				texts = append(texts, f.text)
			}
		}
	}
	c.Message = truncate(strings.Join(texts, "; "), maxMessage)
	slices.SortStableFunc(e.resources, func(a, b v1.ControlResource) int {
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(e.resources) > maxResources {
		e.resources = e.resources[:maxResources]
	}
	c.Resources = e.resources
	return c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = " …"
	cut := n - len(more)
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// scope is the part of the namespace the report looks at.
type scope struct {
	in          Inputs
	now         time.Time
	focalPoints []*v1.FocalPoint
	vaults      []*v1.EvidenceVault
	channels    []*v1.CooperationChannel
	others      []string // countries of FocalPoints not the profile's
}

func newScope(in Inputs, now time.Time) *scope {
	s := &scope{in: in, now: now}
	names := map[string]bool{}
	for i := range in.FocalPoints {
		fp := &in.FocalPoints[i]
		if fp.Spec.ServiceProvider != nil {
			continue // a service provider's endpoint in the cluster is not the State's point of contact
		}
		if fp.Spec.Country == in.Profile.Spec.Country {
			s.focalPoints = append(s.focalPoints, fp)
			names[fp.Name] = true
		} else {
			s.others = append(s.others, string(fp.Spec.Country))
		}
	}
	for i := range in.Vaults {
		if names[in.Vaults[i].Spec.FocalPointRef.Name] {
			s.vaults = append(s.vaults, &in.Vaults[i])
		}
	}
	for i := range in.Channels {
		if names[in.Channels[i].Spec.FocalPointRef.Name] {
			s.channels = append(s.channels, &in.Channels[i])
		}
	}
	slices.SortFunc(s.focalPoints, byName)
	slices.SortFunc(s.vaults, byName)
	slices.SortFunc(s.channels, byName)
	return s
}

func byName[T metav1.Object](a, b T) int { return strings.Compare(a.GetName(), b.GetName()) }

// noFocalPoint records that the profile's country has no point of contact here.
func (s *scope) noFocalPoint(e *evaluation) {
	msg := fmt.Sprintf("no FocalPoint of %s in the namespace", s.in.Profile.Spec.Country)
	if len(s.others) > 0 {
		slices.Sort(s.others)
		msg += fmt.Sprintf(" (there are FocalPoints of %s, another State)", strings.Join(slices.Compact(s.others), ", "))
	}
	e.find(v1.ControlFail, "NoFocalPoint", "%s", msg)
}

// Evaluate computes every control at now.
func Evaluate(in Inputs, now time.Time) Result {
	s := newScope(in, now)
	var next time.Time
	controls := []func(*scope, *time.Time) v1.ComplianceControl{
		rosterControl,
		gatewayControl,
		preservationControl,
		coordinationControl,
		certificatesControl,
		vaultRetentionControl,
		vaultIntegrityControl,
		channelsReachableControl,
		dataProtectionControl,
		languagesControl,
		requestTypesControl,
		intrusiveControl,
		requestsOverdueControl,
	}
	out := Result{}
	for _, control := range controls {
		out.Controls = append(out.Controls, control(s, &next))
	}
	out.NextCheck = next
	return out
}

// conditionOf is the condition of type t in conds, nil when absent.
func conditionOf(conds []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(conds, t)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
