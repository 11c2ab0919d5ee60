package cooperationchannel

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// withoutUnlabelledSecrets is the manager's label-filtered cache as far as a
// person's Secret goes: it never holds one.
type withoutUnlabelledSecrets struct{ client.Client }

func (c withoutUnlabelledSecrets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// namesNotCaughtUp is a names cache that has not yet seen the Secret a person just
// created, while the channel's watch of that Secret already woke the channel: the
// make e2e failure of the names cache's first wiring (France's channel never
// trusted Kenya's CA).
type namesNotCaughtUp struct{}

func (namesNotCaughtUp) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
}

func (namesNotCaughtUp) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

var _ = Describe("The trust bundle Secret a person names", func() {
	It("is read from the API server, not taken for absent by a names cache that lags behind the watch", func(ctx SpecContext) {
		ns, err := fixtures.Namespace(ctx, k8sClient, "cc-")
		Expect(err).NotTo(HaveOccurred())
		fr := pemOf(newCA("FR", metav1.Now().Time, 0))
		cc := &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{Name: "to-fr", Namespace: ns}}
		cc.Spec.Peer.TrustBundle.SecretRef = &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca"}
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fr-ca", Namespace: ns},
			Data: map[string][]byte{"ca.crt": fr}})).To(Succeed())

		reconcilerClient := manageropts.ReconcilerClientWithNames(withoutUnlabelledSecrets{k8sClient}, k8sClient, namesNotCaughtUp{})
		By("the reconciler client, asked, says the Secret does not exist")
		Expect(apierrors.IsNotFound(reconcilerClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fr-ca"}, &corev1.Secret{}))).
			To(BeTrue(), "the client this spec relies on to be fooled was not")

		By("the channel reads it from the API server")
		r := &Reconciler{Client: reconcilerClient, APIReader: k8sClient}
		got, err := r.readSpecBundle(ctx, cc)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.problem).To(BeEmpty())
		Expect(got.pem).To(Equal(fr))
	})
})
