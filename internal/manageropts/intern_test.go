package manageropts

import (
	"encoding/json"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// decodedChannel is a channel as the informer gets it: decoded from JSON, so no
// string shares its bytes with another object's.
func decodedChannel(t *testing.T, name string) *cybercoopv1alpha1.CooperationChannel {
	t.Helper()
	cc := &cybercoopv1alpha1.CooperationChannel{
		TypeMeta: metav1.TypeMeta{APIVersion: "cybercoop.io/v1alpha1", Kind: "CooperationChannel"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ke", Labels: map[string]string{"team": "poc"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}},
		Spec: cybercoopv1alpha1.CooperationChannelSpec{
			FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: "ke-poc"},
			Peer: cybercoopv1alpha1.PeerSpec{Country: "VN", Endpoint: "https://poc.vn.example:8443",
				TrustBundle: cybercoopv1alpha1.PeerTrustBundle{PEM: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"}},
			RequestTypes: []cybercoopv1alpha1.RequestType{cybercoopv1alpha1.RequestPreservation},
		},
		Status: cybercoopv1alpha1.CooperationChannelStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue,
			Reason: "AllConditionsMet", Message: "the peer is trusted and reachable, and the channel's client certificate is valid"}}},
	}
	raw, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	out := &cybercoopv1alpha1.CooperationChannel{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A channel applied with kubectl apply keeps its other annotations in the cache,
// not kubectl's copy of its spec.
func TestChannelTransformDropsKubectlsLastApplied(t *testing.T) {
	cc := decodedChannel(t, "to-vn")
	applied, err := json.Marshal(map[string]any{"apiVersion": cc.APIVersion, "kind": cc.Kind, "spec": cc.Spec})
	if err != nil {
		t.Fatal(err)
	}
	cc.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: string(applied), cybercoopv1alpha1.ForceRenewAnnotation: "2027-03-01"}
	want := cc.DeepCopy()
	want.ManagedFields = nil
	want.Annotations = map[string]string{cybercoopv1alpha1.ForceRenewAnnotation: "2027-03-01"}
	if _, err := channelTransform()(cc); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(cc, want) {
		t.Errorf("the cached channel:\n got %+v\nwant %+v", cc.ObjectMeta, want.ObjectMeta)
	}
	only := decodedChannel(t, "to-th")
	only.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: string(applied)}
	if _, err := channelTransform()(only); err != nil {
		t.Fatal(err)
	}
	if only.Annotations != nil {
		t.Errorf("annotations left: %v", only.Annotations)
	}
}

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestChannelTransformSharesStringsAndChangesNothingElse(t *testing.T) {
	transform := channelTransform()
	a, b := decodedChannel(t, "to-vn"), decodedChannel(t, "to-vn-2")
	if sameBytes(a.Spec.Peer.TrustBundle.PEM, b.Spec.Peer.TrustBundle.PEM) {
		t.Fatal("decoded channels already share their PEM: the test shows nothing")
	}
	wantA := a.DeepCopy()
	wantA.ManagedFields = nil
	for _, cc := range []*cybercoopv1alpha1.CooperationChannel{a, b} {
		if _, err := transform(cc); err != nil {
			t.Fatal(err)
		}
	}
	if !equality.Semantic.DeepEqual(a, wantA) {
		t.Errorf("the transform changed the channel:\n got %+v\nwant %+v", a, wantA)
	}
	shared := map[string][2]string{
		"spec.peer.trustBundle.pem":    {a.Spec.Peer.TrustBundle.PEM, b.Spec.Peer.TrustBundle.PEM},
		"spec.peer.endpoint":           {a.Spec.Peer.Endpoint, b.Spec.Peer.Endpoint},
		"spec.focalPointRef.name":      {a.Spec.FocalPointRef.Name, b.Spec.FocalPointRef.Name},
		"metadata.namespace":           {a.Namespace, b.Namespace},
		"status.conditions[0].message": {a.Status.Conditions[0].Message, b.Status.Conditions[0].Message},
		"spec.requestTypes[0]":         {string(a.Spec.RequestTypes[0]), string(b.Spec.RequestTypes[0])},
	}
	for field, s := range shared {
		if !sameBytes(s[0], s[1]) {
			t.Errorf("%s: the two channels hold separate copies of %q", field, s[0])
		}
	}
}

func TestChannelTransformPassesOtherKinds(t *testing.T) {
	fp := &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: "ke-poc",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	out, err := channelTransform()(fp)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*cybercoopv1alpha1.FocalPoint); got.Name != "ke-poc" || got.ManagedFields != nil {
		t.Errorf("got %+v, want the FocalPoint without its managedFields", got.ObjectMeta)
	}
}

func TestSecretTransformSharesCABundlesOnly(t *testing.T) {
	decoded := func(name string) *corev1.Secret {
		// As decoded: each value its own copy. The same key in both, to show that
		// only CA bundles are shared.
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ke"}, Data: map[string][]byte{
			"tls.crt": []byte("leaf"), "tls.key": []byte("the same key"),
			"ca.crt": []byte("-----BEGIN CERTIFICATE-----\nKE\n"), "peer-ca.crt": []byte("-----BEGIN CERTIFICATE-----\nVN\n"),
		}}
	}
	a, b := decoded("to-vn-client"), decoded("to-vn-2-client")
	want := a.DeepCopy()
	for _, s := range []*corev1.Secret{a, b} {
		if _, err := secretTransform()(s); err != nil {
			t.Fatal(err)
		}
	}
	if !equality.Semantic.DeepEqual(a.Data, want.Data) {
		t.Errorf("the transform changed the data:\n got %q\nwant %q", a.Data, want.Data)
	}
	for _, k := range []string{"ca.crt", "peer-ca.crt"} {
		if &a.Data[k][0] != &b.Data[k][0] {
			t.Errorf("%s: the two Secrets hold separate copies", k)
		}
	}
	if &a.Data["tls.key"][0] == &b.Data["tls.key"][0] {
		t.Error("a private key was shared: only CA bundles are")
	}
}
