package manageropts

import (
	"crypto/sha256"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// DigestLabel on a Secret the operator writes asks the manager's cache to hold
// the Secret's data as digests: every value but the one under the key the label
// names replaced by its SHA-256. It is for a large Secret the operator only writes
// and compares, never reads the files of: a FocalPoint's gateway channels Secret
// holds every channel's client certificate, key and peer CAs (2.1 KiB a channel),
// a copy of what the channels' own Secrets and ConfigMaps hold, and the cache kept
// both. The digests still tell any change of a value, an edit included.
const DigestLabel = "cybercoop.io/cache-data-as-digests"

// DigestedAnnotation marks a Secret as the cache holds it, its data values
// digested. The cache sets it; it is never stored: a write made from a cached copy
// replaces the data and removes it (UndigestedForWrite).
const DigestedAnnotation = "cybercoop.io/cached-data-digested"

// DigestData is data as the cache holds it for a Secret labelled with
// DigestLabel=keep: the value under keep as it is, every other value replaced by
// its SHA-256.
func DigestData(data map[string][]byte, keep string) map[string][]byte {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		if k == keep {
			out[k] = v
			continue
		}
		sum := sha256.Sum256(v)
		out[k] = sum[:]
	}
	return out
}

// Digested reports whether s is a cached copy whose data values are digests.
func Digested(s *corev1.Secret) bool {
	_, ok := s.Annotations[DigestedAnnotation]
	return ok
}

// ComparableData is desired's data in the form live holds it: digested when live
// is a digested cached copy, so the two compare equal exactly when the stored
// Secret holds desired's data.
func ComparableData(desired, live *corev1.Secret) map[string][]byte {
	if !Digested(live) {
		return desired.Data
	}
	return DigestData(desired.Data, live.Labels[DigestLabel])
}

// UndigestedForWrite makes live, a copy about to be written back with data, carry
// data and no cache marker.
func UndigestedForWrite(live *corev1.Secret, data map[string][]byte) {
	live.Data = data
	if Digested(live) {
		live.Annotations = maps.Clone(live.Annotations)
		delete(live.Annotations, DigestedAnnotation)
	}
}

// secretTransform is the cache's transform of the operator's Secrets:
// managedFields dropped, the metadata strings and CA bundles many Secrets share
// kept once, and the data of a Secret labelled with DigestLabel digested.
func secretTransform() toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := strip(in)
		s, ok := out.(*corev1.Secret)
		if !ok || err != nil {
			return out, err
		}
		internMeta(&s.ObjectMeta)
		internCABundles(s.Data)
		if keep, ok := s.Labels[DigestLabel]; ok && !Digested(s) {
			s.Data = DigestData(s.Data, keep)
			s.Annotations = maps.Clone(s.Annotations)
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[DigestedAnnotation] = "sha256"
		}
		return s, nil
	}
}

// configMapTransform is the cache's transform of the operator's ConfigMaps:
// managedFields dropped and the metadata strings many ConfigMaps share kept once
// (after an upgrade, the trust ConfigMap each channel kept in earlier releases has
// the labels of every other channel's, until the channel deletes it).
func configMapTransform() toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := strip(in)
		if cm, ok := out.(*corev1.ConfigMap); ok && err == nil {
			internMeta(&cm.ObjectMeta)
		}
		return out, err
	}
}

// internMeta shares the namespace, the labels, the annotations' keys and values,
// and the owner references' API versions and kinds. Names and UIDs are left alone.
func internMeta(m *metav1.ObjectMeta) {
	m.Namespace = intern(m.Namespace)
	m.Labels = internMap(m.Labels)
	m.Annotations = internMap(m.Annotations)
	for i := range m.OwnerReferences {
		r := &m.OwnerReferences[i]
		r.APIVersion, r.Kind = intern(r.APIVersion), intern(r.Kind)
	}
}
