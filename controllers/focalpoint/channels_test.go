package focalpoint

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

var _ = Describe("A channel's peer trust in the channels file", func() {
	It("comes from the channel's client Secret, or from the trust ConfigMap an earlier release wrote for it, never from another", func(ctx SpecContext) {
		ns, err := fixtures.Namespace(ctx, k8sClient, "fp-trust-")
		Expect(err).NotTo(HaveOccurred())
		r := &Reconciler{Client: k8sClient}
		cc := &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{Name: "to-fr", Namespace: ns},
			Spec: cybercoopv1alpha1.CooperationChannelSpec{FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: "ke-poc"},
				Peer:           cybercoopv1alpha1.PeerSpec{Country: "FR", Endpoint: "https://gateway.fr.example:8443", TrustBundle: cybercoopv1alpha1.PeerTrustBundle{PEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}},
				RequestTypes:   []cybercoopv1alpha1.RequestType{cybercoopv1alpha1.RequestPreservation},
				DataProtection: cybercoopv1alpha1.DataProtectionSpec{LegalBasis: "UNCC art. 40"}}}
		Expect(k8sClient.Create(ctx, cc)).To(Succeed())
		leaf := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: gateway.ChannelClientSecretName(cc.Name), Namespace: ns},
			Data: map[string][]byte{"tls.crt": []byte("leaf")}}
		trust := func() string {
			GinkgoHelper()
			got, err := r.peerTrust(ctx, cc, leaf)
			Expect(err).NotTo(HaveOccurred())
			return string(got)
		}

		By("neither holding it: the channel is left out")
		Expect(trust()).To(BeEmpty())

		By("a ConfigMap of the legacy name someone else made: not trusted")
		legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: gateway.ChannelTrustConfigMapName(cc.Name), Namespace: ns},
			Data: map[string]string{gateway.LegacyTrustKey: "legacy PEM"}}
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		Expect(trust()).To(BeEmpty())

		By("controlled by the channel, but the channel never reconciled (made since the upgrade): not trusted")
		Expect(controllerutil.SetControllerReference(cc, legacy, k8sClient.Scheme())).To(Succeed())
		Expect(k8sClient.Update(ctx, legacy)).To(Succeed())
		Expect(trust()).To(BeEmpty())

		By("an upgrade: the channel had been reconciled, only its legacy ConfigMap holds the trust")
		cc.Status.Conditions = []metav1.Condition{{Type: cybercoopv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: cybercoopv1alpha1.ReasonAllConditionsMet, Message: "ready", LastTransitionTime: metav1.Now()}}
		Expect(trust()).To(Equal("legacy PEM"))

		By("moved into the Secret: the Secret's, whatever the ConfigMap still says")
		leaf.Data[gateway.PeerTrustKey] = []byte("moved PEM")
		Expect(trust()).To(Equal("moved PEM"))
	})
})
