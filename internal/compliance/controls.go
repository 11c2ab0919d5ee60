package compliance

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/roster"
)

const (
	kindFocalPoint = "FocalPoint"
	kindVault      = "EvidenceVault"
	kindChannel    = "CooperationChannel"
	kindProfile    = "ConventionProfile"
	kindDeployment = "Deployment"
	kindBudget     = "PodDisruptionBudget"
)

// rosterControl: someone is on call for every minute of the current week (art. 41:
// a point of contact available 24 hours a day, 7 days a week). Coverage is computed
// from the spec, so it does not wait for the FocalPoint's own status.
func rosterControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlRoster, "The 24/7 point of contact's roster has someone on call for every minute of the week (168 h, no gap).",
		"41", "35", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	for _, fp := range s.focalPoints {
		e.look(kindFocalPoint, fp.Name)
		loc, err := time.LoadLocation(fp.Spec.Roster.TimeZone)
		if err != nil {
			e.find(v1.ControlFail, "InvalidTimeZone", "FocalPoint %s: spec.roster.timeZone %q is not in the time zone database", fp.Name, fp.Spec.Roster.TimeZone)
			continue
		}
		shifts, err := roster.ShiftsOf(fp.Spec.Roster)
		if err != nil {
			e.find(v1.ControlFail, "InvalidRoster", "FocalPoint %s: %v", fp.Name, err)
			continue
		}
		cov := roster.Compute(shifts, loc, s.now)
		e.recheckAt(roster.NextWeekStart(s.now, loc))
		if !cov.Complete() {
			first := cov.Gaps[0]
			e.find(v1.ControlFail, "CoverageGaps", "FocalPoint %s: %s of %s hours covered in the week starting %s (%s); %d gap(s), the first %s to %s",
				fp.Name, roster.FormatHours(cov.Covered), roster.FormatHours(cov.Week()), cov.WeekStart.Format("2006-01-02"),
				fp.Spec.Roster.TimeZone, len(cov.Gaps), first.Start.Format("Mon 15:04"), first.End.Format("Mon 15:04"))
			continue
		}
		e.pass("FullCoverage", "FocalPoint %s: someone is on call for all %s hours of the week starting %s (%s)",
			fp.Name, roster.FormatHours(cov.Week()), cov.WeekStart.Format("2006-01-02"), fp.Spec.Roster.TimeZone)
	}
	return e.done()
}

// gatewayControl: the point of contact is reachable when one pod is disrupted: at
// least two gateway replicas declared and available, and a disruption budget that
// keeps one of them up (art. 41).
func gatewayControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlGateway, "The point of contact's gateway runs at least 2 available replicas and a PodDisruptionBudget keeps one up during voluntary disruptions.",
		"41", "35", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	for _, fp := range s.focalPoints {
		e.look(kindFocalPoint, fp.Name)
		declared := int32(defaultGatewayReplicas)
		if fp.Spec.Gateway.Replicas != nil {
			declared = *fp.Spec.Gateway.Replicas
		}
		if declared < minimumGatewayReplicas {
			e.find(v1.ControlFail, "TooFewReplicas", "FocalPoint %s: spec.gateway.replicas is %d; at least %d keep the point of contact up while one pod is replaced",
				fp.Name, declared, minimumGatewayReplicas)
			continue
		}
		dep := gatewayDeployment(s.in.Deployments, fp)
		if dep == nil {
			e.find(v1.ControlFail, "GatewayMissing", "FocalPoint %s: %s does not exist (yet)", fp.Name, gatewayDeploymentDescription)
			continue
		}
		e.look(kindDeployment, dep.Name)
		if dep.Status.AvailableReplicas < minimumGatewayReplicas {
			e.find(v1.ControlFail, "GatewayUnavailable", "FocalPoint %s: %d of %d gateway replicas available in Deployment %s; at least %d must be",
				fp.Name, dep.Status.AvailableReplicas, declared, dep.Name, minimumGatewayReplicas)
			continue
		}
		pdb, budgetProblem := disruptionBudget(s.in.DisruptionBudgets, dep)
		if pdb == nil {
			e.find(v1.ControlFail, "NoDisruptionBudget", "FocalPoint %s: no PodDisruptionBudget selects the gateway pods of Deployment %s", fp.Name, dep.Name)
			continue
		}
		e.look(kindBudget, pdb.Name)
		if budgetProblem != "" {
			e.find(v1.ControlFail, "DisruptionBudgetAllowsAll", "FocalPoint %s: PodDisruptionBudget %s %s", fp.Name, pdb.Name, budgetProblem)
			continue
		}
		e.pass("GatewayAvailable", "FocalPoint %s: %d of %d gateway replicas available; PodDisruptionBudget %s keeps one up",
			fp.Name, dep.Status.AvailableReplicas, declared, pdb.Name)
	}
	return e.done()
}

