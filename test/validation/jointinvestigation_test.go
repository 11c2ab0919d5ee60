package validation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

func validJoint(name string) *v1.JointInvestigation {
	return &v1.JointInvestigation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.JointInvestigationSpec{
			FocalPointRef: v1.FocalPointReference{Name: "ke-poc"}, CaseID: "JIT-2026-01",
			Agreement: "agreement of 2026-11-02", Purpose: "ransomware",
			Parties: []v1.JointInvestigationParty{{Channel: "to-fr"}},
			EndDate: &metav1.Time{Time: time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC)},
		},
	}
}

var _ = Describe("JointInvestigation validation by the API server", func() {
	It("accepts the sample of config/samples", func() {
		raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "samples", "cybercoop_v1alpha1_jointinvestigation.yaml"))
		Expect(err).NotTo(HaveOccurred())
		ji := &v1.JointInvestigation{}
		Expect(yaml.UnmarshalStrict(raw, ji)).To(Succeed())
		ji.Namespace = namespace
		Expect(k8sClient.Create(context.Background(), ji)).To(Succeed())
	})

	DescribeTable("rejects an invalid JointInvestigation with a message naming the field",
		func(mutate func(ji *v1.JointInvestigation), field, expected string) {
			counter++
			ji := validJoint(fmt.Sprintf("ji-%d", counter))
			mutate(ji)
			err := k8sClient.Create(context.Background(), ji)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("a case id in lower case", func(ji *v1.JointInvestigation) { ji.Spec.CaseID = "jit-2026-01" }, "spec.caseId", "should match"),
		Entry("a case id ending in a hyphen", func(ji *v1.JointInvestigation) { ji.Spec.CaseID = "JIT-" }, "spec.caseId", "should match"),
		Entry("no party", func(ji *v1.JointInvestigation) { ji.Spec.Parties = nil }, "spec.parties", "Required value"),
		Entry("a party twice", func(ji *v1.JointInvestigation) {
			ji.Spec.Parties = []v1.JointInvestigationParty{{Channel: "to-fr"}, {Channel: "to-fr"}}
		}, "spec.parties[1]", "Duplicate value"),
		Entry("no end date", func(ji *v1.JointInvestigation) { ji.Spec.EndDate = nil }, "spec.endDate", "Required value"),
		Entry("no agreement", func(ji *v1.JointInvestigation) { ji.Spec.Agreement = "" }, "spec.agreement", "Required value"),
	)

	It("refuses to change the case id", func() {
		ji := validJoint("immutable-ji")
		Expect(k8sClient.Create(context.Background(), ji)).To(Succeed())
		ji.Spec.CaseID = "JIT-2026-02"
		err := k8sClient.Update(context.Background(), ji)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("caseId is immutable"))
	})
})
