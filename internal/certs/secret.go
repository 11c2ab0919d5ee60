// Package certs issues and renews leaf certificates from an operator-managed CA and
// stores them in Kubernetes Secrets. Every kind that needs a certificate (the
// FocalPoint's gateway, an EvidenceVault, a CooperationChannel's client) goes through
// EnsureLeaf, so decisions, repairs, events and the Secret layout are the same
// everywhere. The decisions themselves are internal/pki's; this package reads and
// writes Secrets around them, and writes only when something differs.
//
// Private keys are only ever placed in Secret data. Messages, events and log lines
// carry Secret names, serials, fingerprints and times, never key or PEM text.
package certs

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/apply"
)

// Labels and annotations the operator puts on certificate Secrets.
const (
	// IssuerLabel on a leaf Secret names the CA Secret that issues it, so every leaf of
	// a CA can be listed (a CA key replacement waits until all of them are re-issued).
	IssuerLabel = "cybercoop.io/issuer"
	// RoleLabel says what the certificate is for, e.g. "ca" or "gateway-serving".
	RoleLabel = "cybercoop.io/certificate-role"
	// CAGenerationAnnotation is the generation of a CA key (on a CA Secret), or of the CA
	// key that issued a leaf (on a leaf Secret). It starts at 1 and grows by one with each
	// key replacement.
	CAGenerationAnnotation = "cybercoop.io/ca-generation"
	// ForceRenewTokenAnnotation on a leaf Secret records the force-renew token the leaf was
	// issued under, so a new token re-issues exactly once.
	ForceRenewTokenAnnotation = "cybercoop.io/force-renew-token"
	// RepairedAnnotation on a certificate Secret says what was found tampered with and when
	// it was repaired. It is cleared at the next regular renewal.
	RepairedAnnotation = "cybercoop.io/repaired"

	// ownedAnnotationPrefix marks the annotations the operator owns on its Secrets: a
	// stored one that the desired Secret lacks is removed.
	ownedAnnotationPrefix = "cybercoop.io/"
)

// ApplySecret makes the stored Secret match desired: type, data (exactly), labels (added
// or overwritten), and the operator's cybercoop.io/ annotations (exactly; other
// annotations are kept). live is the Secret as read earlier in this reconcile, nil when
// it does not exist; updates carry its resourceVersion, so a concurrent change makes the
// write fail with a conflict instead of being overwritten. A Secret of another type is
// replaced, because the type is immutable. ApplySecret refuses a Secret another
// controller owns and writes nothing when everything already matches. It is
// apply.EnsureFrom with the Secret's comparison, so every child object the operator
// writes goes through one owner-checked, compare-before-write path.
func ApplySecret(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, live, desired *corev1.Secret) (*corev1.Secret, apply.Outcome, error) {
	stored, outcome, err := apply.EnsureFrom(ctx, c, scheme, owner, live, live != nil, desired, secretSpec)
	if err != nil {
		return nil, outcome, fmt.Errorf("applying Secret %s: %w", desired.Name, err)
	}
	return stored, outcome, nil
}

var secretSpec = apply.Spec[*corev1.Secret]{
	InSync:                func(d, l *corev1.Secret) bool { return d.Type == l.Type && dataEqual(l.Data, d.Data) },
	Repair:                func(d, l *corev1.Secret) { l.Data, l.StringData = d.Data, nil },
	Recreate:              func(d, l *corev1.Secret) bool { return d.Type != l.Type },
	OwnedAnnotationPrefix: ownedAnnotationPrefix,
}

// GetSecret reads a Secret; a missing Secret is (nil, nil).
func GetSecret(ctx context.Context, c client.Client, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}
	return s, nil
}

func dataEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

type annotationSet map[string]string

func ownedAnnotations(all map[string]string) annotationSet {
	out := annotationSet{}
	for k, v := range all {
		if strings.HasPrefix(k, ownedAnnotationPrefix) {
			out[k] = v
		}
	}
	return out
}