// gatewayDeployment is the Deployment fp controls, nil when there is none.
func gatewayDeployment(deps []appsv1.Deployment, fp *v1.FocalPoint) *appsv1.Deployment {
	for i := range deps {
		if ref := metav1.GetControllerOf(&deps[i]); ref != nil && ref.Kind == kindFocalPoint && ref.Name == fp.Name &&
			(ref.UID == "" || fp.UID == "" || ref.UID == fp.UID) {
			return &deps[i]
		}
	}
	return nil
}

// disruptionBudget is a budget selecting dep's pods, preferring one that keeps a pod
// up; problem says why the returned one does not ("" when it does).
func disruptionBudget(pdbs []policyv1.PodDisruptionBudget, dep *appsv1.Deployment) (*policyv1.PodDisruptionBudget, string) {
	var found *policyv1.PodDisruptionBudget
	var problem string
	podLabels := labels.Set(dep.Spec.Template.Labels)
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	for i := range pdbs {
		p := &pdbs[i]
		if p.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) {
			continue
		}
		why := budgetAllowsAll(p, replicas)
		if why == "" {
			return p, ""
		}
		if found == nil {
			found, problem = p, why
		}
	}
	return found, problem
}

// budgetAllowsAll says why p lets every one of replicas pods be evicted at once, ""
// when it keeps at least one.
func budgetAllowsAll(p *policyv1.PodDisruptionBudget, replicas int32) string {
	switch {
	case p.Spec.MinAvailable != nil:
		if n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, int(replicas), true); err == nil && n < 1 {
			return fmt.Sprintf("has minAvailable %s: every gateway pod may be evicted at once", p.Spec.MinAvailable.String())
		}
	case p.Spec.MaxUnavailable != nil:
		if n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(replicas), true); err == nil && n >= int(replicas) {
			return fmt.Sprintf("has maxUnavailable %s of %d replicas: every gateway pod may be evicted at once", p.Spec.MaxUnavailable.String(), replicas)
		}
	}
	return ""
}

// preservationControl: the point of contact offers expedited preservation, one of
// the kinds of immediate assistance article 41 lists.
func preservationControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlPreservationOffered, "The point of contact offers expedited preservation of stored electronic data among its services.",
		"41", "35", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	for _, fp := range s.focalPoints {
		e.look(kindFocalPoint, fp.Name)
		if !slices.Contains(fp.Spec.Services, v1.ServicePreservation) {
			e.find(v1.ControlFail, "PreservationNotOffered", "FocalPoint %s: spec.services does not include Preservation", fp.Name)
			continue
		}
		e.pass("PreservationOffered", "FocalPoint %s offers Preservation", fp.Name)
	}
	return e.done()
}

