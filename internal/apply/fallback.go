package apply

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagedLabel and ManagedValue mark every object the operator creates. The manager's
// cache holds only Secrets carrying them, so the operator never keeps the cluster's
// other Secrets in memory.
const (
	ManagedLabel = "app.kubernetes.io/managed-by"
	ManagedValue = "cybercoop-operator"
)

// SecretFallbackClient reads Secrets that are missing from a label-filtered cache
// from the API server instead. A Secret whose label was removed, or one created by
// someone else under a name the operator uses, is therefore found and repaired (or
// refused, if another controller owns it) rather than making every create fail with
// AlreadyExists. At steady state every Secret the operator needs is in the cache, so
// the fallback costs one extra read only when a Secret is really absent.
type SecretFallbackClient struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache.
	APIReader client.Reader
}

// Get reads through the cache, and for a Secret the cache does not hold, from the API server.
func (c SecretFallbackClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if _, isSecret := obj.(*corev1.Secret); isSecret && apierrors.IsNotFound(err) && c.APIReader != nil {
		return c.APIReader.Get(ctx, key, obj, opts...)
	}
	return err
}
