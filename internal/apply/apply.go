// Package apply keeps child objects of a custom resource in the state the operator
// wants, writing to the API server only when something differs. A reconcile of an
// unchanged resource therefore makes no writes, which keeps the controller from
// waking itself and keeps audit logs quiet.
package apply

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Outcome says what Ensure had to do.
type Outcome string

const (
	// Unchanged: the live object already matched; nothing was written.
	Unchanged Outcome = "Unchanged"
	// Created: the object did not exist and was created.
	Created Outcome = "Created"
	// Updated: the live object differed (spec change or drift) and was updated.
	Updated Outcome = "Updated"
	// Deleted: an object that should no longer exist was deleted.
	Deleted Outcome = "Deleted"
)

// Spec tells Ensure how to compare and repair one kind of child.
type Spec[T client.Object] struct {
	// InSync reports whether live already carries everything desired sets.
	InSync func(desired, live T) bool
	// Repair copies desired's operator-owned fields onto live before an update.
	Repair func(desired, live T)
	// Recreate, if set, reports whether live must be deleted and created again
	// because a field that differs cannot be updated (a Secret's type).
	Recreate func(desired, live T) bool
	// OwnedAnnotationPrefix, if set, makes the annotations under this prefix the
	// operator's alone: a stored one that desired lacks is removed. Other
	// annotations are only ever added or overwritten.
	OwnedAnnotationPrefix string
}

// Ensure creates desired when missing, or updates the live object when its labels,
// annotations, controller reference or operator-owned fields differ from desired.
// desired must have its name and namespace set; it gets owner as its controller.
// Ensure refuses to take over an object another controller owns. It returns the
// object as stored after the call, status included.
func Ensure[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, desired T, spec Spec[T]) (T, Outcome, error) {
	var none T
	live := desired.DeepCopyObject().(T)
	if err := c.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		if !apierrors.IsNotFound(err) {
			return none, Unchanged, err
		}
		return EnsureFrom(ctx, c, scheme, owner, none, false, desired, spec)
	}
	return EnsureFrom(ctx, c, scheme, owner, live, true, desired, spec)
}

// EnsureFrom is Ensure for a caller that has read the object already (exists
// false: it is absent) and based its decisions on that read. The update carries
// live's resourceVersion, so a change stored since makes the write fail with a
// conflict instead of being overwritten.
func EnsureFrom[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, live T, exists bool, desired T, spec Spec[T]) (T, Outcome, error) {
	var none T
	if err := controllerutil.SetControllerReference(owner, desired, scheme); err != nil {
		return none, Unchanged, err
	}
	if !exists {
		if err := c.Create(ctx, desired); err != nil {
			return none, Unchanged, err
		}
		return desired, Created, nil
	}
	if ref := metav1.GetControllerOfNoCopy(live); ref != nil && ref.UID != owner.GetUID() {
		return none, Unchanged, fmt.Errorf("%s %s/%s is controlled by %s %s, not by this resource; rename or delete it",
			kindOf(live, scheme), live.GetNamespace(), live.GetName(), ref.Kind, ref.Name)
	}
	if spec.Recreate != nil && spec.Recreate(desired, live) {
		uid, rv := live.GetUID(), live.GetResourceVersion()
		if err := c.Delete(ctx, live, client.Preconditions{UID: &uid, ResourceVersion: &rv}); client.IgnoreNotFound(err) != nil {
			return none, Unchanged, err
		}
		if err := c.Create(ctx, desired); err != nil {
			return none, Unchanged, err
		}
		return desired, Updated, nil
	}
	if metav1.IsControlledBy(live, owner) && subset(desired.GetLabels(), live.GetLabels()) &&
		annotationsInSync(desired.GetAnnotations(), live.GetAnnotations(), spec.OwnedAnnotationPrefix) && spec.InSync(desired, live) {
		return live, Unchanged, nil
	}
	updated := live.DeepCopyObject().(T)
	updated.SetLabels(mergeMaps(live.GetLabels(), desired.GetLabels()))
	updated.SetAnnotations(mergeMaps(withoutPrefix(live.GetAnnotations(), spec.OwnedAnnotationPrefix), desired.GetAnnotations()))
	if err := controllerutil.SetControllerReference(owner, updated, scheme); err != nil {
		return none, Unchanged, err
	}
	spec.Repair(desired, updated)
	if err := c.Update(ctx, updated); err != nil {
		return none, Unchanged, err
	}
	return updated, Updated, nil
}

// annotationsInSync: every desired annotation is stored, and under the owned
// prefix nothing else is.
func annotationsInSync(desired, live map[string]string, ownedPrefix string) bool {
	if !subset(desired, live) {
		return false
	}
	if ownedPrefix == "" {
		return true
	}
	for k := range live {
		if _, ok := desired[k]; !ok && strings.HasPrefix(k, ownedPrefix) {
			return false
		}
	}
	return true
}

// withoutPrefix is m without the keys under prefix; m itself when prefix is empty.
func withoutPrefix(m map[string]string, prefix string) map[string]string {
	if prefix == "" {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// Absent deletes obj if it exists and is controlled by owner.
func Absent(ctx context.Context, c client.Client, owner, obj client.Object) (Outcome, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return Unchanged, client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, owner) {
		return Unchanged, nil
	}
	if err := c.Delete(ctx, obj, client.Preconditions{UID: ptr(obj.GetUID())}); err != nil {
		return Unchanged, client.IgnoreNotFound(err)
	}
	return Deleted, nil
}

func ptr[T any](v T) *T { return &v }

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func mergeMaps(base, overlay map[string]string) map[string]string {
	if len(overlay) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(overlay))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overlay {
		out[k] = v
	}
	return out
}

func kindOf(obj runtime.Object, scheme *runtime.Scheme) string {
	if gvks, _, err := scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		return gvks[0].Kind
	}
	return fmt.Sprintf("%T", obj)
}