// coordinationControl: a point of contact that is not part of the central authority
// can coordinate with it on an expedited basis (art. 41).
func coordinationControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlCoordination, "The 24/7 point of contact belongs to the central authority, or the profile says how it coordinates with it on an expedited basis.",
		"41", "35", next)
	p := s.in.Profile
	e.look(kindProfile, p.Name)
	ca := p.Spec.CentralAuthority
	switch {
	case ca.PointOfContact == v1.PointOfContactPartOfCentralAuthority:
		e.pass("PartOfCentralAuthority", "the point of contact belongs to the central authority, %s", ca.Name)
	case ca.PointOfContact == v1.PointOfContactSeparate && strings.TrimSpace(ca.Coordination) != "":
		e.pass("CoordinationDeclared", "the point of contact is separate from the central authority, %s, and coordinates with it: %s", ca.Name, ca.Coordination)
	case ca.PointOfContact == v1.PointOfContactSeparate:
		e.find(v1.ControlFail, "CoordinationNotDeclared", "the point of contact is separate from the central authority, %s, and spec.centralAuthority.coordination does not say how they coordinate", ca.Name)
	default:
		e.find(v1.ControlFail, "PlacementNotDeclared", "spec.centralAuthority.pointOfContact does not say whether the point of contact belongs to the central authority")
	}
	return e.done()
}

// certified is a certificate status and the resource reporting it.
type certified struct {
	kind, name, role string
	cert             *v1.CertificateStatus
}

// certificatesControl: every certificate the operator issued for the State's
// services is valid now and due for renewal before it expires: the means of
// communication stay secure (arts. 40, 41).
func certificatesControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlCertificates, "Every certificate of the point of contact, its evidence vaults and its channels is valid and renews before it expires.",
		"40, 41", "27, 35", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	var all []certified
	type holder struct {
		kind, name string
		conds      []metav1.Condition
		certs      []certified
	}
	var holders []holder
	for _, fp := range s.focalPoints {
		h := holder{kind: kindFocalPoint, name: fp.Name, conds: fp.Status.Conditions}
		if c := fp.Status.Certificates; c != nil {
			h.certs = appendCerts(h.certs, kindFocalPoint, fp.Name, map[string]*v1.CertificateStatus{
				"CA": c.CA, "gateway serving": c.GatewayServing, "gateway vault client": c.GatewayVaultClient, "officer": c.Officer})
		}
		holders = append(holders, h)
	}
	for _, ev := range s.vaults {
		h := holder{kind: kindVault, name: ev.Name, conds: ev.Status.Conditions}
		if c := ev.Status.Certificates; c != nil {
			h.certs = appendCerts(h.certs, kindVault, ev.Name, map[string]*v1.CertificateStatus{
				"vault serving": c.Serving, "operator client": c.OperatorClient})
		}
		holders = append(holders, h)
	}
	for _, cc := range s.channels {
		h := holder{kind: kindChannel, name: cc.Name, conds: cc.Status.Conditions}
		if c := cc.Status.Certificates; c != nil {
			h.certs = appendCerts(h.certs, kindChannel, cc.Name, map[string]*v1.CertificateStatus{"channel client": c.Client})
		}
		holders = append(holders, h)
	}
	for _, h := range holders {
		e.look(h.kind, h.name)
		if cond := conditionOf(h.conds, v1.ConditionCertificateReady); cond != nil && cond.Status == metav1.ConditionFalse {
			e.find(v1.ControlFail, "CertificateNotReady", "%s %s: CertificateReady is False (%s): %s", h.kind, h.name, cond.Reason, cond.Message)
		}
		if len(h.certs) == 0 {
			e.find(v1.ControlUnknown, "CertificatesNotReported", "%s %s reports no certificate yet", h.kind, h.name)
		}
		all = append(all, h.certs...)
	}
	for _, c := range all {
		notBefore, notAfter, renewal := c.cert.NotBefore.Time, c.cert.NotAfter.Time, c.cert.RenewalTime.Time
		what := fmt.Sprintf("%s %s: the %s certificate (Secret %s, serial %s)", c.kind, c.name, c.role, c.cert.SecretName, c.cert.SerialNumber)
		switch {
		case !s.now.Before(notAfter):
			e.find(v1.ControlFail, "CertificateExpired", "%s expired at %s", what, rfc3339(notAfter))
		case s.now.Before(notBefore):
			e.find(v1.ControlFail, "CertificateNotYetValid", "%s is valid only from %s", what, rfc3339(notBefore))
			e.recheckAt(notBefore)
		case !renewal.Before(notAfter):
			e.find(v1.ControlFail, "RenewalAfterExpiry", "%s is renewed at %s, not before it expires at %s", what, rfc3339(renewal), rfc3339(notAfter))
			e.recheckAt(notAfter)
		case s.now.After(renewal.Add(certificateRenewalGrace)):
			e.find(v1.ControlFail, "RenewalOverdue", "%s was due for renewal at %s and is not renewed; it expires at %s", what, rfc3339(renewal), rfc3339(notAfter))
			e.recheckAt(notAfter)
		default:
			e.recheckAt(renewal.Add(certificateRenewalGrace))
		}
	}
	if len(all) > 0 {
		earliest := all[0].cert.NotAfter.Time
		for _, c := range all {
			if c.cert.NotAfter.Before(&metav1.Time{Time: earliest}) {
				earliest = c.cert.NotAfter.Time
			}
		}
		e.pass("CertificatesValid", "%d certificate(s) valid and renewed before expiry; the earliest expires at %s", len(all), rfc3339(earliest))
	}
	return e.done()
}

