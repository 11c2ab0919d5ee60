//go:build helme2e

package helme2e

import (
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The garbage collector of kube-controller-manager learns of a new CRD at its next
// discovery resync (every 30 seconds). Until then it cannot look up an owner of
// that kind and retries the owner's dependents with a growing backoff, so an owner
// deleted in that window can leave its dependents in place for minutes. The
// collector of a real cluster has known the cybercoop kinds since they were
// installed; in this young cluster, waitForGarbageCollector waits until it does,
// through a canary kind created after the chart's CRDs (discovery that finds the
// canary finds them too).

var canaryKind = schema.GroupVersionKind{Group: "e2e.cybercoop.io", Version: "v1", Kind: "Canary"}

func createCanaryCRD() {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "canaries." + canaryKind.Group},
		"spec": map[string]any{
			"group": canaryKind.Group,
			"scope": "Namespaced",
			"names": map[string]any{"plural": "canaries", "singular": "canary", "kind": canaryKind.Kind, "listKind": canaryKind.Kind + "List"},
			"versions": []any{map[string]any{"name": canaryKind.Version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object"}}}},
		},
	}}
	ExpectWithOffset(1, k8sClient.Create(ctx, crd)).To(Succeed())
}

// waitForGarbageCollector deletes fresh canaries, each owning a ConfigMap, until the
// collector deletes a canary's ConfigMap at once.
func waitForGarbageCollector(namespace string) {
	EventuallyWithOffset(1, func(g Gomega) {
		owner := &unstructured.Unstructured{}
		owner.SetGroupVersionKind(canaryKind)
		owner.SetNamespace(namespace)
		owner.SetGenerateName("gc-canary-")
		g.Expect(k8sClient.Create(ctx, owner)).To(Succeed())
		dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "gc-canary-",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: canaryKind.GroupVersion().String(), Kind: canaryKind.Kind,
				Name: owner.GetName(), UID: owner.GetUID(), BlockOwnerDeletion: ptr.To(false)}}}}
		g.Expect(k8sClient.Create(ctx, dependent)).To(Succeed())
		g.Expect(k8sClient.Delete(ctx, owner)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(dependent), &corev1.ConfigMap{}))
		}).WithTimeout(3*time.Second).Should(BeTrue(), "the garbage collector deletes the canary's ConfigMap")
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
}
