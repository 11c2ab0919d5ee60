// Package validation checks that the API server itself rejects bad resources with
// messages that name the field and say what is expected: the CRDs' OpenAPI and CEL
// rules, loaded into a real kube-apiserver.
package validation

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client
	namespace    string
)

func TestValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "API validation")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	k8sClient = controlPlane.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	namespace = ns.Name
})

var _ = AfterSuite(func() {
	Expect(controlPlane.Stop()).To(Succeed())
})