func appendCerts(out []certified, kind, name string, byRole map[string]*v1.CertificateStatus) []certified {
	roles := make([]string, 0, len(byRole))
	for role, c := range byRole {
		if c != nil {
			roles = append(roles, role)
		}
	}
	slices.Sort(roles)
	for _, role := range roles {
		out = append(out, certified{kind: kind, name: name, role: role, cert: byRole[role]})
	}
	return out
}

// vaultRetentionControl: evidence preserved at a peer's request is kept at least 60
// days (arts. 25, 42).
func vaultRetentionControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlVaultRetention, "An EvidenceVault serves each point of contact and keeps preserved evidence at least 60 days.",
		"25, 42", "16, 29", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	for _, fp := range s.focalPoints {
		e.look(kindFocalPoint, fp.Name)
		if !slices.ContainsFunc(s.vaults, func(ev *v1.EvidenceVault) bool { return ev.Spec.FocalPointRef.Name == fp.Name }) {
			e.find(v1.ControlFail, "NoVault", "FocalPoint %s has no EvidenceVault: preserved data has nowhere to be kept", fp.Name)
		}
	}
	for _, ev := range s.vaults {
		e.look(kindVault, ev.Name)
		days := retentionDays(ev)
		if days < minimumPreservationDays {
			e.find(v1.ControlFail, "RetentionTooShort", "EvidenceVault %s keeps evidence %d days; at least %d are required", ev.Name, days, minimumPreservationDays)
			continue
		}
		if ev.Spec.Storage != nil && ev.Spec.Storage.S3 != nil {
			storeLock(e, ev, days)
			continue
		}
		e.pass("RetentionSufficient", "EvidenceVault %s keeps evidence at least %d days", ev.Name, days)
	}
	return e.done()
}

// storeLock judges a vault that keeps evidence in S3: its retention passes as
// store-enforced once the vault has confirmed the bucket's Object Lock (COMPLIANCE
// mode: the store refuses early deletion whoever asks, the vault's own credentials
// and the cluster's administrators included); a bucket the vault refuses fails,
// since nothing can then be preserved.
func storeLock(e *evaluation, ev *v1.EvidenceVault, days int32) {
	bucket := ev.Spec.Storage.S3.Bucket
	cond := conditionOf(ev.Status.Conditions, v1.ConditionStorageBound)
	st := ev.Status.Storage
	switch {
	case cond != nil && cond.Status == metav1.ConditionFalse:
		e.find(v1.ControlFail, "StoreLockMissing", "EvidenceVault %s: bucket %s is refused (%s): %s", ev.Name, bucket, cond.Reason, cond.Message)
	case cond != nil && cond.Status == metav1.ConditionTrue && st != nil && st.LockMode == v1.StorageLockCompliance && st.Bucket == bucket:
		e.pass("RetentionStoreEnforced", "EvidenceVault %s keeps evidence at least %d days under the store's own lock: S3 Object Lock in COMPLIANCE mode on bucket %s "+
			"refuses to delete an object or shorten its retention before its retain-until date, whoever asks", ev.Name, days, bucket)
	default:
		e.find(v1.ControlUnknown, "StoreLockUnknown", "EvidenceVault %s: the vault has not yet confirmed the Object Lock of bucket %s", ev.Name, bucket)
	}
}

