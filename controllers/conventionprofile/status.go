package conventionprofile

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/compliance"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// computeStatus writes the report from the inputs read. It does no I/O. When the
// inputs could not be read the controls keep their last results and Ready says why;
// a report that comes out as stored changes nothing, so a steady state writes nothing.
func computeStatus(s *scope, err error) {
	p, st := s.profile, &s.profile.Status
	if s.readErr != nil {
		reconciler.SetConditions(&st.Conditions, p.Generation, reconciler.NewCondition(cybercoopv1alpha1.ConditionReady,
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonInputsUnreadable, "%s; the controls show the last report", s.readErr))
		return
	}
	result := compliance.Evaluate(s.inputs, s.Now)
	s.RequeueAt(result.NextCheck)
	controls, changed := compliance.Merge(st.Controls, result.Controls, s.Now)
	if changed {
		st.Controls = controls
		summary := compliance.Summarise(controls)
		st.Summary = &summary
		st.LastChangeTime = &metav1.Time{Time: s.Now.UTC().Truncate(1e9)}
	}
	if err == nil {
		st.ObservedGeneration = p.Generation
	}
	reconciler.SetConditions(&st.Conditions, p.Generation,
		compliance.CompliantCondition(st.Controls),
		reconciler.NewCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue, cybercoopv1alpha1.ReasonReportComputed,
			"the report is computed from the namespace's FocalPoints, EvidenceVaults, CooperationChannels and gateway workloads as they are now"))
}
