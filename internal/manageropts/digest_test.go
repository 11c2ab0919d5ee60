package manageropts

import (
	"bytes"
	"crypto/sha256"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func channelsSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway-channels", Namespace: "ke",
			Labels:        map[string]string{DigestLabel: "channels.json", "app.kubernetes.io/part-of": "cybercoop"},
			Annotations:   map[string]string{"note": "kept"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "cybercoop"}}},
		Data: map[string][]byte{"channels.json": []byte(`{"channels":[]}`), "to-fr.crt": []byte("certificate"), "to-fr.key": []byte("key")},
	}
}

func TestSecretTransformDigestsLabelledData(t *testing.T) {
	in := channelsSecret()
	stored := in.DeepCopy()
	out, err := secretTransform()(in)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Secret)
	if !Digested(s) || s.ManagedFields != nil {
		t.Fatalf("not digested or managedFields kept: %+v", s.ObjectMeta)
	}
	if !bytes.Equal(s.Data["channels.json"], stored.Data["channels.json"]) {
		t.Fatal("the kept file was digested")
	}
	if sum := sha256.Sum256([]byte("key")); !bytes.Equal(s.Data["to-fr.key"], sum[:]) {
		t.Fatal("a file is not its SHA-256")
	}
	// Desired in the cached form compares equal to the cached copy; an edited file does not.
	if !equality.Semantic.DeepEqual(ComparableData(stored, s), s.Data) {
		t.Fatal("the stored data does not compare equal to its cached copy")
	}
	edited := stored.DeepCopy()
	edited.Data["to-fr.crt"] = []byte("certificatf")
	if equality.Semantic.DeepEqual(ComparableData(edited, s), s.Data) {
		t.Fatal("an edited file compares equal")
	}
	// A copy written back carries the files and no marker, and the cached copy is untouched.
	write := s.DeepCopy()
	UndigestedForWrite(write, stored.Data)
	if Digested(write) || write.Annotations["note"] != "kept" || !equality.Semantic.DeepEqual(write.Data, stored.Data) {
		t.Fatalf("written copy: %+v", write)
	}
	if !Digested(s) {
		t.Fatal("the cached copy lost its marker")
	}
	// A second pass of the transform (a resync) does not digest the digests.
	again, _ := secretTransform()(s.DeepCopy())
	if !equality.Semantic.DeepEqual(again.(*corev1.Secret).Data, s.Data) {
		t.Fatal("digested twice")
	}
}

func TestSecretTransformLeavesOtherSecrets(t *testing.T) {
	in := channelsSecret()
	delete(in.Labels, DigestLabel)
	want := in.Data["to-fr.key"]
	out, _ := secretTransform()(in)
	s := out.(*corev1.Secret)
	if Digested(s) || !bytes.Equal(s.Data["to-fr.key"], want) {
		t.Fatal("an unlabelled Secret was digested")
	}
	if !equality.Semantic.DeepEqual(ComparableData(s, s), s.Data) {
		t.Fatal("an undigested copy compares differently")
	}
}