func retentionDays(ev *v1.EvidenceVault) int32 {
	if ev.Spec.Retention == nil || ev.Spec.Retention.MinimumDays == 0 {
		return defaultVaultRetentionDays
	}
	return ev.Spec.Retention.MinimumDays
}

// vaultIntegrityControl: what is preserved stays intact: each vault's last full
// verification passed within its schedule and its custody log only grew since the
// recorded checkpoint (arts. 25, 42).
func vaultIntegrityControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlVaultIntegrity, "Each EvidenceVault's last full verification passed within its schedule, and its custody log is consistent with the recorded checkpoint.",
		"25, 42", "16, 29", next)
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	} else if len(s.vaults) == 0 {
		e.find(v1.ControlFail, "NoVault", "no EvidenceVault serves a FocalPoint of %s", s.in.Profile.Spec.Country)
	}
	for _, ev := range s.vaults {
		e.look(kindVault, ev.Name)
		interval := defaultVerificationInterval
		if ev.Spec.Verification != nil && ev.Spec.Verification.Interval != nil && ev.Spec.Verification.Interval.Duration > 0 {
			interval = ev.Spec.Verification.Interval.Duration
		}
		grace := min(interval, maxVerificationGrace)
		cond := conditionOf(ev.Status.Conditions, v1.ConditionIntegrityVerified)
		last := ev.Status.LastVerification
		switch {
		case cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == v1.ReasonLogInconsistent:
			e.find(v1.ControlFail, "LogInconsistent", "EvidenceVault %s: the custody log is not consistent with the recorded checkpoint: %s", ev.Name, cond.Message)
		case last != nil && last.Result == "Failed":
			e.find(v1.ControlFail, "VerificationFailed", "EvidenceVault %s: the verification of %s failed with %d finding(s): %s",
				ev.Name, rfc3339(last.Time.Time), last.Findings, last.Message)
		case cond != nil && cond.Status == metav1.ConditionFalse:
			e.find(v1.ControlFail, "VerificationFailed", "EvidenceVault %s: IntegrityVerified is False (%s): %s", ev.Name, cond.Reason, cond.Message)
		case last == nil && s.now.After(ev.CreationTimestamp.Add(interval+grace)):
			e.find(v1.ControlFail, "VerificationOverdue", "EvidenceVault %s has never been verified, though created at %s with a verification every %s",
				ev.Name, rfc3339(ev.CreationTimestamp.Time), interval)
		case last == nil:
			e.find(v1.ControlUnknown, "NotVerifiedYet", "EvidenceVault %s has not finished its first verification", ev.Name)
			e.recheckAt(ev.CreationTimestamp.Add(interval + grace))
		case s.now.After(last.Time.Add(interval + grace)):
			e.find(v1.ControlFail, "VerificationOverdue", "EvidenceVault %s was last verified at %s; a verification is due every %s", ev.Name, rfc3339(last.Time.Time), interval)
		case cond == nil || cond.Status == metav1.ConditionUnknown:
			reason := "the operator has not reported on it yet"
			if cond != nil {
				// The reason and since when, not the message, which changes at every attempt.
				reason = fmt.Sprintf("%s since %s", cond.Reason, rfc3339(cond.LastTransitionTime.Time))
			}
			e.find(v1.ControlUnknown, "IntegrityUnknown", "EvidenceVault %s: the log's consistency cannot be checked now (%s)", ev.Name, reason)
			e.recheckAt(last.Time.Add(interval + grace))
		default:
			e.pass("IntegrityVerified", "EvidenceVault %s: verified at %s (%d object(s)), custody log consistent", ev.Name, rfc3339(last.Time.Time), last.Objects)
			e.recheckAt(last.Time.Add(interval + grace))
		}
	}
	return e.done()
}

