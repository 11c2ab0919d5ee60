// Package manageropts holds the manager settings the operator binary and the test
// suites share, so the suites run the reconcilers with the production caches.
package manageropts

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
)

// Scheme knows the built-in kinds and the cybercoop.io kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(cybercoopv1alpha1.AddToScheme(s))
	return s
}

// Cache returns the informer cache settings. Of Secrets, ConfigMaps, Services,
// ServiceAccounts, disruption budgets and NetworkPolicies only the operator's own
// are cached (and watched) (apply.LabelFiltered): keeping every one of the cluster in
// memory would cost memory and, for Secrets, widen what a leak exposes.
// ReconcilerClient reads an object missing from the cache from the API server, so an
// unlabelled one is still found and repaired. No cached object keeps its
// managedFields, which the operator never reads and which are often the largest part
// of an object; CooperationChannels, the kind there are thousands of, keep one copy
// of the strings they share (channelTransform). syncPeriod nil keeps controller-runtime's default; namespaces empty
// means all namespaces.
func Cache(syncPeriod *time.Duration, namespaces []string) cache.Options {
	opts := cache.Options{
		SyncPeriod:       syncPeriod,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{},
	}
	managed := labels.SelectorFromSet(labels.Set{apply.ManagedLabel: apply.ManagedValue})
	for _, obj := range apply.LabelFiltered() {
		by := cache.ByObject{Label: managed}
		switch obj.(type) {
		case *corev1.Secret:
			by.Transform = secretTransform()
		case *corev1.ConfigMap:
			by.Transform = configMapTransform()
		}
		opts.ByObject[obj] = by
	}
	opts.ByObject[&cybercoopv1alpha1.CooperationChannel{}] = cache.ByObject{Transform: channelTransform()}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// Client returns the manager's client settings. cert-manager Certificates are
// handled as unstructured objects (no cert-manager Go dependency) and are read from
// the informer cache too.
func Client() client.Options {
	return client.Options{Cache: &client.CacheOptions{Unstructured: true}}
}

// ReconcilerClient is the client reconcilers use: c (normally the manager's cached
// client) with objects missing from the label-filtered caches read through apiReader,
// and so are objects whose cached copy is older than this client's own last write.
func ReconcilerClient(c client.Client, apiReader client.Reader) client.Client {
	return apply.FallbackClient{Client: c, APIReader: apiReader, Written: &sync.Map{}}
}

// NamesCache is a cache of the names of every object of the label-filtered kinds
// (apply.LabelFiltered: Secrets, ConfigMaps, Services, ServiceAccounts, disruption
// budgets, NetworkPolicies) in namespaces (all when empty) that does not carry the
// operator's label: metadata only, without labels, annotations or data, so it
// costs little memory and holds no key. The operator's own objects are in the
// label-filtered cache already; a hub's ten thousand channel Secrets cost 7.5 MiB
// here, and a metadata watch event per channel, for nothing. It is started with
// mgr, watching every one of those kinds from the start. ReconcilerClientWithNames
// uses it to tell an object that does not exist from one that exists without the
// operator's label, without asking the API server (test/perf: 20 countries created
// at once sent 190 reads answered 404 for a new FocalPoint's Services,
// NetworkPolicies, disruption budgets and ServiceAccounts when it held only Secrets
// and ConfigMaps).
func NamesCache(mgr ctrl.Manager, namespaces []string) (cache.Cache, error) {
	notOurs, err := labels.NewRequirement(apply.ManagedLabel, selection.NotEquals, []string{apply.ManagedValue})
	if err != nil {
		return nil, err
	}
	opts := cache.Options{
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		DefaultLabelSelector: labels.NewSelector().Add(*notOurs),
		DefaultTransform: func(in any) (any, error) {
			m, ok := in.(*metav1.PartialObjectMetadata)
			if !ok {
				return in, nil
			}
			return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
				Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}}, nil
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("creating the cache of Secret and ConfigMap names: %w", err)
	}
	for _, gvk := range apply.NamedKinds() {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		// Registered now, started with the cache: not at the first read, which would
		// wait for the list.
		if _, err := c.GetInformer(context.Background(), m); err != nil {
			return nil, fmt.Errorf("watching the names of %s: %w", gvk.Kind, err)
		}
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return c, nil
}

// ReconcilerClientWithNames is ReconcilerClient that reads an object missing from
// the label-filtered caches from the API server only when names (NamesCache) knows
// it exists, or this client created it and the cache has not caught up. Share one
// between the reconcilers.
func ReconcilerClientWithNames(c client.Client, apiReader client.Reader, names client.Reader) client.Client {
	return apply.FallbackClient{Client: c, APIReader: apiReader, Names: names, Created: &sync.Map{}, Written: &sync.Map{}}
}
