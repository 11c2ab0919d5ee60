package cooperationchannel

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// unreachable is a peer endpoint where nothing listens.
const unreachable = "https://127.0.0.1:1"

// kenya is Kenya's FocalPoint in a namespace of its own, once its national CA is
// issued, with the CA's trust bundle.
func kenya(ctx context.Context) (*cybercoopv1alpha1.FocalPoint, []byte) {
	GinkgoHelper()
	ns, err := fixtures.Namespace(ctx, k8sClient, "cc-")
	Expect(err).NotTo(HaveOccurred())
	fp := fixtures.Kenya(ns)
	Expect(k8sClient.Create(ctx, fp)).To(Succeed())
	var bundle []byte
	Eventually(func(g Gomega) {
		s := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: focalpoint.TrustBundleSecretName(fp)}, s)).To(Succeed())
		bundle = s.Data[pki.CACertKey]
		g.Expect(bundle).NotTo(BeEmpty())
	}).Should(Succeed())
	return fp, bundle
}

// newChannel creates a channel of FocalPoint ke-poc in ns to France at endpoint.
func newChannel(ctx context.Context, ns, endpoint string, trust cybercoopv1alpha1.PeerTrustBundle, mutate func(*cybercoopv1alpha1.CooperationChannel)) *cybercoopv1alpha1.CooperationChannel {
	GinkgoHelper()
	cc := &cybercoopv1alpha1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "to-fr", Namespace: ns},
		Spec: cybercoopv1alpha1.CooperationChannelSpec{
			FocalPointRef:  cybercoopv1alpha1.FocalPointReference{Name: "ke-poc"},
			Peer:           cybercoopv1alpha1.PeerSpec{Country: "FR", Endpoint: endpoint, ServerName: "gateway.fr.test", TrustBundle: trust},
			RequestTypes:   []cybercoopv1alpha1.RequestType{cybercoopv1alpha1.RequestPreservation, cybercoopv1alpha1.RequestSubscriberInformation},
			DataProtection: cybercoopv1alpha1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42; KE-FR memorandum 2027"},
		},
	}
	if mutate != nil {
		mutate(cc)
	}
	Expect(k8sClient.Create(ctx, cc)).To(Succeed())
	return cc
}

func inline(pem []byte) cybercoopv1alpha1.PeerTrustBundle {
	return cybercoopv1alpha1.PeerTrustBundle{PEM: string(pem)}
}

func get(ctx context.Context, g Gomega, cc *cybercoopv1alpha1.CooperationChannel) *cybercoopv1alpha1.CooperationChannel {
	out := &cybercoopv1alpha1.CooperationChannel{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cc), out)).To(Succeed())
	return out
}

func condition(cc *cybercoopv1alpha1.CooperationChannel, t string) metav1.Condition {
	if c := meta.FindStatusCondition(cc.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// trustSecret is the channel's client Secret, which holds the peer trust the
// gateway loads (gateway.PeerTrustKey) and its record (TrustRecordAnnotation).
func trustSecret(ctx context.Context, g Gomega, cc *cybercoopv1alpha1.CooperationChannel) *corev1.Secret {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: ClientSecretName(cc)}, s)).To(Succeed())
	g.Expect(s.Annotations).To(HaveKey(TrustRecordAnnotation), "the Secret holds the peer trust")
	return s
}

func records(g Gomega, s *corev1.Secret) map[string]trustRecord {
	out := map[string]trustRecord{}
	g.Expect(json.Unmarshal([]byte(s.Annotations[TrustRecordAnnotation]), &out)).To(Succeed())
	return out
}

