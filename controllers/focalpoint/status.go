package focalpoint

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
	"github.com/cybercoop/cybercoop-operator/internal/roster"
)

// maxGapsListed bounds status.coverage.gaps (the CRD allows 50).
const maxGapsListed = 50

// coverageStatus computes status.coverage and the CoverageComplete condition for
// the week containing now. It also returns when the result next changes (the start
// of next week in the roster's zone), for requeueing.
func coverageStatus(r cybercoopv1alpha1.Roster, now time.Time) (*cybercoopv1alpha1.RosterCoverage, metav1.Condition, time.Time) {
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionCoverageComplete}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		cond.Status = metav1.ConditionFalse
		cond.Reason = cybercoopv1alpha1.ReasonInvalidTimeZone
		cond.Message = fmt.Sprintf("spec.roster.timeZone: %q is not in the time zone database; use an IANA name such as Africa/Nairobi", r.TimeZone)
		return nil, cond, time.Time{}
	}
	shifts, err := roster.ShiftsOf(r)
	if err != nil {
		cond.Status = metav1.ConditionFalse
		cond.Reason = cybercoopv1alpha1.ReasonCoverageGaps
		cond.Message = err.Error()
		return nil, cond, time.Time{}
	}
	cov := roster.Compute(shifts, loc, now)
	out := &cybercoopv1alpha1.RosterCoverage{
		WeekStart:      cov.WeekStart.Format(time.RFC3339),
		WeekMinutes:    int32(cov.Week() / time.Minute),
		CoveredMinutes: int32(cov.Covered / time.Minute),
		HoursPerWeek:   roster.FormatHours(cov.Covered),
	}
	for i, g := range cov.Gaps {
		if i == maxGapsListed {
			break
		}
		out.Gaps = append(out.Gaps, cybercoopv1alpha1.CoverageGap{
			Start:   g.Start.Format(time.RFC3339),
			End:     g.End.Format(time.RFC3339),
			Minutes: int32(g.Duration() / time.Minute),
		})
	}
	if cov.Complete() {
		cond.Status = metav1.ConditionTrue
		cond.Reason = cybercoopv1alpha1.ReasonFullCoverage
		cond.Message = fmt.Sprintf("someone is on call for all %s hours of the week starting %s (%s)",
			roster.FormatHours(cov.Week()), cov.WeekStart.Format("2006-01-02"), r.TimeZone)
	} else {
		first := cov.Gaps[0]
		cond.Status = metav1.ConditionFalse
		cond.Reason = cybercoopv1alpha1.ReasonCoverageGaps
		cond.Message = fmt.Sprintf("%s of %s hours covered in the week starting %s (%s); %d gap(s), the first %s to %s",
			roster.FormatHours(cov.Covered), roster.FormatHours(cov.Week()), cov.WeekStart.Format("2006-01-02"), r.TimeZone,
			len(cov.Gaps), first.Start.Format("Mon 15:04"), first.End.Format("Mon 15:04"))
	}
	return out, cond, roster.NextWeekStart(now, loc)
}

// availableCondition reads the gateway Deployment's state. A nil Deployment means
// it has not been created yet.
func availableCondition(dep *appsv1.Deployment, desiredReplicas int32) (metav1.Condition, string) {
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionAvailable}
	if dep == nil {
		cond.Status = metav1.ConditionUnknown
		cond.Reason = cybercoopv1alpha1.ReasonReconciling
		cond.Message = "the gateway Deployment has not been created yet"
		return cond, fmt.Sprintf("0/%d", desiredReplicas)
	}
	replicas := fmt.Sprintf("%d/%d", dep.Status.AvailableReplicas, desiredReplicas)
	depAvailable := false
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			depAvailable = true
		}
	}
	switch {
	case dep.Status.AvailableReplicas == 0 || !depAvailable:
		cond.Status = metav1.ConditionFalse
		cond.Reason = cybercoopv1alpha1.ReasonDeploymentUnavailable
		cond.Message = fmt.Sprintf("%s gateway pods available; peers cannot reach the point of contact", replicas)
	case dep.Status.ObservedGeneration < dep.Generation || dep.Status.UpdatedReplicas < desiredReplicas:
		cond.Status = metav1.ConditionTrue
		cond.Reason = cybercoopv1alpha1.ReasonDeploymentProgressing
		cond.Message = fmt.Sprintf("%s gateway pods available; a rollout of the current spec is in progress", replicas)
	default:
		cond.Status = metav1.ConditionTrue
		cond.Reason = cybercoopv1alpha1.ReasonDeploymentAvailable
		cond.Message = fmt.Sprintf("%s gateway pods available", replicas)
	}
	return cond, replicas
}

// readyCondition summarises the others. provisionErr is the error from creating or
// updating children, if any.
func readyCondition(provisionErr error, others ...metav1.Condition) metav1.Condition {
	return reconciler.ReadyCondition(provisionErr, "the point of contact is provisioned, reachable and staffed around the clock", others...)
}

// computeStatus writes the FocalPoint's status from what the phases found: roster
// coverage, certificates, the gateway's availability, and Ready summing them up.
// observedGeneration advances only when every phase succeeded; the conditions carry
// the current generation either way. It does no I/O.
func computeStatus(s *scope, reconcileErr error) {
	fp, now := s.fp, s.Now
	st := &fp.Status
	coverage, coverageCond, nextWeek := coverageStatus(fp.Spec.Roster, now)
	st.Coverage = coverage
	s.RequeueAt(nextWeek)
	s.RequeueAt(certs.NextCheck(&s.certs, now))
	if s.certs.Observed {
		st.Certificates = certificatesStatus(&s.certs)
	}
	certCond := certs.ReadyCondition(&s.certs, now)
	availableCond, gatewayReplicas := availableCondition(s.deployment, replicas(fp))
	st.GatewayReplicas = gatewayReplicas
	st.Endpoint = fmt.Sprintf("https://%s.%s.svc:%d", gatewayName(fp), fp.Namespace, gateway.ServicePort)
	if reconcileErr == nil {
		st.ObservedGeneration = fp.Generation
	}
	reconciler.SetConditions(&st.Conditions, fp.Generation, availableCond, certCond, coverageCond,
		readyCondition(s.ProvisionErr(), availableCond, certCond, coverageCond))
}
