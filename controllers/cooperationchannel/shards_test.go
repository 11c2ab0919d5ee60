package cooperationchannel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

var _ = Describe("The gateway's channels Secrets", func() {
	ctx := context.Background()

	// channelsFiles reads every channels Secret of fp from the API server, as the
	// kubelet projects them into the gateway's channels directory: the files by
	// name, and how many Secrets there are.
	channelsFiles := func(g Gomega, fp *cybercoopv1alpha1.FocalPoint) (map[string][]byte, int) {
		files := map[string][]byte{}
		n := 0
		for i := range 16 {
			s := &corev1.Secret{}
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: focalpoint.ChannelsShardSecretName(fp, i)}, s)
			if apierrors.IsNotFound(err) {
				continue
			}
			g.Expect(err).NotTo(HaveOccurred())
			n = i + 1
			size := 0
			for k, v := range s.Data {
				g.Expect(files).NotTo(HaveKey(k), "%s is in one Secret only", k)
				files[k] = v
				size += len(k) + len(v)
			}
			g.Expect(size).To(BeNumerically("<=", 900<<10), "Secret %s", s.Name)
		}
		return files, n
	}
	listed := func(g Gomega, files map[string][]byte) []string {
		var list gateway.Channels
		g.Expect(json.Unmarshal(files[gateway.ChannelsFile], &list)).To(Succeed())
		var names []string
		for _, c := range list.Channels {
			names = append(names, c.Name)
		}
		return names
	}
	channelsVolume := func(g Gomega, fp *cybercoopv1alpha1.FocalPoint) corev1.Volume {
		d := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name + "-gateway"}, d)).To(Succeed())
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == "channels" {
				return v
			}
		}
		g.Expect("a channels volume").To(BeEmpty())
		return corev1.Volume{}
	}

	It("are as many as a FocalPoint may have once one cannot hold its channels, every channel's files complete, and stay so", func() {
		fp, _ := kenya(ctx)
		stopRollouts := keepRolledOut(fp.Namespace)
		defer func() { stopRollouts() }()
		// Peers whose trust bundles are about 60 KiB (the API accepts 64): eighteen
		// channels need more than the 1 MiB a Secret holds, which the API server
		// refused when the channels were in one Secret.
		var bundle []byte
		for len(bundle) < 60<<10 {
			bundle = append(bundle, newCA("FR", time.Now(), 0).CertificatePEM()...)
		}
		codes := []string{"FR", "DE", "IT", "ES", "PT", "NL", "BE", "AT", "CH", "SE", "NO", "DK", "FI", "PL", "CZ", "HU", "SK", "SI"}
		var channels []*cybercoopv1alpha1.CooperationChannel
		for _, code := range codes {
			channels = append(channels, newChannel(ctx, fp.Namespace, unreachable, inline(bundle), func(cc *cybercoopv1alpha1.CooperationChannel) {
				cc.Name = "to-" + strings.ToLower(code)
				cc.Spec.Peer.Country = cybercoopv1alpha1.CountryCode(code)
			}))
		}
		Eventually(func(g Gomega) {
			files, n := channelsFiles(g, fp)
			g.Expect(n).To(Equal(16))
			size := 0
			for k, v := range files {
				size += len(k) + len(v)
			}
			g.Expect(size).To(BeNumerically(">", 1<<20))
			g.Expect(listed(g, files)).To(HaveLen(len(codes)))
			for _, cc := range channels {
				ch := gateway.Channel{Name: cc.Name}
				g.Expect(files).To(HaveKey(ch.ClientCertFile()))
				g.Expect(files).To(HaveKey(ch.ClientKeyFile()))
				g.Expect(files).To(HaveKey(ch.TrustFile()))
				_, err := pki.ParseCertificatesPEM(files[ch.ClientCertFile()])
				g.Expect(err).NotTo(HaveOccurred())
				cas, err := pki.ParseCertificatesPEM(files[ch.TrustFile()])
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(len(cas)).To(BeNumerically(">", 60), "the peer's whole bundle")
			}
			v := channelsVolume(g, fp)
			g.Expect(v.Secret).To(BeNil())
			g.Expect(v.Projected).NotTo(BeNil(), "the gateway's pods mount them all into one directory")
			g.Expect(v.Projected.Sources).To(HaveLen(16))
			g.Expect(v.Projected.Sources[15].Secret.Name).To(Equal(focalpoint.ChannelsSecretName(fp)), "the channels file's Secret last")
		}).WithTimeout(time.Minute).Should(Succeed())

		// The FocalPoint's pods mounted the first Secret alone when the channels
		// outgrew it: its channels file waited for them to mount all of them.
		events := &eventsv1.EventList{}
		Expect(k8sClient.List(ctx, events, client.InNamespace(fp.Namespace))).To(Succeed())
		Expect(events.Items).To(ContainElement(And(
			HaveField("Reason", cybercoopv1alpha1.EventChannelsWaitingForRollout), HaveField("Regarding.Name", fp.Name))))

		By("reconciling the FocalPoint again with nothing changed: no Secret is written")
		versions := func(g Gomega) map[string]string {
			out := map[string]string{}
			for _, name := range focalpoint.ChannelsSecretNames(fp) {
				s := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: name}, s)).To(Succeed())
				out[name] = s.ResourceVersion
			}
			return out
		}
		before := versions(Default)
		Eventually(func(g Gomega) {
			live := &cybercoopv1alpha1.FocalPoint{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name}, live)).To(Succeed())
			live.Annotations = map[string]string{"test.cybercoop.io/poke": "1"}
			g.Expect(k8sClient.Update(ctx, live)).To(Succeed())
		}).Should(Succeed())
		Consistently(versions).WithTimeout(5 * time.Second).Should(Equal(before))

		// claim deletes the channels Secret name holds, until the operator has not
		// written it again before somebody creates theirs, with a CA of their own for
		// France, as one looping on create would; then the operator must replace it.
		name := focalpoint.ChannelsShardSecretName(fp, 5)
		claim := func(owners []metav1.OwnerReference) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				old := &corev1.Secret{}
				err := k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: name}, old)
				if err == nil && metav1.IsControlledBy(old, fp) {
					g.Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, old))).To(Succeed())
				}
				g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fp.Namespace, Name: name, OwnerReferences: owners},
					Data: map[string][]byte{"to-fr.trust.pem": pemOf(newCA("FR", time.Now(), 0))}})).To(Succeed())
			}).Should(Succeed())
			Eventually(func(g Gomega) {
				taken := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: name}, taken)).To(Succeed())
				g.Expect(metav1.IsControlledBy(taken, fp)).To(BeTrue(), "replaced: the gateway's pods mount that name")
				g.Expect(taken.Data).NotTo(HaveKey("to-fr.trust.pem"))
				files, _ := channelsFiles(g, fp)
				g.Expect(listed(g, files)).To(HaveLen(len(codes)))
			}).Should(Succeed())
		}
		By("somebody deleting one of the Secrets and taking its name")
		claim(nil)
		By("and again, the Secret made to claim an object of theirs for its controller")
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fp.Namespace, Name: "theirs"}}
		Expect(k8sClient.Create(ctx, owner)).To(Succeed())
		claim([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}})

		By("somebody deleting the first Secret while the gateway's pods are not all available")
		stopRollouts()
		stopRollouts = func() {}
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name + "-gateway"}, d)).To(Succeed())
			d.Status.AvailableReplicas, d.Status.ReadyReplicas = 0, 0
			g.Expect(k8sClient.Status().Update(ctx, d)).To(Succeed())
		}).Should(Succeed())
		first := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: focalpoint.ChannelsSecretName(fp)}, first)).To(Succeed())
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(func(g Gomega) {
			files, n := channelsFiles(g, fp)
			g.Expect(n).To(Equal(16))
			g.Expect(listed(g, files)).To(HaveLen(len(codes)), "written again at once: the pods that mount them all wait for it")
		}).Should(Succeed())
		stopRollouts = keepRolledOut(fp.Namespace)

		By("running the gateway on the Secrets' files, as its pods mount them")
		ln, _, err := localstack.Listen()
		Expect(err).NotTo(HaveOccurred())
		startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		gw, err := localstack.StartGateway(startCtx, k8sClient, fp, "", ln, GinkgoT().TempDir(), logr.Discard())
		Expect(err).NotTo(HaveOccurred(), "the gateway loads every channel's files from the two Secrets")
		metrics := httptest.NewRecorder()
		gw.Server.MetricsHandler().ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		Expect(metrics.Body.String()).To(ContainSubstring(fmt.Sprintf("cybercoop_gateway_channels %d\n", len(codes))))
		Expect(gw.Stop()).To(Succeed())

		By("removing fourteen of the channels")
		for _, cc := range channels[4:] {
			Expect(k8sClient.Delete(ctx, cc)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			files, n := channelsFiles(g, fp)
			g.Expect(n).To(Equal(16), "the Secrets the pods mount stay, the empty ones too: no rollout, no name left free")
			g.Expect(listed(g, files)).To(ConsistOf("to-fr", "to-de", "to-it", "to-es"))
			g.Expect(files).To(HaveLen(1+3*4), "the removed channels' files are gone")
			g.Expect(channelsVolume(g, fp).Projected.Sources).To(HaveLen(16))
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