// activeChannels are the channels that are not suspended.
func (s *scope) activeChannels() []*v1.CooperationChannel {
	var out []*v1.CooperationChannel
	for _, cc := range s.channels {
		if cc.Spec.Suspend == nil || !*cc.Spec.Suspend {
			out = append(out, cc)
		}
	}
	return out
}

// channelsReachableControl: the point of contact can communicate with its peers on
// an expedited basis over secure channels (arts. 40, 41): every channel's peer
// answered the last mutual-TLS probe and is trusted by a CA valid now.
func channelsReachableControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlChannelsReachable, "Every CooperationChannel's peer is reachable over mutual TLS and trusted through a CA certificate that is valid now.",
		"40, 41", "27, 35", next)
	active := s.activeChannels()
	for _, cc := range s.channels {
		e.look(kindChannel, cc.Name)
	}
	if len(active) == 0 {
		what := "no CooperationChannel"
		if len(s.channels) > 0 {
			what = "every CooperationChannel is suspended"
		}
		e.find(v1.ControlFail, "NoChannels", "%s: no peer State can be reached over a secure channel", what)
	}
	for _, cc := range active {
		peer := fmt.Sprintf("CooperationChannel %s (%s)", cc.Name, cc.Spec.Peer.Party())
		trusted := conditionOf(cc.Status.Conditions, v1.ConditionPeerTrusted)
		reachable := conditionOf(cc.Status.Conditions, v1.ConditionPeerReachable)
		validUntil, expired := peerCAValidity(cc, s.now)
		switch {
		case validUntil.IsZero() && expired:
			e.find(v1.ControlFail, "PeerCAExpired", "%s: every trusted CA certificate of the peer has expired", peer)
		case trusted != nil && trusted.Status == metav1.ConditionFalse:
			e.find(v1.ControlFail, "PeerNotTrusted", "%s: PeerTrusted is False (%s): %s", peer, trusted.Reason, trusted.Message)
		case reachable != nil && reachable.Status == metav1.ConditionFalse:
			// Not the condition's message: it carries the time of every failed probe,
			// and the report would be rewritten at each.
			e.find(v1.ControlFail, "PeerUnreachable", "%s: the peer at %s has been unreachable since %s (%s; its PeerReachable condition says why)",
				peer, cc.Spec.Peer.Endpoint, rfc3339(reachable.LastTransitionTime.Time), reachable.Reason)
			e.recheckAt(validUntil)
		case trusted == nil || trusted.Status != metav1.ConditionTrue || validUntil.IsZero():
			e.find(v1.ControlUnknown, "PeerTrustUnknown", "%s: the peer's CA certificates have not been read yet", peer)
		case reachable == nil || reachable.Status != metav1.ConditionTrue:
			e.find(v1.ControlUnknown, "NotProbedYet", "%s: the peer has not been probed yet", peer)
			e.recheckAt(validUntil)
		default:
			// Not the round-trip time, which every probe changes.
			e.pass("PeersReachable", "%s: reachable since %s, trusted until %s", peer, rfc3339(reachable.LastTransitionTime.Time), rfc3339(validUntil))
			e.recheckAt(validUntil)
		}
	}
	return e.done()
}

// peerCAValidity is the latest expiry among the channel's trusted peer CAs valid
// now (zero when none is), and whether any trusted CA has expired.
func peerCAValidity(cc *v1.CooperationChannel, now time.Time) (validUntil time.Time, expired bool) {
	if cc.Status.Peer == nil {
		return time.Time{}, false
	}
	for _, ca := range cc.Status.Peer.TrustedCAs {
		if !now.Before(ca.NotAfter.Time) {
			expired = true
			continue
		}
		if ca.NotAfter.After(validUntil) {
			validUntil = ca.NotAfter.Time
		}
	}
	return validUntil, expired
}

