package focalpoint

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

var _ = Describe("A channel's peer trust in the channels file", func() {
	It("comes from the channel's client Secret, or from the trust ConfigMap of earlier releases until the channel moves it", func(ctx SpecContext) {
		ns, err := fixtures.Namespace(ctx, k8sClient, "fp-trust-")
		Expect(err).NotTo(HaveOccurred())
		r := &Reconciler{Client: k8sClient}
		leaf := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: gateway.ChannelClientSecretName("to-fr"), Namespace: ns},
			Data: map[string][]byte{"tls.crt": []byte("leaf")}}

		By("neither holding it: the channel is left out")
		got, err := r.peerTrust(ctx, ns, "to-fr", leaf)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(BeEmpty())

		By("an upgrade: only the legacy ConfigMap holds it")
		legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: gateway.ChannelTrustConfigMapName("to-fr"), Namespace: ns},
			Data: map[string]string{gateway.LegacyTrustKey: "legacy PEM"}}
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		got, err = r.peerTrust(ctx, ns, "to-fr", leaf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal("legacy PEM"))

		By("moved into the Secret: the Secret's, whatever the ConfigMap still says")
		leaf.Data[gateway.PeerTrustKey] = []byte("moved PEM")
		got, err = r.peerTrust(ctx, ns, "to-fr", leaf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal("moved PEM"))
	})
})
