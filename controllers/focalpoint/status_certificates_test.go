package focalpoint

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// Plain table tests of the FocalPoint's certificate wiring; they need no API server
// (go test -run 'Test' ./controllers/focalpoint runs them without the envtest suite).

func TestDesiredCertificate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		certificates *cybercoopv1alpha1.CertificatesSpec
		wantKey      map[string]any
		wantUsages   []any
		renewBefore  string
	}{
		{"defaults: ECDSA P-256, renewal at 2/3 of 90 days",
			&cybercoopv1alpha1.CertificatesSpec{IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "site-ca"}},
			map[string]any{"algorithm": "ECDSA", "size": int64(256), "encoding": "PKCS8", "rotationPolicy": "Always"},
			[]any{"server auth", "digital signature"}, "720h0m0s"},
		{"RSA 3072 also enciphers; renewBefore from the spec",
			&cybercoopv1alpha1.CertificatesSpec{KeyAlgorithm: cybercoopv1alpha1.KeyAlgorithmRSA3072,
				LeafCertificateSpec: cybercoopv1alpha1.LeafCertificateSpec{LeafRenewBefore: &metav1.Duration{Duration: 48 * time.Hour}},
				IssuerRef:           &cybercoopv1alpha1.IssuerReference{Name: "site-ca", Kind: cybercoopv1alpha1.IssuerKindIssuer, Group: "cert-manager.io"}},
			map[string]any{"algorithm": "RSA", "size": int64(3072), "encoding": "PKCS8", "rotationPolicy": "Always"},
			[]any{"server auth", "digital signature", "key encipherment"}, "48h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			fp := &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: "ke-poc", Namespace: "ke"}}
			fp.Spec.Certificates = tc.certificates
			cert, err := desiredCertificate(fp, GatewayCertificateName(fp), gatewayLeaf(fp))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cert.GroupVersionKind()).To(Equal(CertificateGVK))
			g.Expect(cert.GetName()).To(Equal("ke-poc-gateway-serving"))
			spec := cert.Object["spec"].(map[string]any)
			g.Expect(spec["privateKey"]).To(Equal(tc.wantKey))
			g.Expect(spec["usages"]).To(Equal(tc.wantUsages))
			g.Expect(spec["renewBefore"]).To(Equal(tc.renewBefore))
			g.Expect(spec["secretName"]).To(Equal("ke-poc-gateway-tls"))
			g.Expect(spec["issuerRef"]).To(Equal(map[string]any{"name": "site-ca", "kind": "Issuer", "group": "cert-manager.io"}))
		})
	}
}

func TestPlannedRollout(t *testing.T) {
	bundle := func(b string, serving ...string) map[string]string {
		m := map[string]string{}
		if b != "" {
			m[ca.TrustBundleHashAnnotation] = b
		}
		if len(serving) > 0 {
			m[ca.ServingCertificateAnnotation] = serving[0]
		}
		return m
	}
	for _, tc := range []struct {
		name          string
		desired, live map[string]string
		want          string
	}{
		{"steady state", bundle("b1"), bundle("b1"), ""},
		{"certificates unknown", nil, bundle("b1", "AB"), ""},
		{"new bundle", bundle("b2"), bundle("b1"), "the trust bundle changed, so the gateway pods are rolled to load it"},
		{"re-issued leaf", bundle("b1", "AB"), bundle("b1"),
			"the serving certificate was re-issued from the new CA, so the gateway pods are rolled to load it before the old CA is pruned"},
		{"prune: new bundle, fingerprint dropped", bundle("b2"), bundle("b1", "AB"), "the trust bundle changed, so the gateway pods are rolled to load it"},
		{"fingerprint dropped alone", bundle("b1"), bundle("b1", "AB"), "the CA key replacement no longer waits for the gateway to load its serving certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(ca.PlannedRollout(tc.desired, tc.live, "gateway")).To(Equal(tc.want))
		})
	}
}

func TestDeploymentSpecOwnsTheServingCertificateAnnotation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		desired, live map[string]string
		inSync        bool
	}{
		{"idle, unchanged", map[string]string{ca.TrustBundleHashAnnotation: "b"}, map[string]string{ca.TrustBundleHashAnnotation: "b"}, true},
		{"rotation ended: the fingerprint is removed", map[string]string{ca.TrustBundleHashAnnotation: "b"},
			map[string]string{ca.TrustBundleHashAnnotation: "b", ca.ServingCertificateAnnotation: "AB"}, false},
		{"leaves re-issued: the fingerprint is added", map[string]string{ca.TrustBundleHashAnnotation: "b", ca.ServingCertificateAnnotation: "AB"},
			map[string]string{ca.TrustBundleHashAnnotation: "b"}, false},
		{"leaves re-issued, rolled", map[string]string{ca.TrustBundleHashAnnotation: "b", ca.ServingCertificateAnnotation: "AB"},
			map[string]string{ca.TrustBundleHashAnnotation: "b", ca.ServingCertificateAnnotation: "AB"}, true},
		{"certificates unknown: the template is left as it is", nil,
			map[string]string{ca.TrustBundleHashAnnotation: "b", ca.ServingCertificateAnnotation: "AB"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			fp := newFocalPoint("ns")
			cm, err := desiredConfigMap(fp, nil)
			g.Expect(err).NotTo(HaveOccurred())
			d := desiredDeployment(fp, cm, testGatewayImage, tc.desired, 1)
			l := d.DeepCopy()
			l.Spec.Template.Annotations = map[string]string{ConfigHashAnnotation: d.Spec.Template.Annotations[ConfigHashAnnotation]}
			for k, v := range tc.live {
				l.Spec.Template.Annotations[k] = v
			}
			g.Expect(deploymentSpec.InSync(d, l)).To(Equal(tc.inSync))
		})
	}
}

func TestCertificatesStatus(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	caKP, err := pki.CreateCA(pki.CASpec{CommonName: "cybercoop KE national CA", Country: "KE", Duration: 365 * 24 * time.Hour}, t0)
	g.Expect(err).NotTo(HaveOccurred())
	leaf, err := pki.IssueLeaf(caKP, pki.LeafSpec{CommonName: "gw", DNSNames: []string{"gw"}, Usages: []pki.Usage{pki.UsageServer}}, t0)
	g.Expect(err).NotTo(HaveOccurred())
	started := t0.Add(24 * time.Hour)
	rep := &certs.Report{OwnsCA: true, Phase: pki.RotationBundleObserved, RotationMessage: "waiting for every leaf", StartedAt: &started,
		CA:     &certs.Observed{Role: certs.RoleCA, SecretName: "ke-poc-ca", Certificate: caKP.Certificate, RenewBefore: 180 * 24 * time.Hour, Generation: 1},
		Leaves: []certs.Observed{{Role: roleGatewayServing, SecretName: "ke-poc-gateway-tls", Certificate: leaf.Certificate, Generation: 1}}}
	st := certificatesStatus(rep)
	g.Expect(st.CA.SerialNumber).To(Equal(pki.FactsOf(caKP.Certificate, 0).SerialNumber))
	g.Expect(st.CA.RenewalTime.Time).To(Equal(time.Date(2027, 9, 2, 12, 0, 0, 0, time.UTC)))
	g.Expect(st.GatewayServing.SecretName).To(Equal("ke-poc-gateway-tls"))
	g.Expect(st.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationBundleObserved))
	g.Expect(st.Rotation.StartedAt.Time).To(Equal(started))
	g.Expect(st.Rotation.Message).To(Equal("waiting for every leaf"))
}