// dataProtectionControl: data exchanged over every channel is held under declared
// terms: a legal basis, and no onward transfer without the sender's prior
// authorisation (art. 36).
func dataProtectionControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlDataProtection, "Every CooperationChannel declares data-protection terms: a legal basis, and onward transfer prohibited or subject to prior authorisation.",
		"36", "2nd Protocol 14", next)
	if len(s.channels) == 0 {
		e.pass("NoChannels", "no CooperationChannel: no personal data is exchanged")
	}
	for _, cc := range s.channels {
		e.look(kindChannel, cc.Name)
		dp := cc.Spec.DataProtection
		problems := 0
		if strings.TrimSpace(dp.LegalBasis) == "" {
			e.find(v1.ControlFail, "NoLegalBasis", "CooperationChannel %s: spec.dataProtection.legalBasis is empty", cc.Name)
			problems++
		}
		switch dp.OnwardTransfer {
		case v1.OnwardTransferProhibited, v1.OnwardTransferRequiresAuthorization, "":
		default:
			e.find(v1.ControlFail, "OnwardTransferUnrestricted", "CooperationChannel %s: spec.dataProtection.onwardTransfer %q neither prohibits onward transfer nor requires prior authorisation",
				cc.Name, dp.OnwardTransfer)
			problems++
		}
		if problems == 0 {
			onward := dp.OnwardTransfer
			if onward == "" {
				onward = v1.OnwardTransferProhibited
			}
			e.pass("DataProtectionDeclared", "CooperationChannel %s: legal basis %q, onward transfer %s", cc.Name, dp.LegalBasis, onward)
		}
	}
	return e.done()
}

// languagesControl: the languages requests are accepted in are declared (art. 40),
// and every channel's languages include one its point of contact reads.
func languagesControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlLanguages, "The central authority and the point of contact declare the languages they accept requests in, and each channel uses one of the point of contact's.",
		"40", "25, 27", next)
	p := s.in.Profile
	e.look(kindProfile, p.Name)
	if len(p.Spec.CentralAuthority.Languages) == 0 {
		e.find(v1.ControlFail, "NoLanguages", "ConventionProfile %s: spec.centralAuthority.languages is empty", p.Name)
	}
	if len(s.focalPoints) == 0 {
		s.noFocalPoint(e)
	}
	accepted := map[string][]v1.LanguageTag{}
	for _, fp := range s.focalPoints {
		e.look(kindFocalPoint, fp.Name)
		accepted[fp.Name] = fp.Spec.Languages
		if len(fp.Spec.Languages) == 0 {
			e.find(v1.ControlFail, "NoLanguages", "FocalPoint %s: spec.languages is empty", fp.Name)
		}
	}
	for _, cc := range s.channels {
		if len(cc.Spec.Languages) == 0 {
			continue // the channel uses its FocalPoint's languages
		}
		e.look(kindChannel, cc.Name)
		fpLangs := accepted[cc.Spec.FocalPointRef.Name]
		if !slices.ContainsFunc(cc.Spec.Languages, func(l v1.LanguageTag) bool { return containsFold(fpLangs, l) }) {
			e.find(v1.ControlFail, "ChannelLanguageNotAccepted", "CooperationChannel %s: its languages %s include none of FocalPoint %s's (%s)",
				cc.Name, joinTags(cc.Spec.Languages), cc.Spec.FocalPointRef.Name, joinTags(fpLangs))
		}
	}
	if len(p.Spec.CentralAuthority.Languages) > 0 && len(s.focalPoints) > 0 {
		var fps []string
		for _, fp := range s.focalPoints {
			fps = append(fps, fmt.Sprintf("FocalPoint %s accepts %s", fp.Name, joinTags(fp.Spec.Languages)))
		}
		e.pass("LanguagesDeclared", "the central authority accepts %s; %s", joinTags(p.Spec.CentralAuthority.Languages), strings.Join(fps, "; "))
	}
	return e.done()
}

func containsFold(tags []v1.LanguageTag, l v1.LanguageTag) bool {
	return slices.ContainsFunc(tags, func(t v1.LanguageTag) bool { return strings.EqualFold(string(t), string(l)) })
}

func joinTags(tags []v1.LanguageTag) string {
	if len(tags) == 0 {
		return "none"
	}
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = string(t)
	}
	return strings.Join(out, ", ")
}