// eventsAbout are the events about cc with reason.
func eventsAbout(ctx context.Context, g Gomega, cc *cybercoopv1alpha1.CooperationChannel, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(cc.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "CooperationChannel" && e.Regarding.Name == cc.Name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// keepRolledOut reports every Deployment of namespace rolled out, as the
// controllers and kubelets of a cluster would (envtest runs none), until the
// returned function is called.
func keepRolledOut(namespace string) func() {
	return envtestutil.KeepRolledOut(context.Background(), k8sClient, namespace)
}

// poke changes an annotation, which makes the controller reconcile at once.
func poke(ctx context.Context, cc *cybercoopv1alpha1.CooperationChannel) {
	GinkgoHelper()
	// Read and written again on a conflict: the operator writes the channel's
	// status between the read and the write.
	Eventually(func(g Gomega) {
		live := get(ctx, g, cc)
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		live.Annotations["test.cybercoop.io/poke"] = strconv.FormatInt(time.Now().UnixNano(), 10)
		g.Expect(k8sClient.Update(ctx, live)).To(Succeed())
	}).Should(Succeed())
}

var _ = Describe("CooperationChannel", func() {
	ctx := context.Background()

	It("issues the client certificate from the FocalPoint's CA and writes the peer's CAs for the gateway", func() {
		fp, bundle := kenya(ctx)
		fr := newCA("FR", time.Now(), 0)
		cc := newChannel(ctx, fp.Namespace, unreachable, inline(pemOf(fr)), nil)

		By("issuing a client-only certificate naming the channel, from the FocalPoint's national CA")
		var leaf *x509.Certificate
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: gateway.ChannelClientSecretName(cc.Name)}, s)).To(Succeed())
			g.Expect(s.Type).To(Equal(corev1.SecretTypeTLS))
			g.Expect(s.Labels).To(HaveKeyWithValue(certs.IssuerLabel, focalpoint.CASecretName(fp)))
			g.Expect(s.Labels).To(HaveKeyWithValue(gateway.FocalPointLabel, fp.Name))
			g.Expect(s.Labels).To(HaveKeyWithValue(certs.RoleLabel, roleChannelClient))
			g.Expect(s.Labels).To(HaveKeyWithValue(apply.ManagedLabel, apply.ManagedValue))
			g.Expect(metav1.IsControlledBy(s, get(ctx, g, cc))).To(BeTrue())
			parsed, err := pki.ParseLeafSecret(s.Data)
			g.Expect(err).NotTo(HaveOccurred())
			leaf = parsed.Certificate
		}).Should(Succeed())
		Expect(leaf.Subject.CommonName).To(Equal("KE channel to FR"))
		Expect(leaf.Subject.Country).To(Equal([]string{"KE"}))
		Expect(leaf.URIs).To(HaveLen(1))
		Expect(leaf.URIs[0].String()).To(Equal("spiffe://cybercoop.io/ns/" + cc.Namespace + "/cooperationchannel/to-fr"))
		Expect(leaf.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageClientAuth))
		Expect(leaf.IsCA).To(BeFalse())
		own, err := pki.ParseTrustBundle(bundle)
		Expect(err).NotTo(HaveOccurred())
		Expect(own.Verify(leaf, pki.UsageClient, time.Now())).To(Succeed())
		Expect(leaf.Subject.Organization).To(Equal(own.Certificates()[0].Subject.Organization))

		By("writing the peer's CA into the client Secret the gateway loads, with where it came from")
		var since time.Time
		Eventually(func(g Gomega) {
			sec := trustSecret(ctx, g, cc)
			g.Expect(sec.Data).To(HaveKeyWithValue(gateway.PeerTrustKey, pemOf(fr)))
			g.Expect(sec.Labels).To(HaveKeyWithValue(gateway.FocalPointLabel, fp.Name))
			g.Expect(metav1.IsControlledBy(sec, get(ctx, g, cc))).To(BeTrue())
			rec := records(g, sec)
			g.Expect(rec).To(HaveLen(1))
			g.Expect(rec).To(HaveKey(ca.Fingerprint(fr.Certificate)))
			g.Expect(rec[ca.Fingerprint(fr.Certificate)].Source).To(Equal(SourceSpec))
			since = rec[ca.Fingerprint(fr.Certificate)].Since
		}).Should(Succeed())

		By("reporting the trust and the certificate, and the unreachable peer, in status")
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			trusted := condition(got, cybercoopv1alpha1.ConditionPeerTrusted)
			g.Expect(trusted.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(trusted.Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleValid))
			g.Expect(trusted.Message).To(ContainSubstring("CN=FR national CA"))
			g.Expect(trusted.Message).To(ContainSubstring("the earliest expires at " + rfc3339(fr.Certificate.NotAfter)))
			g.Expect(got.Status.Peer).NotTo(BeNil())
			g.Expect(got.Status.Peer.TrustedCAs).To(HaveLen(1))
			tc := got.Status.Peer.TrustedCAs[0]
			g.Expect(tc.SHA256Fingerprint).To(Equal(ca.Fingerprint(fr.Certificate)))
			g.Expect(tc.Source).To(Equal(SourceSpec))
			g.Expect(tc.Since.Time).To(BeTemporally("==", since))
			g.Expect(tc.NotAfter.Time).To(BeTemporally("==", fr.Certificate.NotAfter))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.Certificates.Client.SecretName).To(Equal(gateway.ChannelClientSecretName(cc.Name)))
			g.Expect(got.Status.Certificates.Client.SHA256Fingerprint).To(Equal(ca.Fingerprint(leaf)))
			reach := condition(got, cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(reach.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerUnreachable))
			g.Expect(reach.Message).To(ContainSubstring("connection refused"))
			g.Expect(lastProbe(got)).NotTo(BeZero(), "the probe's time is a metric")
			g.Expect(got.Status.Peer.HandshakeTime).To(BeNil())
			ready := condition(got, cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Message).To(ContainSubstring("PeerReachable is False"))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
	})

	DescribeTable("refuses a trust bundle without a usable CA, and says why",
		// trust returns the channel's trust bundle and what must never appear in a
		// message or event about it.
		func(trust func(ns string) (cybercoopv1alpha1.PeerTrustBundle, []byte), why string) {
			// The trust is stored for a FocalPoint's gateway.
			fp, _ := kenya(ctx)
			ns := fp.Namespace
			bundle, secret := trust(ns)
			cc := newChannel(ctx, ns, unreachable, bundle, nil)
			Eventually(func(g Gomega) {
				trusted := condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted)
				g.Expect(trusted.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(trusted.Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleInvalid))
				g.Expect(trusted.Message).To(ContainSubstring(why))
				g.Expect(trusted.Message).NotTo(ContainSubstring("-----BEGIN"))
				g.Expect(trustSecret(ctx, g, cc).Data[gateway.PeerTrustKey]).To(BeEmpty(), "the gateway must trust nothing")
			}).Should(Succeed())
			list := &eventsv1.EventList{}
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			texts := []string{condition(get(ctx, Default, cc), cybercoopv1alpha1.ConditionPeerTrusted).Message}
			for _, e := range list.Items {
				texts = append(texts, e.Note)
			}
			for _, line := range strings.Split(string(secret), "\n") {
				if len(line) < 16 || strings.HasPrefix(line, "-----") {
					continue
				}
				for _, text := range texts {
					Expect(text).NotTo(ContainSubstring(line), "key material in a message")
				}
			}
		},
		Entry("a certificate block that does not parse", func(string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			return inline([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")), nil
		}, "PEM block 1 does not parse as an X.509 certificate"),
		Entry("the peer's server certificate instead of its CA", func(string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			fr := newCA("FR", time.Now(), 0)
			leaf, err := pki.IssueLeaf(fr, pki.LeafSpec{CommonName: "gateway.fr.test", DNSNames: []string{"gateway.fr.test"},
				Usages: []pki.Usage{pki.UsageServer}}, time.Now())
			Expect(err).NotTo(HaveOccurred())
			return inline(leaf.CertificatePEM()), nil
		}, "certificate 1 (CN=gateway.fr.test,O=Point of contact FR,C=FR) is not a CA certificate"),
		Entry("an expired CA", func(string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			return inline(pemOf(newCA("FR", time.Now().Add(-72*time.Hour), 24*time.Hour))), nil
		}, "certificate 1 (CN=FR national CA,O=Point of contact FR,C=FR) expired at"),
		Entry("a Secret that holds a private key and no certificate", func(ns string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			key, err := newCA("FR", time.Now(), 0).PrivateKeyPEM()
			Expect(err).NotTo(HaveOccurred())
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fr-ca", Namespace: ns},
				Data: map[string][]byte{"ca.crt": append([]byte("France's CA, as sent by mail\n"), key...)}})).To(Succeed())
			return cybercoopv1alpha1.PeerTrustBundle{SecretRef: &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca"}}, key
		}, `PEM block 1 is a "PRIVATE KEY" block, not a certificate (a private key never belongs in a trust bundle`),
		Entry("a Secret with no PEM at all", func(ns string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fr-ca", Namespace: ns},
				Data: map[string][]byte{"bundle.pem": []byte("see attachment")}})).To(Succeed())
			return cybercoopv1alpha1.PeerTrustBundle{SecretRef: &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca", Key: "bundle.pem"}}, nil
		}, "spec.peer.trustBundle holds no PEM block"),
		Entry("a Secret that does not exist", func(string) (cybercoopv1alpha1.PeerTrustBundle, []byte) {
			return cybercoopv1alpha1.PeerTrustBundle{SecretRef: &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca"}}, nil
		}, `Secret "fr-ca" does not exist`),
	)

	It("puts back an edited file of the gateway's channels Secret, which the operator's cache holds only as digests", func() {
		fp, _ := kenya(ctx)
		fr := newCA("FR", time.Now(), 0)
		cc := newChannel(ctx, fp.Namespace, unreachable, inline(pemOf(fr)), nil)
		ch := gateway.Channel{Name: cc.Name}
		key := types.NamespacedName{Namespace: fp.Namespace, Name: focalpoint.ChannelsSecretName(fp)}
		var stored *corev1.Secret
		Eventually(func(g Gomega) {
			stored = &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key, stored)).To(Succeed())
			g.Expect(stored.Data).To(HaveKey(ch.ClientCertFile()))
			g.Expect(stored.Data).To(HaveKey(ch.TrustFile()))
		}).Should(Succeed())
		Expect(stored.Labels).To(HaveKeyWithValue(manageropts.DigestLabel, gateway.ChannelsFile))
		Expect(stored.Annotations).NotTo(HaveKey(manageropts.DigestedAnnotation), "the cache's marker is never stored")
		want := maps.Clone(stored.Data)

		By("editing the channel's client certificate file by hand")
		stored.Data[ch.ClientCertFile()] = []byte("-----BEGIN CERTIFICATE-----\nnot the one issued\n-----END CERTIFICATE-----\n")
		Expect(k8sClient.Update(ctx, stored)).To(Succeed())
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key, s)).To(Succeed())
			g.Expect(s.Data).To(Equal(want), "every file back as the operator wrote it")
			g.Expect(s.Annotations).NotTo(HaveKey(manageropts.DigestedAnnotation))
		}).Should(Succeed())
	})

	It("follows each edit of the trust bundle Secret a person manages, without being asked", func() {
		// The trust is stored for a FocalPoint's gateway.
		fp, _ := kenya(ctx)
		ns := fp.Namespace
		cc := newChannel(ctx, ns, unreachable, cybercoopv1alpha1.PeerTrustBundle{
			SecretRef: &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca", Key: "bundle.pem"}}, nil)
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted).Message).To(ContainSubstring(`Secret "fr-ca" does not exist`))
		}).Should(Succeed())

		By("creating the Secret, unlabelled, as a person would")
		fr := newCA("FR", time.Now(), 0)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fr-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": pemOf(fr)}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted).Message).To(ContainSubstring(`Secret "fr-ca" has no key "bundle.pem" (it has keys "ca.crt")`))
		}).Should(Succeed())

		By("putting the CA under the key the channel names")
		secret.Data = map[string][]byte{"bundle.pem": pemOf(fr)}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted).Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleValid))
			g.Expect(trustSecret(ctx, g, cc).Data[gateway.PeerTrustKey]).To(Equal(pemOf(fr)))
		}).Should(Succeed())

		By("replacing it with an expired CA")
		secret.Data = map[string][]byte{"bundle.pem": pemOf(newCA("FR", time.Now().Add(-72*time.Hour), 24*time.Hour))}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			trusted := condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted)
			g.Expect(trusted.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(trusted.Message).To(ContainSubstring("expired at"))
			g.Expect(trustSecret(ctx, g, cc).Data[gateway.PeerTrustKey]).To(BeEmpty())
		}).Should(Succeed())
	})

	It("follows the edits of a Secret with the operator's label that the trust bundle names, which the names cache leaves out", func() {
		fp, _ := kenya(ctx)
		ns := fp.Namespace
		fr := newCA("FR", time.Now(), 0)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "fr-ca-labelled", Namespace: ns,
			Labels: map[string]string{apply.ManagedLabel: apply.ManagedValue}}, Data: map[string][]byte{"ca.crt": pemOf(fr)}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		// Suspended: not probed, so nothing but the Secret's watch brings the channel back.
		cc := newChannel(ctx, ns, unreachable, cybercoopv1alpha1.PeerTrustBundle{
			SecretRef: &cybercoopv1alpha1.SecretKeyReference{Name: "fr-ca-labelled", Key: "ca.crt"}},
			func(cc *cybercoopv1alpha1.CooperationChannel) { cc.Spec.Suspend = ptr.To(true) })
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted).Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleValid))
		}).Should(Succeed())
		Expect(channels.channelsOfOperatorSecret(ctx, secret)).To(ContainElement(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cc)}),
			"the Secret's watch maps it to the channel that names it")

		By("replacing the CA with an expired one")
		secret.Data = map[string][]byte{"ca.crt": pemOf(newCA("FR", time.Now().Add(-72*time.Hour), 24*time.Hour))}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			trusted := condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted)
			g.Expect(trusted.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(trusted.Message).To(ContainSubstring("expired at"))
		}).Should(Succeed())
	})

	It("removes a CA someone added to the peer trust in the client Secret by hand, and says so", func() {
		// The trust is stored for a FocalPoint's gateway.
		fp, _ := kenya(ctx)
		ns := fp.Namespace
		fr := newCA("FR", time.Now(), 0)
		cc := newChannel(ctx, ns, unreachable, inline(pemOf(fr)), nil)
		var sec *corev1.Secret
		Eventually(func(g Gomega) {
			sec = trustSecret(ctx, g, cc)
			g.Expect(get(ctx, g, cc).Status.ObservedGeneration).To(Equal(int64(1)))
		}).Should(Succeed())
		stranger := newCA("XX", time.Now(), 0)
		sec.Data[gateway.PeerTrustKey] = append(sec.Data[gateway.PeerTrustKey], pemOf(stranger)...)
		Expect(k8sClient.Update(ctx, sec)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(trustSecret(ctx, g, cc).Data[gateway.PeerTrustKey]).To(Equal(pemOf(fr)))
			repaired := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventDriftRepaired)
			g.Expect(repaired).To(ContainElement(And(HaveField("Type", corev1.EventTypeWarning),
				HaveField("Note", ContainSubstring("Secret "+ClientSecretName(cc))))))
			g.Expect(get(ctx, g, cc).Status.Peer.TrustedCAs).To(HaveLen(1))
		}).Should(Succeed())

		By("adding it again with the record of what is trusted taken away")
		Eventually(func(g Gomega) {
			sec = trustSecret(ctx, g, cc)
			sec.Data[gateway.PeerTrustKey] = append(sec.Data[gateway.PeerTrustKey], pemOf(stranger)...)
			delete(sec.Annotations, TrustRecordAnnotation)
			g.Expect(k8sClient.Update(ctx, sec)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			restored := trustSecret(ctx, g, cc)
			g.Expect(restored.Data[gateway.PeerTrustKey]).To(Equal(pemOf(fr)))
			g.Expect(records(g, restored)).To(HaveKey(ca.Fingerprint(fr.Certificate)))
			// The same Warning again: the recorder counts it in the first one's series.
			repaired := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventDriftRepaired)
			g.Expect(repaired).To(HaveLen(1))
			g.Expect(repaired[0].Series).NotTo(BeNil())
			g.Expect(repaired[0].Series.Count).To(BeNumerically(">=", 2))
		}).Should(Succeed())
	})

	It("moves the peer trust an earlier release kept in a ConfigMap into the client Secret, keeping what was learned, and deletes the ConfigMap", func() {
		// As an upgrade finds a channel: its trust ConfigMap, with a CA learned from
		// the peer, and no trust in a Secret. The FocalPoint is created last, so that
		// nothing reconciles the channel between the ConfigMap's creation and the
		// FocalPoint's (the ConfigMap is not watched).
		ns, err := fixtures.Namespace(ctx, k8sClient, "cc-")
		Expect(err).NotTo(HaveOccurred())
		fr := newCA("FR", time.Now(), 0)
		cc := newChannel(ctx, ns, unreachable, inline(pemOf(fr)), nil)
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionReady).Reason).To(Equal(cybercoopv1alpha1.ReasonFocalPointNotFound))
		}).Should(Succeed())
		learned := newCA("FR", time.Now(), 0)
		since := time.Now().Add(-40 * 24 * time.Hour).Truncate(time.Second).UTC()
		legacyRecords, err := json.Marshal(map[string]trustRecord{
			ca.Fingerprint(fr.Certificate):      {Source: SourceSpec, Since: since},
			ca.Fingerprint(learned.Certificate): {Source: SourcePublished, Since: since},
		})
		Expect(err).NotTo(HaveOccurred())
		legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: TrustConfigMapName(cc), Namespace: ns,
			Labels: commonLabels(cc), Annotations: map[string]string{TrustRecordAnnotation: string(legacyRecords)}},
			Data: map[string]string{gateway.LegacyTrustKey: string(pemOf(fr, learned))}}
		Expect(controllerutil.SetControllerReference(get(ctx, Default, cc), legacy, k8sClient.Scheme())).To(Succeed())
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(channels.Get(ctx, client.ObjectKeyFromObject(legacy), &corev1.ConfigMap{})).To(Succeed())
		}).Should(Succeed())

		By("creating the FocalPoint")
		Expect(k8sClient.Create(ctx, fixtures.Kenya(ns))).To(Succeed())
		Eventually(func(g Gomega) {
			sec := trustSecret(ctx, g, cc)
			cas, err := pki.ParseCertificatesPEM(sec.Data[gateway.PeerTrustKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cas).To(HaveLen(2), "the CA learned from the peer is kept")
			rec := records(g, sec)
			g.Expect(rec[ca.Fingerprint(learned.Certificate)]).To(Equal(trustRecord{Source: SourcePublished, Since: since}))
			g.Expect(rec[ca.Fingerprint(fr.Certificate)].Since).To(BeTemporally("==", since), "since-times are kept")
			err = k8sClient.Get(ctx, client.ObjectKeyFromObject(legacy), &corev1.ConfigMap{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the legacy ConfigMap is deleted: %v", err)
			moved := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventUpdated)
			g.Expect(moved).To(ContainElement(HaveField("Note", ContainSubstring("which ConfigMap "+TrustConfigMapName(cc)+" held before"))))
			g.Expect(eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventDriftRepaired)).To(BeEmpty(), "a move is not drift")
			g.Expect(get(ctx, g, cc).Status.Peer.TrustedCAs).To(HaveLen(2))
		}).Should(Succeed())
	})

	It("warns once per CA when every CA of the peer expires within 30 days", func() {
		// The trust is stored for a FocalPoint's gateway.
		fp, _ := kenya(ctx)
		ns := fp.Namespace
		fr := newCA("FR", time.Now(), 20*24*time.Hour)
		cc := newChannel(ctx, ns, unreachable, inline(pemOf(fr)), nil)
		Eventually(func(g Gomega) {
			trusted := condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerTrusted)
			g.Expect(trusted.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(trusted.Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleExpiring))
			g.Expect(trusted.Message).To(ContainSubstring("ask the peer for its next CA certificate"))
			g.Expect(records(g, trustSecret(ctx, g, cc))[ca.Fingerprint(fr.Certificate)].ExpiryWarned).To(BeTrue())
			warnings := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventPeerTrustExpiring)
			g.Expect(warnings).To(HaveLen(1))
			g.Expect(warnings[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(warnings[0].Note).To(ContainSubstring("CN=FR national CA"))
			g.Expect(warnings[0].Note).To(ContainSubstring(ca.Fingerprint(fr.Certificate)))
		}).Should(Succeed())
		poke(ctx, cc)
		poke(ctx, cc)
		Consistently(func(g Gomega) {
			warnings := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventPeerTrustExpiring)
			g.Expect(warnings).To(HaveLen(1))
			g.Expect(warnings[0].Series).To(BeNil(), "the warning was sent again")
		}, 3*time.Second).Should(Succeed())
	})

	It("refuses a channel to the FocalPoint's own country", func() {
		fp, _ := kenya(ctx)
		cc := newChannel(ctx, fp.Namespace, unreachable, inline(pemOf(newCA("KE", time.Now(), 0))),
			func(cc *cybercoopv1alpha1.CooperationChannel) { cc.Spec.Peer.Country = "KE" })
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			ready := condition(got, cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerIsSelf))
			g.Expect(ready.Message).To(ContainSubstring("spec.peer.country KE is the country of FocalPoint ke-poc itself"))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Reason).To(Equal(cybercoopv1alpha1.ReasonPeerIsSelf))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerReachable).Status).To(Equal(metav1.ConditionUnknown))
		}).Should(Succeed())
		err := k8sClient.Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: gateway.ChannelClientSecretName(cc.Name)}, &corev1.Secret{})
		Expect(err).To(HaveOccurred(), "a certificate was issued for a channel to the State itself")
	})

	It("refuses a service provider's channel to another provider", func() {
		ns, err := fixtures.Namespace(ctx, k8sClient, "cc-")
		Expect(err).NotTo(HaveOccurred())
		fp := fixtures.Kenya(ns)
		fp.Spec.ServiceProvider = &cybercoopv1alpha1.ServiceProviderSpec{ID: "safiri-mail", Name: "Safiri Mail Ltd"}
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		cc := newChannel(ctx, ns, unreachable, inline(pemOf(newCA("FR", time.Now(), 0))),
			func(cc *cybercoopv1alpha1.CooperationChannel) {
				cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", "other-mail"
			})
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			ready := condition(got, cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerIsSelf))
			g.Expect(ready.Message).To(ContainSubstring("spec.peer.provider other-mail: FocalPoint ke-poc is itself a service provider's endpoint"))
		}).Should(Succeed())
		err = k8sClient.Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: gateway.ChannelClientSecretName(cc.Name)}, &corev1.Secret{})
		Expect(err).To(HaveOccurred(), "a certificate was issued for a provider's channel to a provider")
	})

	It("reports a missing FocalPoint by name, and recovers when it is created", func() {
		ns, err := fixtures.Namespace(ctx, k8sClient, "cc-")
		Expect(err).NotTo(HaveOccurred())
		cc := newChannel(ctx, ns, unreachable, inline(pemOf(newCA("FR", time.Now(), 0))), nil)
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			ready := condition(got, cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonFocalPointNotFound))
			g.Expect(ready.Message).To(ContainSubstring(`FocalPoint "ke-poc" does not exist`))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Reason).To(Equal(cybercoopv1alpha1.ReasonFocalPointNotFound))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerTrusted).Status).To(Equal(metav1.ConditionTrue), "the peer's trust does not need the FocalPoint")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
		err = k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: ClientSecretName(cc)}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a client Secret without a FocalPoint to issue it: %v", err)

		By("creating the FocalPoint")
		Expect(k8sClient.Create(ctx, fixtures.Kenya(ns))).To(Succeed())
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			trustSecret(ctx, g, cc)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Reason).NotTo(Equal(cybercoopv1alpha1.ReasonFocalPointNotFound))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerReachable).Reason).To(Equal(cybercoopv1alpha1.ReasonPeerUnreachable))
		}).Should(Succeed())
	})

	It("keeps the certificate and trust of a suspended channel but does not probe its peer", func() {
		fp, _ := kenya(ctx)
		cc := newChannel(ctx, fp.Namespace, unreachable, inline(pemOf(newCA("FR", time.Now(), 0))),
			func(cc *cybercoopv1alpha1.CooperationChannel) { cc.Spec.Suspend = ptr.To(true) })
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			ready := condition(got, cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonChannelSuspended))
			reach := condition(got, cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(reach.Reason).To(Equal(cybercoopv1alpha1.ReasonChannelSuspended))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerTrusted).Status).To(Equal(metav1.ConditionTrue))
			trustSecret(ctx, g, cc)
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(lastProbe(got)).To(BeZero(), "a suspended channel's peer was probed")
		}, 2*testProbeInterval).Should(Succeed())

		By("resuming it: the peer is probed at once")
		Eventually(func(g Gomega) { // again on a conflict with the operator's status write
			live := get(ctx, g, cc)
			live.Spec.Suspend = ptr.To(false)
			g.Expect(k8sClient.Update(ctx, live)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerReachable).Reason).To(Equal(cybercoopv1alpha1.ReasonPeerUnreachable))
			g.Expect(lastProbe(got)).NotTo(BeZero())
		}).Should(Succeed())
	})

	It("probes a real peer gateway, learns the CA it publishes, and notices when it goes away and comes back", func() {
		fp, bundle := kenya(ctx)
		fr := startPeer("FR", "KE", bundle)
		cc := newChannel(ctx, fp.Namespace, fr.url, inline(pemOf(fr.ca)), nil)
		own, err := pki.ParseTrustBundle(bundle)
		Expect(err).NotTo(HaveOccurred())

		By("completing a mutual-TLS handshake and verifying the peer's signed trust bundle")
		var handshake metav1.Time
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			reach := condition(got, cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionTrue), reach.Message)
			g.Expect(reach.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerHandshakeSucceeded))
			g.Expect(reach.Message).To(MatchRegexp(`verified in \d+ ms`))
			p := got.Status.Peer
			g.Expect(p.HandshakeRoundTripMilliseconds).NotTo(BeNil())
			g.Expect(*p.HandshakeRoundTripMilliseconds).To(BeNumerically(">=", 0))
			g.Expect(p.HandshakeTime).NotTo(BeNil())
			g.Expect(p.CertificateNotAfter).NotTo(BeNil())
			g.Expect(p.CertificateNotAfter.Time).To(BeTemporally(">", time.Now().Add(80*24*time.Hour)))
			g.Expect(p.AcceptsCAs).To(Equal([]string{ca.Fingerprint(own.Certificates()[0])}))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			handshake = *p.HandshakeTime
		}).Should(Succeed())

		By("the peer publishing a second CA, as the first phase of its CA key replacement")
		next, err := pki.CreateCA(pki.CASpec{CommonName: "FR national CA 2031", Country: "FR", Organization: "Point of contact FR"}, time.Now())
		Expect(err).NotTo(HaveOccurred())
		fr.publish(fr.ca, next)
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(got.Status.Peer.TrustedCAs).To(ConsistOf(
				And(HaveField("SHA256Fingerprint", ca.Fingerprint(fr.ca.Certificate)), HaveField("Source", SourceSpec)),
				And(HaveField("SHA256Fingerprint", ca.Fingerprint(next.Certificate)), HaveField("Source", SourcePublished),
					HaveField("Subject", "CN=FR national CA 2031,O=Point of contact FR,C=FR"))))
			sec := trustSecret(ctx, g, cc)
			cas, err := pki.ParseCertificatesPEM(sec.Data[gateway.PeerTrustKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cas).To(HaveLen(2))
			g.Expect(records(g, sec)[ca.Fingerprint(next.Certificate)].Source).To(Equal(SourcePublished))
			learned := eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventPeerCATrusted)
			g.Expect(learned).To(HaveLen(1))
			g.Expect(learned[0].Note).To(ContainSubstring("CN=FR national CA 2031"))
			g.Expect(learned[0].Note).To(ContainSubstring(ca.Fingerprint(next.Certificate)))
		}).Should(Succeed())
		Expect(get(ctx, Default, cc).Spec.Peer.TrustBundle.PEM).To(Equal(string(pemOf(fr.ca))), "nobody edited the spec")

		By("stopping the peer's gateway")
		fr.stop()
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			reach := condition(got, cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(reach.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerUnreachable))
			g.Expect(reach.Message).To(ContainSubstring("connection refused"))
			g.Expect(got.Status.Peer.HandshakeTime).NotTo(BeNil(), "the handshake that confirmed the peer is kept")
			g.Expect(got.Status.Peer.HandshakeTime.Time).To(BeTemporally(">=", handshake.Time))
			g.Expect(lastProbe(got)).To(BeNumerically(">", lastHandshake(got)), "the failed probe's time, after the last successful one's")
			g.Expect(got.Status.Peer.TrustedCAs).To(HaveLen(2), "what was learned stays trusted while the peer is away")
			g.Expect(eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventPeerUnreachable)).To(ContainElement(HaveField("Type", corev1.EventTypeWarning)))
		}).Should(Succeed())

		By("starting it again on the same address")
		fr.serve(fr.addr)
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerReachable).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(eventsAbout(ctx, g, cc, cybercoopv1alpha1.EventPeerReachable)).NotTo(BeEmpty())
		}).Should(Succeed())
	})

	It("takes part in its FocalPoint's CA key replacement: the peer is shown the new CA first, then the certificate moves to it", func() {
		fp, bundle := kenya(ctx)
		fr := startPeer("FR", "KE", bundle)
		cc := newChannel(ctx, fp.Namespace, fr.url, inline(pemOf(fr.ca)), nil)
		own, err := pki.ParseTrustBundle(bundle)
		Expect(err).NotTo(HaveOccurred())
		oldCA := ca.Fingerprint(own.Certificates()[0])
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.Peer.AcceptsCAs).To(Equal([]string{oldCA}))
		}).Should(Succeed())
		DeferCleanup(keepRolledOut(fp.Namespace))

		By("replacing the FocalPoint's CA key: it waits for France to accept the new CA")
		live := &cybercoopv1alpha1.FocalPoint{}
		// Read and written again on a conflict: the operator may be writing the
		// FocalPoint between the two (a 409 here failed 1 suite run in 3).
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), live)).To(Succeed())
			live.Annotations = map[string]string{cybercoopv1alpha1.ForceReplaceCAAnnotation: "channel-test"}
			g.Expect(k8sClient.Update(ctx, live)).To(Succeed())
		}).Should(Succeed())
		var extended []byte
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), live)).To(Succeed())
			g.Expect(live.Status.Certificates.Rotation).NotTo(BeNil())
			g.Expect(live.Status.Certificates.Rotation.WaitingForPeers).To(ConsistOf("to-fr (FR)"))
			reach := condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionTrue), "the channel must keep working on the old CA")
			g.Expect(reach.Message).To(ContainSubstring("the peer does not accept this State's new CA"))
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: focalpoint.TrustBundleSecretName(fp)}, s)).To(Succeed())
			extended = s.Data[pki.CACertKey]
		}).Should(Succeed())
		both, err := pki.ParseTrustBundle(extended)
		Expect(err).NotTo(HaveOccurred())
		Expect(both.Len()).To(Equal(2))
		var newCA string
		for _, c := range both.Certificates() {
			if fp := ca.Fingerprint(c); fp != oldCA {
				newCA = fp
			}
		}
		Expect(get(ctx, Default, cc).Status.Peer.AcceptsCAs).To(Equal([]string{oldCA}))

		By("France trusting the new CA, as its own channel learns it from Kenya's signed bundle")
		fr.trustChannel("KE", extended)
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(got.Status.Certificates.Client.CAGeneration).To(Equal(int64(2)), "the client certificate was not re-issued from the new CA")
			g.Expect(got.Status.Peer.AcceptsCAs).To(ContainElement(newCA))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionPeerReachable).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), live)).To(Succeed())
			g.Expect(live.Status.Certificates.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationIdle))
			g.Expect(live.Status.Certificates.CA.CAGeneration).To(Equal(int64(2)))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("the old CA pruned: the peer is seen to accept only the new one")
		Eventually(func(g Gomega) {
			got := get(ctx, g, cc)
			g.Expect(got.Status.Peer.AcceptsCAs).To(Equal([]string{newCA}))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
	})

	It("accepts the sample channel of config/samples, which says what it waits for", func() {
		raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "samples", "cybercoop_v1alpha1_cooperationchannel.yaml"))
		Expect(err).NotTo(HaveOccurred())
		sample := &cybercoopv1alpha1.CooperationChannel{}
		Expect(yaml.UnmarshalStrict(raw, sample)).To(Succeed())
		fp, _ := kenya(ctx)
		sample.Namespace = fp.Namespace
		Expect(k8sClient.Create(ctx, sample)).To(Succeed())
		Eventually(func(g Gomega) {
			got := get(ctx, g, sample)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
			trusted := condition(got, cybercoopv1alpha1.ConditionPeerTrusted)
			g.Expect(trusted.Reason).To(Equal(cybercoopv1alpha1.ReasonTrustBundleInvalid))
			g.Expect(trusted.Message).To(ContainSubstring(`Secret "fr-ca" does not exist`))
		}).Should(Succeed())
	})

	It("makes zero writes when reconciling an unchanged channel between probes", func() {
		fp, bundle := kenya(ctx)
		fr := startPeer("FR", "KE", bundle)
		cc := newChannel(ctx, fp.Namespace, fr.url, inline(pemOf(fr.ca)), func(cc *cybercoopv1alpha1.CooperationChannel) {
			cc.Spec.Probe = &cybercoopv1alpha1.ProbeSpec{Interval: &metav1.Duration{Duration: 24 * time.Hour}}
		})
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, cc), cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		probes := probeCount(cc)
		Expect(probes).To(BeNumerically(">", 0))
		// With the peer gone, a probe that ran although it was not due would find it
		// unreachable and write that, even within the second of the last probe.
		fr.stop()
		meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: cc.Namespace} }
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cc)}
		envtestutil.ExpectZeroWrites(ctx, envtestutil.SteadyState{
			Reconcile: func(ctx context.Context, c client.Client) (ctrl.Result, error) {
				direct := &Reconciler{Client: c, Scheme: channels.Scheme, Recorder: channels.Recorder, ProbeInterval: channels.ProbeInterval}
				return direct.Reconcile(ctx, req)
			},
			Base:   k8sClient,
			Direct: k8sClient,
			Objects: map[string]client.Object{
				"CooperationChannel":                         &cybercoopv1alpha1.CooperationChannel{ObjectMeta: meta(cc.Name)},
				"Secret (client certificate and peer trust)": &corev1.Secret{ObjectMeta: meta(gateway.ChannelClientSecretName(cc.Name))},
			},
			// The next probe is the next thing to do. The reconciler here is new, as after
			// a restart: it takes the settled channel to have been probed at a point of the
			// last spec.probe.interval fixed by its UID, so a restarted operator's probes
			// are spread over one interval.
			Result: func(res ctrl.Result) {
				Expect(res.RequeueAfter).To(BeNumerically(">", 0))
				Expect(res.RequeueAfter).To(BeNumerically("<=", 24*time.Hour))
			},
		})
		after := get(ctx, Default, cc)
		Expect(probeCount(cc)).To(Equal(probes), "a probe that was not due ran")
		Expect(condition(after, cybercoopv1alpha1.ConditionPeerReachable).Status).To(Equal(metav1.ConditionTrue), "a probe that was not due ran")
	})
})
