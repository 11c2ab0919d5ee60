//go:build helme2e

package helme2e

import (
	"fmt"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
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

// bindClaim binds a volume claim as a provisioner and the PV controller would: a
// PersistentVolume of the requested size, claimed by it, and both marked Bound.
func bindClaim(namespace, name string) {
	claim := &corev1.PersistentVolumeClaim{}
	EventuallyWithOffset(1, func() error {
		return k8sClient.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, claim)
	}).Should(Succeed(), "the StatefulSet creates volume claim %s/%s", namespace, name)
	size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s", namespace, name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			StorageClassName:              ptr.Deref(claim.Spec.StorageClassName, ""),
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: namespace, Name: name, UID: claim.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/e2e/volumes/" + namespace + "/" + name}},
		},
	}
	ExpectWithOffset(1, k8sClient.Create(ctx, pv)).To(Succeed())
	pv.Status.Phase = corev1.VolumeBound
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, pv)).To(Succeed())

	claim.Spec.VolumeName = pv.Name
	if claim.Annotations == nil {
		claim.Annotations = map[string]string{}
	}
	claim.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
	ExpectWithOffset(1, k8sClient.Update(ctx, claim)).To(Succeed())
	claim.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: claim.Spec.AccessModes,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: size}}
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, claim)).To(Succeed())
}
