package ca

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cybercoop/cybercoop-operator/internal/certs"
)

// EnqueueCAOwner maps a consumer workload (labelled TrustsCALabel) or a leaf Secret
// (labelled certs.IssuerLabel), of any kind, to the resource that owns the CA it
// names, so a key replacement hears about every rollout and every re-issued leaf.
// ownerKind is the owning kind (FocalPoint); reader reads the CA Secret, normally
// from the cache.
func EnqueueCAOwner(reader client.Reader, ownerKind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		name := obj.GetLabels()[TrustsCALabel]
		if name == "" {
			name = obj.GetLabels()[certs.IssuerLabel]
		}
		if name == "" {
			return nil
		}
		caSecret := &corev1.Secret{}
		if err := reader.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, caSecret); err != nil {
			return nil // no CA (yet): its owner's own watch brings it when it is created
		}
		owner := metav1.GetControllerOfNoCopy(caSecret)
		if owner == nil || owner.Kind != ownerKind {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: owner.Name}}}
	})
}
