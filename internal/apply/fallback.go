package apply

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagedLabel and ManagedValue mark every object the operator creates. The manager's
// cache holds only Secrets, ConfigMaps, Services, ServiceAccounts, disruption budgets
// and NetworkPolicies carrying them (LabelFiltered), so the operator never keeps the
// cluster's other objects of those kinds in memory.
const (
	ManagedLabel = "app.kubernetes.io/managed-by"
	ManagedValue = "cybercoop-operator"
)

// LabelFiltered are the kinds the manager caches only with ManagedLabel: kinds of
// which a cluster holds many objects the operator never needs (every application's
// ConfigMaps and Services), and of which the operator only creates its own. Secrets
// also keep other parties' keys out of the operator's memory. Deployments and
// StatefulSets are not among them: a CA key replacement waits for any workload that
// trusts the CA, the operator's or not.
func LabelFiltered() []client.Object {
	return []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{}, &corev1.ServiceAccount{},
		&policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}}
}

func labelFiltered(obj client.Object) bool {
	switch obj.(type) {
	case *corev1.Secret, *corev1.ConfigMap, *corev1.Service, *corev1.ServiceAccount, *policyv1.PodDisruptionBudget, *networkingv1.NetworkPolicy:
		return true
	}
	return false
}

// FallbackClient reads objects of the LabelFiltered kinds that are missing from the
// label-filtered cache from the API server instead. An object whose label was
// removed, or one created by someone else under a name the operator uses, is
// therefore found and repaired (or refused, if another controller owns it) rather
// than making every create fail with AlreadyExists. At steady state every object the
// operator needs is in the cache, so the fallback costs one extra read only when an
// object is really absent.
type FallbackClient struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache.
	APIReader client.Reader
}

// Get reads through the cache, and for an object of a LabelFiltered kind the cache
// does not hold, from the API server.
func (c FallbackClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) && c.APIReader != nil && labelFiltered(obj) {
		return c.APIReader.Get(ctx, key, obj, opts...)
	}
	return err
}
