// Package v1alpha1 holds the cybercoop.io/v1alpha1 API: the custom resources a
// State Party uses to declare its cybercrime-cooperation stack.
//
// The package depends only on k8s.io/api and k8s.io/apimachinery, so clients
// (dashboards, audit tools) can import it without controller-runtime.
//
// +kubebuilder:object:generate=true
// +groupName=cybercoop.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "cybercoop.io", Version: "v1alpha1"}

	// SchemeBuilder collects the kinds of this package; each kind registers itself.
	SchemeBuilder = &Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Builder registers a group-version's kinds with a runtime.Scheme.
// +kubebuilder:object:generate=false
type Builder struct {
	GroupVersion schema.GroupVersion
	objects      []runtime.Object
}

// Register adds kinds to be added to schemes.
func (b *Builder) Register(objects ...runtime.Object) { b.objects = append(b.objects, objects...) }

// AddToScheme adds every registered kind to s.
func (b *Builder) AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(b.GroupVersion, b.objects...)
	metav1.AddToGroupVersion(s, b.GroupVersion)
	return nil
}
