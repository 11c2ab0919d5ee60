package manageropts

import (
	"strings"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// channelTransform is the cache's transform of CooperationChannels: managedFields
// dropped, as for every kind, kubectl's last-applied-configuration annotation
// dropped, and the strings that many channels share kept once.
//
// A channel applied with kubectl apply (client-side, its default) carries its whole
// spec a second time, as JSON, in that annotation: the peer's CA certificate
// included, about as much as the rest of the cached channel. The operator never
// reads it, and never writes a channel whole (status and finalizers are patches), so
// the cached copy's lack of it never reaches the API server; kubectl reads it there.
//
// A State holds a channel to each peer, and a regional hub runs several States'
// stacks, so the same peer's CA certificate (spec.peer.trustBundle.pem, the largest
// field), the same endpoints, request types, condition types, reasons and messages
// are repeated in thousands of cached channels. The decoder allocates each one
// anew; here each is replaced by one shared copy (the unique package's, freed when
// no channel uses it any more). Nothing else changes: the object reads the same.
// test/perf measures the effect with 10,000 channels cached.
func channelTransform() toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := strip(in)
		if cc, ok := out.(*cybercoopv1alpha1.CooperationChannel); ok && err == nil {
			if _, applied := cc.Annotations[corev1.LastAppliedConfigAnnotation]; applied {
				delete(cc.Annotations, corev1.LastAppliedConfigAnnotation)
				if len(cc.Annotations) == 0 {
					cc.Annotations = nil
				}
			}
			internChannel(cc)
		}
		return out, err
	}
}

func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// internBytes returns b's bytes as one copy shared by every caller that passes
// the same bytes, held by the unique package's table like the strings: the slice
// points at that copy's storage. It must never be written to; it is only ever
// given to the cache, whose objects are read-only (a client's reads copy them).
func internBytes(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	s := unique.Make(string(b)).Value()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// internCABundles shares the CA bundles of a Secret's data: the values under a key
// ending in ca.crt (ca.crt, this State's trust bundle in every leaf Secret of a
// FocalPoint's CA; peer-ca.crt, a peer's CAs in every hub channel's client Secret
// to that peer). They are public, and the same bytes in thousands of Secrets.
func internCABundles(data map[string][]byte) {
	for k, v := range data {
		if strings.HasSuffix(k, "ca.crt") {
			data[k] = internBytes(v)
		}
	}
}

func internTyped[S ~string](s S) S { return S(intern(string(s))) }

func internSlice[S ~string](s []S) {
	for i := range s {
		s[i] = internTyped(s[i])
	}
}

// internMap replaces the keys and values of m by shared copies.
func internMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = intern(v)
	}
	return out
}

func internConditions(cs []metav1.Condition) {
	for i := range cs {
		c := &cs[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = internTyped(c.Status)
	}
}

// internChannel shares the strings of cc that other channels are likely to hold
// too. Names, UIDs, and the serial number and fingerprint of the channel's own
// certificate are left alone: each is unique, and a shared copy of a unique
// string only adds the table's entry.
func internChannel(cc *cybercoopv1alpha1.CooperationChannel) {
	cc.APIVersion, cc.Kind = intern(cc.APIVersion), intern(cc.Kind)
	internMeta(&cc.ObjectMeta)
	sp := &cc.Spec
	sp.FocalPointRef.Name = intern(sp.FocalPointRef.Name)
	p := &sp.Peer
	p.Country, p.Provider = internTyped(p.Country), internTyped(p.Provider)
	p.Endpoint, p.ServerName = intern(p.Endpoint), intern(p.ServerName)
	p.TrustBundle.PEM = intern(p.TrustBundle.PEM)
	if r := p.TrustBundle.SecretRef; r != nil {
		r.Name, r.Key = intern(r.Name), intern(r.Key)
	}
	internSlice(sp.RequestTypes)
	internSlice(sp.Languages)
	sp.DataProtection.LegalBasis = intern(sp.DataProtection.LegalBasis)
	sp.DataProtection.OnwardTransfer = internTyped(sp.DataProtection.OnwardTransfer)
	for i := range sp.Deadlines {
		sp.Deadlines[i].Type = internTyped(sp.Deadlines[i].Type)
	}
	st := &cc.Status
	internConditions(st.Conditions)
	if peer := st.Peer; peer != nil {
		// CA fingerprints, unlike a leaf's, are shared: the peer's CAs by every
		// channel to that peer, this State's CAs (acceptsCAs) by every channel of
		// the FocalPoint.
		for i := range peer.TrustedCAs {
			ca := &peer.TrustedCAs[i]
			ca.Subject, ca.Source, ca.SHA256Fingerprint = intern(ca.Subject), intern(ca.Source), intern(ca.SHA256Fingerprint)
		}
		internSlice(peer.AcceptsCAs)
	}
	if c := st.Certificates; c != nil && c.Client != nil {
		c.Client.SecretName = intern(c.Client.SecretName)
	}
}
