package apply

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
// object is really absent; with Names, not even then.
type FallbackClient struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache.
	APIReader client.Reader
	// Names, if set, is a cache of the names of every object of the LabelFiltered
	// kinds without the operator's label (metadata only; the label-filtered cache
	// holds the others). An object neither knows does not exist, and is not asked
	// for: each new channel's client Secret (and the legacy trust ConfigMap looked
	// for beside it), and each new FocalPoint's Service, ServiceAccount, disruption
	// budget and NetworkPolicy, would otherwise cost a read answered 404 at each
	// of its first reconciles.
	Names client.Reader
	// Created, with Names, holds the objects this client created until the label-
	// filtered cache holds them: the names cache may lag a create as much as the
	// other, so those are read from the API server.
	Created *sync.Map
	// Written, if set, holds per object the resourceVersion this client's last
	// update or patch replaced, until the cache is seen past it. A read that finds
	// that version in the cache is answered by the API server: an update built on
	// the stale copy would be refused (409) and the reconcile retried.
	Written *sync.Map
}

type createdKey struct {
	kind string
	key  client.ObjectKey
}

// Get reads through the cache, and for an object of a LabelFiltered kind the cache
// does not hold, from the API server, unless Names knows it does not exist.
func (c FallbackClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if err == nil && c.Written != nil && c.APIReader != nil {
		k := createdKey{fmt.Sprintf("%T", obj), key}
		if replaced, ok := c.Written.Load(k); ok {
			if replaced.(string) == obj.GetResourceVersion() {
				return c.APIReader.Get(ctx, key, obj, opts...)
			}
			c.Written.CompareAndDelete(k, replaced)
		}
	}
	if !labelFiltered(obj) || c.APIReader == nil {
		return err
	}
	created := createdKey{fmt.Sprintf("%T", obj), key}
	if err == nil {
		if c.Created != nil {
			c.Created.Delete(created)
		}
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	if c.Names != nil && c.Created != nil {
		if _, recent := c.Created.Load(created); !recent {
			if gvk, named := namedKinds[fmt.Sprintf("%T", obj)]; named {
				m := &metav1.PartialObjectMetadata{}
				m.SetGroupVersionKind(gvk)
				if nerr := c.Names.Get(ctx, key, m); apierrors.IsNotFound(nerr) {
					return err
				}
			}
		}
	}
	return c.APIReader.Get(ctx, key, obj, opts...)
}

// Create creates obj and, with Names, remembers it until the cache holds it.
func (c FallbackClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	if c.Created != nil && labelFiltered(obj) {
		c.Created.Store(createdKey{fmt.Sprintf("%T", obj), client.ObjectKeyFromObject(obj)}, struct{}{})
	}
	return nil
}

// Update updates obj and remembers the version it replaced (Written).
func (c FallbackClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	replaced := obj.GetResourceVersion()
	if err := c.Client.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.wrote(obj, replaced)
	return nil
}

// Patch patches obj and remembers the version it replaced (Written).
func (c FallbackClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	replaced := obj.GetResourceVersion()
	if err := c.Client.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	c.wrote(obj, replaced)
	return nil
}

func (c FallbackClient) wrote(obj client.Object, replaced string) {
	if c.Written != nil && replaced != "" && replaced != obj.GetResourceVersion() {
		c.Written.Store(createdKey{fmt.Sprintf("%T", obj), client.ObjectKeyFromObject(obj)}, replaced)
	}
}

// namedKinds are the kinds a names cache holds (manageropts.NamesCache): every
// LabelFiltered kind.
var namedKinds = map[string]schema.GroupVersionKind{
	fmt.Sprintf("%T", &corev1.Secret{}):                corev1.SchemeGroupVersion.WithKind("Secret"),
	fmt.Sprintf("%T", &corev1.ConfigMap{}):             corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	fmt.Sprintf("%T", &corev1.Service{}):               corev1.SchemeGroupVersion.WithKind("Service"),
	fmt.Sprintf("%T", &corev1.ServiceAccount{}):        corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
	fmt.Sprintf("%T", &policyv1.PodDisruptionBudget{}): policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
	fmt.Sprintf("%T", &networkingv1.NetworkPolicy{}):   networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
}

// NamedKinds are the kinds of namedKinds, for the names cache to watch.
func NamedKinds() []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(namedKinds))
	for _, gvk := range namedKinds {
		out = append(out, gvk)
	}
	return out
}
