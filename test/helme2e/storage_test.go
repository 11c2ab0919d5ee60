//go:build helme2e

package helme2e

import (
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// expandableClass is the StorageClass the stacks' evidence volumes use. It allows
// volume expansion, so the API server accepts a larger request on a bound claim.
// No provisioner serves it: bindClaim does that provisioner's and the PV
// controller's work (the simulated cluster runs neither).
const expandableClass = "e2e-expandable"

func createStorageClass() {
	Expect(k8sClient.Create(ctx, &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: expandableClass},
		Provisioner:          "e2e.cybercoop.io/bound-by-the-test",
		AllowVolumeExpansion: ptr.To(true),
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimRetain),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingImmediate),
	})).To(Succeed())
}

// bindClaim binds a volume claim as a provisioner and the PV controller would.
func bindClaim(namespace, name string) {
	ExpectWithOffset(1, envtestutil.BindClaim(ctx, k8sClient, namespace, name)).To(Succeed())
}
