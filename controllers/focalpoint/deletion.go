package focalpoint

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
)

// Finalizer keeps a FocalPoint until its national CA is detached (caDeletionPolicy
// Retain): owner references alone would let the garbage collector delete the CA with
// the FocalPoint, and a FocalPoint created again would make a new CA that no peer
// trusts.
const Finalizer = "cybercoop.io/national-ca"

// caDeletionPolicy is spec.certificates.caDeletionPolicy with its default.
func caDeletionPolicy(fp *cybercoopv1alpha1.FocalPoint) cybercoopv1alpha1.DeletionPolicy {
	if c := fp.Spec.Certificates; c != nil && c.CADeletionPolicy != "" {
		return c.CADeletionPolicy
	}
	return cybercoopv1alpha1.DeletionRetain
}

// finalize detaches the CA and trust bundle Secrets under Retain, so the garbage
// collector keeps them; a FocalPoint of the same name adopts them when it first
// stores its CA. With cert-manager (issuerRef) there is no CA of the operator's.
func (r *Reconciler) finalize(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) error {
	if caDeletionPolicy(fp) != cybercoopv1alpha1.DeletionRetain || issuerRefOf(fp) != nil {
		return nil
	}
	names := []string{CASecretName(fp), TrustBundleSecretName(fp)}
	kept := 0
	for _, name := range names {
		detached, err := r.detach(ctx, fp, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fp.Namespace, Name: name}})
		if err != nil {
			return err
		}
		if detached {
			kept++
		}
	}
	if kept > 0 {
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCARetained, "RetainCA",
			"caDeletionPolicy Retain: the national CA Secret %s and the trust bundle Secret %s in namespace %s are kept, detached; "+
				"a FocalPoint created again under the name %s adopts them and every peer still trusts it. Delete them by hand to end the CA",
			names[0], names[1], fp.Namespace, fp.Name)
	}
	return nil
}

// detach removes fp's owner reference from obj, so the garbage collector keeps it;
// it reports whether obj exists.
func (r *Reconciler) detach(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, obj client.Object) (bool, error) {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	refs := obj.GetOwnerReferences()
	kept := slices.DeleteFunc(slices.Clone(refs), func(ref metav1.OwnerReference) bool { return ref.UID == fp.UID })
	if len(kept) == len(refs) {
		return true, nil
	}
	obj.SetOwnerReferences(kept)
	if err := r.Update(ctx, obj); err != nil {
		return false, fmt.Errorf("detaching %s from the FocalPoint: %w", obj.GetName(), err)
	}
	return true, nil
}

// adoptRetainedCA takes back the CA and trust bundle Secrets a deleted FocalPoint of
// the same name left detached (caDeletionPolicy Retain): they carry the operator's
// label and no controller. The CA code then keeps them as its own.
func (r *Reconciler) adoptRetainedCA(ctx context.Context, s *scope) error {
	for _, name := range []string{CASecretName(s.fp), TrustBundleSecretName(s.fp)} {
		sec := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: s.fp.Namespace, Name: name}, sec)
		if err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue
			}
			return err
		}
		if metav1.GetControllerOf(sec) != nil || sec.Labels[apply.ManagedLabel] != apply.ManagedValue {
			continue
		}
		if err := controllerutil.SetControllerReference(s.fp, sec, r.Scheme); err != nil {
			return err
		}
		if err := r.Update(ctx, sec); err != nil {
			return fmt.Errorf("adopting the kept Secret %s: %w", name, err)
		}
		r.Recorder.Eventf(s.fp, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCARetained, "AdoptCA",
			"adopted Secret %s, kept from a FocalPoint of the same name: the national CA continues", name)
	}
	return nil
}
