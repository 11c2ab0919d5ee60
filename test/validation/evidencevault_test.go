package validation

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

func validEvidenceVault(name string) *v1.EvidenceVault {
	return &v1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.EvidenceVaultSpec{
			FocalPointRef: v1.FocalPointReference{Name: "vn-poc"},
			Storage:       &v1.VaultStorage{Size: resource.MustParse("20Gi")},
		},
	}
}

func createVault(mutate func(ev *v1.EvidenceVault)) error {
	counter++
	ev := validEvidenceVault(fmt.Sprintf("ev-%d", counter))
	mutate(ev)
	return k8sClient.Create(context.Background(), ev)
}

var _ = Describe("EvidenceVault validation by the API server", func() {
	It("accepts a valid EvidenceVault and applies the defaults", func() {
		ev := validEvidenceVault("valid-vault")
		Expect(k8sClient.Create(context.Background(), ev)).To(Succeed())
		Expect(ev.Spec.HashAlgorithm).To(Equal(v1.HashSHA256))
		Expect(ev.Spec.DeletionPolicy).To(Equal(v1.DeletionRetain))
	})

	DescribeTable("rejects an invalid EvidenceVault with a message naming the field",
		func(mutate func(ev *v1.EvidenceVault), field, expected string) {
			err := createVault(mutate)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field), "the message must name the field")
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("retention under the convention's 60 days", func(ev *v1.EvidenceVault) { ev.Spec.Retention = &v1.RetentionSpec{MinimumDays: 30} },
			"spec.retention.minimumDays", "the convention requires"),
		Entry("no focal point", func(ev *v1.EvidenceVault) { ev.Spec.FocalPointRef = v1.FocalPointReference{} },
			"spec.focalPointRef", "Required value"),
		Entry("no storage", func(ev *v1.EvidenceVault) { ev.Spec.Storage = nil }, "spec.storage", "Required value"),
		Entry("a volume too small for evidence", func(ev *v1.EvidenceVault) { ev.Spec.Storage.Size = resource.MustParse("100Mi") },
			"spec.storage.size", "must be at least 1Gi"),
		Entry("an unknown hash", func(ev *v1.EvidenceVault) { ev.Spec.HashAlgorithm = "MD5" }, "spec.hashAlgorithm", `supported values: "SHA256", "SHA512"`),
		Entry("an unknown deletion policy", func(ev *v1.EvidenceVault) { ev.Spec.DeletionPolicy = "Orphan" }, "spec.deletionPolicy", `supported values: "Retain", "Delete"`),
		Entry("key rotation every minute", func(ev *v1.EvidenceVault) { ev.Spec.KeyRotation = &v1.KeyRotationSpec{Interval: dur("1m")} },
			"spec.keyRotation.interval", "must be at least 1h"),
		Entry("verification every second", func(ev *v1.EvidenceVault) { ev.Spec.Verification = &v1.VerificationSpec{Interval: dur("1s")} },
			"spec.verification.interval", "must be at least 5m"),
		Entry("a leaf renewed after it expires", func(ev *v1.EvidenceVault) {
			ev.Spec.Certificates = &v1.LeafCertificateSpec{LeafDuration: dur("24h"), LeafRenewBefore: dur("48h")}
		}, "spec.certificates", "leafRenewBefore must be shorter than leafDuration"),
		Entry("an image name too long", func(ev *v1.EvidenceVault) { ev.Spec.Image = string(make([]byte, 600)) }, "spec.image", "Too long"),
		Entry("a focal point name too long", func(ev *v1.EvidenceVault) { ev.Spec.FocalPointRef.Name = fmt.Sprintf("%0300d", 1) },
			"spec.focalPointRef.name", "Too long"),
		Entry("a retention of a thousand centuries", func(ev *v1.EvidenceVault) { ev.Spec.Retention = &v1.RetentionSpec{MinimumDays: 40000000} },
			"spec.retention.minimumDays", "less than or equal to 36500"),
	)

	DescribeTable("refuses changes that would strand the evidence",
		func(mutate func(ev *v1.EvidenceVault), field, expected string) {
			counter++
			ev := validEvidenceVault(fmt.Sprintf("ev-%d", counter))
			ev.Spec.Storage.StorageClassName = "standard"
			Expect(k8sClient.Create(context.Background(), ev)).To(Succeed())
			mutate(ev)
			err := k8sClient.Update(context.Background(), ev)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("shrinking the volume", func(ev *v1.EvidenceVault) { ev.Spec.Storage.Size = resource.MustParse("10Gi") },
			"spec.storage", "may grow but never shrink"),
		Entry("another storage class", func(ev *v1.EvidenceVault) { ev.Spec.Storage.StorageClassName = "fast" },
			"spec.storage", "storageClassName is immutable"),
		Entry("another hash", func(ev *v1.EvidenceVault) { ev.Spec.HashAlgorithm = v1.HashSHA512 }, "spec", "hashAlgorithm is immutable"),
		Entry("another focal point", func(ev *v1.EvidenceVault) { ev.Spec.FocalPointRef.Name = "other" }, "spec", "focalPointRef is immutable"),
	)

	It("lets the volume grow", func() {
		ev := validEvidenceVault("growing-vault")
		Expect(k8sClient.Create(context.Background(), ev)).To(Succeed())
		ev.Spec.Storage.Size = resource.MustParse("40Gi")
		Expect(k8sClient.Update(context.Background(), ev)).To(Succeed())
	})
})