// requestTypesControl: no channel lets a peer send a request type the State does not
// accept.
func requestTypesControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlRequestTypesAccepted, "Every CooperationChannel permits only request types the State Party accepts (spec.acceptedRequestTypes).",
		"40", "25, 27", next)
	p := s.in.Profile
	e.look(kindProfile, p.Name)
	if len(s.channels) == 0 {
		e.pass("NoChannels", "no CooperationChannel: no request type is permitted")
	}
	for _, cc := range s.channels {
		e.look(kindChannel, cc.Name)
		var extra []string
		for _, t := range cc.Spec.RequestTypes {
			if !slices.Contains(p.Spec.AcceptedRequestTypes, t) {
				extra = append(extra, string(t))
			}
		}
		if len(extra) > 0 {
			e.find(v1.ControlFail, "RequestTypeNotAccepted", "CooperationChannel %s permits %s, which the ConventionProfile does not accept",
				cc.Name, strings.Join(extra, ", "))
			continue
		}
		e.pass("RequestTypesAccepted", "CooperationChannel %s permits only accepted types", cc.Name)
	}
	return e.done()
}

// intrusiveControl: an intrusive measure is asked for only under a domestic
// authorisation (art. 24's conditions and safeguards): every intrusive type a
// channel permits is one whose gateway schema requires an authorisation reference
// and expiry in every request.
func intrusiveControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlIntrusiveAuthorised, "Intrusive request types are permitted only where the gateway requires an authorisation reference and expiry in every request.",
		"24", "15", next)
	rules := s.in.Gateway
	if rules.Intrusive == nil || rules.AuthorisationRequired == nil {
		e.find(v1.ControlUnknown, "GatewayRulesUnknown", "what the gateway requires of each request type was not given to the report")
		return e.done()
	}
	permitted := 0
	for _, cc := range s.channels {
		for _, t := range cc.Spec.RequestTypes {
			if !rules.Intrusive(t) {
				continue
			}
			e.look(kindChannel, cc.Name)
			permitted++
			if !rules.AuthorisationRequired(t) {
				e.find(v1.ControlFail, "AuthorisationNotRequired", "CooperationChannel %s permits the intrusive type %s, whose gateway schema does not require an authorisation", cc.Name, t)
				continue
			}
			e.pass("AuthorisationRequired", "CooperationChannel %s permits %s, for which the gateway requires an authorisation reference and expiry", cc.Name, t)
		}
	}
	if permitted == 0 {
		e.pass("NoIntrusiveTypes", "no CooperationChannel permits an intrusive request type")
	}
	return e.done()
}

// requestsOverdueControl: requests are decided within their deadlines. Each
// CooperationChannel's status.requests counts the peer's requests not decided yet
// and those past their deadline, from its gateway's custody records (the operator
// reads them at each probe).
func requestsOverdueControl(s *scope, next *time.Time) v1.ComplianceControl {
	e := newEvaluation(ControlRequestsNotOverdue, "No request received from a peer State is past its deadline.",
		"40, 42", "25, 29", next)
	if len(s.channels) == 0 {
		e.pass("NoChannels", "no CooperationChannel: no request is received")
	}
	for _, cc := range s.channels {
		e.look(kindChannel, cc.Name)
		rq := cc.Status.Requests
		if rq == nil || rq.Open == nil || rq.Overdue == nil {
			e.find(v1.ControlUnknown, "RequestsNotCounted",
				"CooperationChannel %s has no request counts yet: the operator reads them from the gateway's cases summary at each probe of the peer", cc.Name)
			continue
		}
		if *rq.Overdue > 0 {
			e.find(v1.ControlFail, "RequestsOverdue", "CooperationChannel %s: %d of the %d requests from %s not decided are past their deadline (%s)",
				cc.Name, *rq.Overdue, *rq.Open, cc.Spec.Peer.Party(), strings.Join(rq.OverdueRequests, ", "))
			continue
		}
		e.pass("NoneOverdue", "CooperationChannel %s: %d requests from %s not decided, none past its deadline", cc.Name, *rq.Open, cc.Spec.Peer.Party())
	}
	return e.done()
}
