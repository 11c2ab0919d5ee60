package reconciler

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

func TestBaseKeepsTheEarliestRequeueAndTheFirstChildError(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Base{Now: now}
	b.RequeueAt(time.Time{})
	if !b.requeueAt.IsZero() {
		t.Fatal("a zero time asked for a requeue")
	}
	for _, at := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		b.RequeueAt(now.Add(at))
	}
	if got := b.requeueAt; !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("requeue at %s, want the earliest", got)
	}
	first, second := errors.New("ConfigMap refused"), errors.New("Service refused")
	if b.Provisioned(nil) != nil || b.ProvisionErr() != nil {
		t.Fatal("nil recorded as an error")
	}
	if !errors.Is(b.Provisioned(first), first) || !errors.Is(b.Provisioned(second), second) || !errors.Is(b.ProvisionErr(), first) || errors.Is(b.ProvisionErr(), second) {
		t.Fatalf("ProvisionErr %v; want the first error, each call returning its own", b.ProvisionErr())
	}
}

func TestReadyCondition(t *testing.T) {
	ok := metav1.Condition{Type: "A", Status: metav1.ConditionTrue, Reason: "Fine"}
	unknown := metav1.Condition{Type: "B", Status: metav1.ConditionUnknown, Reason: "Unreachable"}
	bad := metav1.Condition{Type: "C", Status: metav1.ConditionFalse, Reason: "Broken"}
	for _, tc := range []struct {
		name                  string
		provisionErr          error
		others                []metav1.Condition
		status                metav1.ConditionStatus
		reason, messageEquals string
	}{
		{"all true", nil, []metav1.Condition{ok}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonAllConditionsMet, "healthy"},
		{"a child failed wins", errors.New("applying Service x: refused"), []metav1.Condition{ok}, metav1.ConditionFalse,
			cybercoopv1alpha1.ReasonProvisioningFailed, "applying Service x: refused"},
		{"unknown beats false", nil, []metav1.Condition{bad, unknown}, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling,
			"C is False (Broken); B is Unknown (Unreachable)"},
		{"false names the others", nil, []metav1.Condition{ok, bad}, metav1.ConditionFalse, cybercoopv1alpha1.ReasonNotReady, "C is False (Broken)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ReadyCondition(tc.provisionErr, "healthy", tc.others...)
			if c.Type != cybercoopv1alpha1.ConditionReady || c.Status != tc.status || c.Reason != tc.reason || c.Message != tc.messageEquals {
				t.Fatalf("got %s/%s %q", c.Status, c.Reason, c.Message)
			}
		})
	}
}

func TestSetConditionsStampsTheGenerationAndKeepsTransitionTimes(t *testing.T) {
	var conds []metav1.Condition
	SetConditions(&conds, 3, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotReady"})
	first := conds[0].LastTransitionTime
	SetConditions(&conds, 4, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotReady", Message: "still"})
	if conds[0].ObservedGeneration != 4 || !conds[0].LastTransitionTime.Equal(&first) || conds[0].Message != "still" {
		t.Fatalf("got %+v", conds[0])
	}
}
