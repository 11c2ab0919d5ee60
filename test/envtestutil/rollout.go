package envtestutil

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeepRolledOut reports every Deployment of namespace rolled out (its current
// template on every replica, all available), as a cluster's Deployment controller
// and kubelets would, every 100 ms until the returned function is called: envtest
// runs neither, and a controller that waits for a rollout would wait for ever.
func KeepRolledOut(ctx context.Context, c client.Client, namespace string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var deps appsv1.DeploymentList
			if c.List(ctx, &deps, client.InNamespace(namespace)) == nil {
				for i := range deps.Items {
					d := &deps.Items[i]
					n := ptr.Deref(d.Spec.Replicas, 1)
					if d.Status.ObservedGeneration != d.Generation || d.Status.AvailableReplicas != n || d.Status.UpdatedReplicas != n {
						d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n,
							AvailableReplicas: n, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable,
								Status: corev1.ConditionTrue, Reason: "RolledOut", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
						_ = c.Status().Update(ctx, d)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}
