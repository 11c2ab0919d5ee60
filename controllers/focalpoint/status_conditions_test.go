package focalpoint

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

func deployment(generation, observed int64, updated, available int32, availableCond corev1.ConditionStatus) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: generation}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available}
	if availableCond != "" {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: availableCond}}
	}
	return d
}

func TestAvailableCondition(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dep          *appsv1.Deployment
		wantStatus   metav1.ConditionStatus
		wantReason   string
		wantReplicas string
	}{
		{"not created yet", nil, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "0/2"},
		{"no pod available", deployment(1, 1, 2, 0, corev1.ConditionFalse), metav1.ConditionFalse, cybercoopv1alpha1.ReasonDeploymentUnavailable, "0/2"},
		{"pods counted but Deployment says unavailable", deployment(1, 1, 2, 1, corev1.ConditionFalse), metav1.ConditionFalse, cybercoopv1alpha1.ReasonDeploymentUnavailable, "1/2"},
		{"all available", deployment(3, 3, 2, 2, corev1.ConditionTrue), metav1.ConditionTrue, cybercoopv1alpha1.ReasonDeploymentAvailable, "2/2"},
		{"new spec not yet observed", deployment(4, 3, 2, 2, corev1.ConditionTrue), metav1.ConditionTrue, cybercoopv1alpha1.ReasonDeploymentProgressing, "2/2"},
		{"rollout half done", deployment(4, 4, 1, 2, corev1.ConditionTrue), metav1.ConditionTrue, cybercoopv1alpha1.ReasonDeploymentProgressing, "2/2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, replicas := availableCondition(tc.dep, 2)
			if got.Type != cybercoopv1alpha1.ConditionAvailable || got.Status != tc.wantStatus || got.Reason != tc.wantReason || replicas != tc.wantReplicas {
				t.Fatalf("got %s=%s (%s) %q, want %s (%s) %q", got.Type, got.Status, got.Reason, replicas, tc.wantStatus, tc.wantReason, tc.wantReplicas)
			}
			if got.Message == "" {
				t.Fatal("a condition needs a message a person can act on")
			}
		})
	}
}

func TestReadyCondition(t *testing.T) {
	trueCond := func(t string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: "OK"}
	}
	cond := func(t string, s metav1.ConditionStatus, r string) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: r}
	}
	for _, tc := range []struct {
		name        string
		err         error
		others      []metav1.Condition
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
	}{
		{"all true", nil, []metav1.Condition{trueCond("Available"), trueCond("CoverageComplete")},
			metav1.ConditionTrue, cybercoopv1alpha1.ReasonAllConditionsMet, "staffed around the clock"},
		{"coverage gaps", nil, []metav1.Condition{trueCond("Available"), cond("CoverageComplete", metav1.ConditionFalse, "CoverageGaps")},
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonNotReady, "CoverageComplete is False (CoverageGaps)"},
		{"unknown wins over false", nil, []metav1.Condition{cond("Available", metav1.ConditionUnknown, "Reconciling"), cond("CoverageComplete", metav1.ConditionFalse, "CoverageGaps")},
			metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "Available is Unknown (Reconciling); CoverageComplete is False"},
		{"provisioning failed overrides everything", errors.New("applying Service x: forbidden"), []metav1.Condition{trueCond("Available")},
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonProvisioningFailed, "applying Service x: forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readyCondition(tc.err, tc.others...)
			if got.Status != tc.wantStatus || got.Reason != tc.wantReason || !strings.Contains(got.Message, tc.wantMessage) {
				t.Fatalf("got %s (%s) %q, want %s (%s) containing %q", got.Status, got.Reason, got.Message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
		})
	}
}

func TestCoverageStatus(t *testing.T) {
	days := []cybercoopv1alpha1.Weekday{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	// Wednesday 25 March 2026: the week in Paris loses an hour on Sunday 29 March.
	now := time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		roster     cybercoopv1alpha1.Roster
		wantStatus metav1.ConditionStatus
		wantReason string
		wantHours  string
		wantWeek   int32
		wantNext   string
	}{
		{"full week across spring-forward", cybercoopv1alpha1.Roster{TimeZone: "Europe/Paris", Shifts: []cybercoopv1alpha1.Shift{{Days: days, Start: "00:00", End: "24:00", OnCall: "desk"}}},
			metav1.ConditionTrue, cybercoopv1alpha1.ReasonFullCoverage, "167", 167 * 60, "2026-03-30T00:00:00+02:00"},
		{"office hours", cybercoopv1alpha1.Roster{TimeZone: "UTC", Shifts: []cybercoopv1alpha1.Shift{{Days: days[:5], Start: "09:00", End: "17:30", OnCall: "desk"}}},
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCoverageGaps, "42.5", 168 * 60, "2026-03-30T00:00:00Z"},
		{"unknown zone", cybercoopv1alpha1.Roster{TimeZone: "Atlantis/Capital", Shifts: []cybercoopv1alpha1.Shift{{Days: days, Start: "00:00", End: "24:00", OnCall: "desk"}}},
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonInvalidTimeZone, "", 0, ""},
		{"stored shift that predates validation", cybercoopv1alpha1.Roster{TimeZone: "UTC", Shifts: []cybercoopv1alpha1.Shift{{Days: days, Start: "00:00", End: "25:00", OnCall: "desk"}}},
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCoverageGaps, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cov, cond, next := coverageStatus(tc.roster, now)
			if cond.Status != tc.wantStatus || cond.Reason != tc.wantReason {
				t.Fatalf("condition %s (%s) %q, want %s (%s)", cond.Status, cond.Reason, cond.Message, tc.wantStatus, tc.wantReason)
			}
			if tc.wantHours == "" {
				if cov != nil || !next.IsZero() {
					t.Fatalf("coverage = %+v, next = %v; want none", cov, next)
				}
				return
			}
			if cov.HoursPerWeek != tc.wantHours || cov.WeekMinutes != tc.wantWeek {
				t.Fatalf("coverage %s h of %d min, want %s h of %d min", cov.HoursPerWeek, cov.WeekMinutes, tc.wantHours, tc.wantWeek)
			}
			if got := next.Format(time.RFC3339); got != tc.wantNext {
				t.Fatalf("next recompute at %s, want %s", got, tc.wantNext)
			}
		})
	}
}
