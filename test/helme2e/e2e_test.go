//go:build helme2e

package helme2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	gomegatypes "github.com/onsi/gomega/types"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

const (
	// The operator chart installed in Cluster scope, as most users install it.
	operatorRelease   = "cybercoop-operator"
	operatorNamespace = "cybercoop-system"
	// The operator chart installed a second time, in Namespaced scope, for Viet Nam's
	// namespace only.
	namespacedRelease   = "cybercoop-operator-vn"
	namespacedNamespace = "cybercoop-operator-vn"
	// leaseName is the manager's leader-election Lease (cmd/cybercoop).
	leaseName = "cybercoop-operator.cybercoop.io"
)

// restricted makes the API server's Pod Security admission refuse any pod of the
// namespace that does not meet the restricted profile.
var restricted = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}

// country is one State's stack (a release of charts/cybercoop-stack) and what this
// process runs for it.
type country struct {
	name      string // for people
	release   string // its stack's release; its resources are <release>-poc and <release>-evidence
	namespace string
	// gatewayHost is the name peers reach its gateway by (gateway.externalNames).
	gatewayHost string

	// gatewayLn is reserved before a peer's values name its address.
	gatewayLn  net.Listener
	gatewayURL string
	vault      *localstack.Vault
	gateway    *localstack.Gateway
}

var (
	vietnam = &country{name: "Viet Nam", release: "vn", namespace: "cybercoop-vn", gatewayHost: "gateway.vn.example"}
	kenya   = &country{name: "Kenya", release: "ke", namespace: "cybercoop-ke", gatewayHost: "gateway.ke.example"}
	france  = &country{name: "France", release: "fr", namespace: "cybercoop-fr", gatewayHost: "gateway.fr.example"}
)

func (c *country) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: c.namespace, Name: name}
}

func (c *country) focalPoint() *cybercoopv1alpha1.FocalPoint {
	fp := &cybercoopv1alpha1.FocalPoint{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(c.focalPointRef()), fp)).To(Succeed())
	return fp
}

func (c *country) evidenceVault() *cybercoopv1alpha1.EvidenceVault {
	ev := &cybercoopv1alpha1.EvidenceVault{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(c.vaultRef()), ev)).To(Succeed())
	return ev
}

// focalPointRef and vaultRef name its FocalPoint and EvidenceVault, for the
// functions that name their objects.
func (c *country) focalPointRef() *cybercoopv1alpha1.FocalPoint {
	return &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Namespace: c.namespace, Name: c.release + "-poc"}}
}

func (c *country) vaultRef() *cybercoopv1alpha1.EvidenceVault {
	return &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Namespace: c.namespace, Name: c.release + "-evidence"}}
}

// vaultStatefulSet is the name of its vault's StatefulSet, whose only pod is <name>-0.
func (c *country) vaultStatefulSet() string { return c.release + "-evidence-vault" }

// stackValues fills the templates of testdata.
func stackValues() map[string]string {
	return map[string]string{"StorageClass": expandableClass, "KenyaGateway": kenya.gatewayURL, "FranceGateway": france.gatewayURL}
}

var _ = Describe("cybercoop installed with Helm", Ordered, func() {
	var (
		clusterManager *managerProcess
		dns            *envtestutil.ClusterDNS
	)

	BeforeAll(func() {
		for name, labels := range map[string]map[string]string{
			operatorNamespace: restricted, namespacedNamespace: restricted,
			vietnam.namespace: restricted, kenya.namespace: restricted, france.namespace: restricted,
		} {
			Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})).To(Succeed())
		}
		createStorageClass()
	})

	AfterEach(func() {
		if CurrentSpecReport().Failed() && !suiteFailed {
			suiteFailed = true
			dumpCluster()
		}
	})

	AfterAll(func() {
		for _, c := range []*country{kenya, france} {
			if c.gateway != nil {
				_ = c.gateway.Stop()
			}
			if c.vault != nil {
				_ = c.vault.Stop()
			}
		}
		if dns != nil {
			dns.Stop()
		}
	})

	It("installs the operator chart in Cluster scope, with the CRDs from its crds/", func() {
		helm("install", operatorRelease, operatorChart, "--namespace", operatorNamespace)
		for _, plural := range []string{"focalpoints", "evidencevaults", "cooperationchannels"} {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: plural + ".cybercoop.io"}, crd)).To(Succeed())
				conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
				g.Expect(conditions).To(ContainElement(And(HaveKeyWithValue("type", "Established"), HaveKeyWithValue("status", "True"))))
			}).Should(Succeed(), "CRD %s.cybercoop.io", plural)
		}

		createCanaryCRD() // after the chart's CRDs: see gc_test.go

		By("the chart's manager pods pass the restricted profile of cybercoop-system: kwok runs both replicas")
		deployment := findObject(releaseObjects(operatorRelease, operatorNamespace), "Deployment", "")
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(deployment), d)).To(Succeed())
			g.Expect(d.Status.AvailableReplicas).To(Equal(int32(2)))
		}).Should(Succeed())
		expectNoPodRefused(operatorNamespace)
	})

	It("installs it again in Namespaced scope for Viet Nam: that manager runs Viet Nam's stack and reads no Secret elsewhere", func() {
		helm("install", namespacedRelease, operatorChart, "--namespace", namespacedNamespace,
			"--set", "rbac.scope=Namespaced", "--set", "watchNamespaces={"+vietnam.namespace+"}")
		manager := startManager(namespacedRelease, namespacedNamespace, nil)
		helm("install", vietnam.release, stackChart, "--namespace", vietnam.namespace, "-f", valuesFile("vietnam.yaml", stackValues()))
		bindClaim(vietnam.namespace, evidencevault.ClaimName(vietnam.vaultRef()))

		Eventually(func(g Gomega) {
			fp := vietnam.focalPoint()
			g.Expect(fp.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
			g.Expect(fp.Status.GatewayReplicas).To(Equal("1/1"))
		}).Should(Succeed())
		By("Viet Nam's EvidenceVault: keys, certificates and volume ready; no vault runs for Viet Nam, so its integrity is Unknown")
		Eventually(func(g Gomega) {
			conditions := vietnam.evidenceVault().Status.Conditions
			g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionKeysReady, metav1.ConditionTrue))
			g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionTrue))
			g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionStorageBound, metav1.ConditionTrue))
			g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionIntegrityVerified, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonVaultUnreachable))
		}).Should(Succeed())
		By("Viet Nam's channel to Kenya: its client certificate issued; Kenya has not sent its CA yet, so no CA of Kenya is trusted")
		Eventually(func(g Gomega) {
			cc := &cybercoopv1alpha1.CooperationChannel{}
			g.Expect(k8sClient.Get(ctx, vietnam.key("to-ke"), cc)).To(Succeed())
			g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionTrue))
			g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionPeerTrusted, metav1.ConditionFalse))
			g.Expect(k8sClient.Get(ctx, vietnam.key(cooperationchannel.ClientSecretName(cc)), &corev1.Secret{})).To(Succeed())
		}).Should(Succeed())
		expectNoPodRefused(vietnam.namespace)

		By("the manager's identity, " + manager.identity + ", reads Secrets in " + vietnam.namespace + " and nowhere else")
		asManager := impersonatingClient(manager.identity)
		Expect(asManager.Get(ctx, vietnam.key(focalpoint.CASecretName(vietnam.focalPoint())), &corev1.Secret{})).To(Succeed())
		for _, ns := range []string{operatorNamespace, kenya.namespace, "default"} {
			Expect(asManager.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))).To(Satisfy(apierrors.IsForbidden), "list Secrets in %s", ns)
		}
		Expect(asManager.List(ctx, &corev1.SecretList{})).To(Satisfy(apierrors.IsForbidden), "list Secrets in every namespace")
		Expect(asManager.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: "sh.helm.release.v1." + operatorRelease + ".v1"}, &corev1.Secret{})).
			To(Satisfy(apierrors.IsForbidden), "read the Cluster-scope release's Secret")
		Expect(asManager.List(ctx, &cybercoopv1alpha1.FocalPointList{})).To(Satisfy(apierrors.IsForbidden), "list FocalPoints in every namespace")
		manager.expectNoForbidden()

		// From here on the Cluster-scope manager alone reconciles, Viet Nam's stack included.
		manager.stop()
	})

	It("runs the Cluster-scope manager as the chart's ServiceAccount; it leads through the chart's Lease Role", func() {
		var err error
		dns, err = envtestutil.NewClusterDNS(workDir, evidencevault.ServiceHost(kenya.vaultRef()), evidencevault.ServiceHost(france.vaultRef()),
			evidencevault.ServiceHost(vietnam.vaultRef()), vietnam.gatewayHost, kenya.gatewayHost)
		Expect(err).NotTo(HaveOccurred())
		if !dns.Available() {
			AddReportEntry("cluster DNS unavailable", dns.Unavailable+": the operator cannot reach the vaults, so their IntegrityVerified stays Unknown")
		}
		clusterManager = startManager(operatorRelease, operatorNamespace, dns)
		Eventually(func(g Gomega) {
			lease := &coordinationv1.Lease{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: leaseName}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		}).Should(Succeed())
		Expect(clusterManager.running()).To(BeTrue(), "the manager exited; its log:\n%s", clusterManager.log())
	})

	It("serves metrics only to callers the API server authenticates and the chart's metrics-reader ClusterRole authorises", func() {
		Expect(clusterManager.metricsURL).To(HavePrefix("https://"), "the chart's default: --metrics-secure")
		reader := findObject(releaseObjects(operatorRelease, operatorNamespace), "ClusterRole", "-metrics-reader")
		scraper := serviceAccountToken(operatorNamespace, "prometheus")
		Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-cybercoop-metrics"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.GetName()},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNamespace, Name: "prometheus"}},
		})).To(Succeed())
		stranger := serviceAccountToken(operatorNamespace, "stranger")

		Eventually(func(g Gomega) {
			code, body := scrape(clusterManager.metricsURL, scraper)
			g.Expect(code).To(Equal(http.StatusOK))
			g.Expect(body).To(ContainSubstring("controller_runtime_reconcile_total"))
		}).Should(Succeed(), "a ServiceAccount bound to %s", reader.GetName())
		code, _ := scrape(clusterManager.metricsURL, stranger)
		Expect(code).To(Equal(http.StatusForbidden), "a ServiceAccount bound to nothing")
		code, _ = scrape(clusterManager.metricsURL, "")
		Expect(code).To(Equal(http.StatusUnauthorized), "no token")
	})

	It("installs Kenya's and France's stacks into restricted namespaces; the API server admits every pod the operator provisions", func() {
		for _, c := range []*country{kenya, france} {
			var err error
			c.gatewayLn, c.gatewayURL, err = localstack.Listen()
			Expect(err).NotTo(HaveOccurred())
		}
		By("the namespaces really enforce the profile: a privileged pod is refused")
		privileged := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: kenya.namespace, Name: "privileged"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
		}
		err := k8sClient.Create(ctx, privileged, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a privileged pod in %s: %v", kenya.namespace, err)
		Expect(err.Error()).To(ContainSubstring("violates PodSecurity"))

		helm("install", kenya.release, stackChart, "--namespace", kenya.namespace, "-f", valuesFile("kenya.yaml", stackValues()))
		helm("install", france.release, stackChart, "--namespace", france.namespace, "-f", valuesFile("france.yaml", stackValues()))

		for _, c := range []*country{kenya, france} {
			By(c.name + ": the FocalPoint is Ready with both gateway pods running on the simulated node")
			Eventually(func(g Gomega) {
				fp := c.focalPoint()
				g.Expect(fp.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
				g.Expect(fp.Status.GatewayReplicas).To(Equal("2/2"))
			}).Should(Succeed())

			By(c.name + ": the vault's pod is created (a volume claim no volume is bound to yet keeps it Pending), and StorageBound says so")
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, c.key(c.vaultStatefulSet()+"-0"), &corev1.Pod{})).To(Succeed())
				conditions := c.evidenceVault().Status.Conditions
				g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionKeysReady, metav1.ConditionTrue))
				g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionTrue))
				g.Expect(conditions).To(haveCondition(cybercoopv1alpha1.ConditionStorageBound, metav1.ConditionFalse, cybercoopv1alpha1.ReasonVolumePending))
			}).Should(Succeed())
			expectNoPodRefused(c.namespace)
		}
	})

	It("reports each EvidenceVault Ready once its volume is bound and its vault answers at its Service's name", func() {
		for _, c := range []*country{kenya, france} {
			ev := c.evidenceVault()
			var err error
			c.vault, err = localstack.StartVault(ctx, k8sClient, ev, filepath.Join(workDir, c.namespace, "vault"), GinkgoLogr.WithName(c.release+"-vault"))
			Expect(err).NotTo(HaveOccurred())
			Expect(dns.Serve(evidencevault.ServiceHost(c.vaultRef()), evidencevault.APIPort, c.vault.Addr)).To(Succeed())
			bindClaim(c.namespace, evidencevault.ClaimName(ev))
		}
		for _, c := range []*country{kenya, france} {
			Eventually(func(g Gomega) {
				ev := c.evidenceVault()
				g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionStorageBound, metav1.ConditionTrue, cybercoopv1alpha1.ReasonVolumeBound))
				if !dns.Available() {
					g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionIntegrityVerified, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonVaultUnreachable))
					return
				}
				g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionIntegrityVerified, metav1.ConditionTrue))
				g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
				g.Expect(ev.Status.Checkpoint).NotTo(BeNil())
			}).Should(Succeed(), "%s's EvidenceVault", c.name)

			By(c.name + ": the vault's pod, its volume bound, is scheduled and runs")
			Eventually(func(g Gomega) {
				pod := &corev1.Pod{}
				g.Expect(k8sClient.Get(ctx, c.key(c.vaultStatefulSet()+"-0"), pod)).To(Succeed())
				g.Expect(pod.Spec.NodeName).To(Equal(envtestutil.SimulatedNodeName))
				g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
			}).Should(Succeed())
		}
	})

	It("brings both CooperationChannels to Ready once the States exchange their CAs and their gateways run", func() {
		for _, c := range []*country{kenya, france} {
			startCtx, cancel := context.WithTimeout(ctx, time.Minute)
			var err error
			c.gateway, err = localstack.StartGateway(startCtx, k8sClient, c.focalPoint(), c.vault.Addr, c.gatewayLn,
				filepath.Join(workDir, c.namespace, "gateway"), GinkgoLogr.WithName(c.release+"-gateway"))
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
		By("each State puts the other's CA certificate into the Secret its channel names (trustBundle.secretRef)")
		for _, pair := range [][2]*country{{kenya, france}, {france, kenya}} {
			local, peer := pair[0], pair[1]
			bundle := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, peer.key(focalpoint.TrustBundleSecretName(peer.focalPoint())), bundle)).To(Succeed())
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: local.namespace, Name: peer.release + "-ca"},
				Data: map[string][]byte{pki.CACertKey: bundle.Data[pki.CACertKey]}})).To(Succeed())
		}
		for _, pair := range [][2]*country{{kenya, france}, {france, kenya}} {
			local, peer := pair[0], pair[1]
			Eventually(func(g Gomega) {
				cc := &cybercoopv1alpha1.CooperationChannel{}
				g.Expect(k8sClient.Get(ctx, local.key("to-"+peer.release), cc)).To(Succeed())
				g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionPeerTrusted, metav1.ConditionTrue))
				g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionPeerReachable, metav1.ConditionTrue))
				g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
			}).Should(Succeed(), "%s's channel to %s", local.name, peer.name)
		}
	})

	It("helm upgrade of Kenya's stack: the new roster, a new peer and a larger volume reach the resources and their children", func() {
		By("Kenya receives Viet Nam's CA certificate for the new peer")
		vnBundle := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, vietnam.key(focalpoint.TrustBundleSecretName(vietnam.focalPoint())), vnBundle)).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kenya.namespace, Name: "vn-ca"},
			Data: map[string][]byte{pki.CACertKey: vnBundle.Data[pki.CACertKey]}})).To(Succeed())
		helm("upgrade", kenya.release, stackChart, "--namespace", kenya.namespace,
			"-f", valuesFile("kenya.yaml", stackValues()), "-f", valuesFile("kenya-upgrade.yaml", stackValues()))

		By("the roster: no night desk from Sunday 20:00 to Monday 08:00, so 156 hours a week, the gap reported and the FocalPoint not Ready")
		Eventually(func(g Gomega) {
			fp := kenya.focalPoint()
			g.Expect(fp.Status.ObservedGeneration).To(Equal(fp.Generation))
			g.Expect(fp.Status.Coverage).NotTo(BeNil())
			g.Expect(fp.Status.Coverage.HoursPerWeek).To(Equal("156"))
			g.Expect(fp.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionCoverageComplete, metav1.ConditionFalse, cybercoopv1alpha1.ReasonCoverageGaps))
			g.Expect(fp.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionFalse))
		}).Should(Succeed())
		By("the gateway's configuration carries the new roster")
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, kenya.key(kenya.release+"-poc-gateway"), cm)).To(Succeed())
			var cfg gateway.Config
			g.Expect(json.Unmarshal([]byte(cm.Data[gateway.ConfigFile]), &cfg)).To(Succeed())
			g.Expect(cfg.Roster.Shifts).To(HaveLen(3))
			g.Expect(cfg.Roster.Shifts[1].OnCall).To(Equal("Night desk"))
			g.Expect(cfg.Roster.Shifts[1].Days).To(HaveLen(6))
		}).Should(Succeed())

		By("the new peer: a channel to Viet Nam with its client certificate, trusting Viet Nam's CA, in the gateway's channel list; " +
			"Viet Nam's gateway does not run, so the peer is unreachable")
		Eventually(func(g Gomega) {
			cc := &cybercoopv1alpha1.CooperationChannel{}
			g.Expect(k8sClient.Get(ctx, kenya.key("to-vn"), cc)).To(Succeed())
			g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionTrue))
			g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionPeerTrusted, metav1.ConditionTrue))
			g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionPeerReachable, metav1.ConditionFalse, cybercoopv1alpha1.ReasonPeerUnreachable))
			clientSecret := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, kenya.key(cooperationchannel.ClientSecretName(cc)), clientSecret)).To(Succeed())
			g.Expect(clientSecret.Data).To(HaveKey(pki.TLSCertKey))
			channels := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, kenya.key(focalpoint.ChannelsSecretName(kenya.focalPoint())), channels)).To(Succeed())
			var list gateway.Channels
			g.Expect(json.Unmarshal(channels.Data[gateway.ChannelsFile], &list)).To(Succeed())
			g.Expect(list.Channels).To(ContainElement(HaveField("Name", "to-vn")))
		}).Should(Succeed())
		By("France's channel is still Ready")
		cc := &cybercoopv1alpha1.CooperationChannel{}
		Expect(k8sClient.Get(ctx, kenya.key("to-fr"), cc)).To(Succeed())
		Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))

		By("the volume: the operator asks the bound claim for 80Gi (its class allows expansion); the StatefulSet's claim template keeps 50Gi, " +
			"and with no resizer in the simulated cluster the claim's capacity stays 50Gi")
		ev := kenya.evidenceVault()
		Eventually(func(g Gomega) {
			claim := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, kenya.key(evidencevault.ClaimName(ev)), claim)).To(Succeed())
			g.Expect(claim.Spec.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceStorage, equalQuantity("80Gi")))
			g.Expect(claim.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceStorage, equalQuantity("50Gi")))
		}).Should(Succeed())
		sts := &appsv1.StatefulSet{}
		Expect(k8sClient.Get(ctx, kenya.key(kenya.vaultStatefulSet()), sts)).To(Succeed())
		Expect(sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceStorage, equalQuantity("50Gi")))
	})

	It("helm uninstall of Kenya's stack keeps the evidence volume claim, the keyring and the checkpoint key (deletionPolicy Retain)", func() {
		ev := kenya.evidenceVault()
		fp := kenya.focalPoint()
		retained := []client.Object{
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: evidencevault.ClaimName(ev)}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: evidencevault.KeyringSecretName(ev)}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: evidencevault.CheckpointKeySecretName(ev)}},
		}
		By("before: the EvidenceVault carries its finalizer and owns its keyring and checkpoint key; " +
			"the volume claim is owned by nothing (the StatefulSet's claim retention policy is Retain)")
		Expect(ev.Finalizers).To(ContainElement(evidencevault.Finalizer))
		for _, obj := range retained {
			Expect(k8sClient.Get(ctx, kenya.key(obj.GetName()), obj)).To(Succeed())
			if _, claim := obj.(*corev1.PersistentVolumeClaim); claim {
				Expect(obj.GetOwnerReferences()).To(BeEmpty(), "volume claim %s", obj.GetName())
				continue
			}
			Expect(obj.GetOwnerReferences()).To(ContainElement(HaveField("UID", ev.UID)), "%T %s is owned by the EvidenceVault", obj, obj.GetName())
		}

		By("waiting until the garbage collector watches the cybercoop kinds, as in any cluster older than half a minute")
		waitForGarbageCollector(kenya.namespace)

		helm("uninstall", kenya.release, "--namespace", kenya.namespace)

		By("the resources go; the EvidenceVault's finalizer first detaches what the evidence needs")
		for _, obj := range []client.Object{ev, fp, &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{Namespace: kenya.namespace, Name: "to-fr"}}} {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj))
			}).Should(BeTrue(), "%T %s is deleted", obj, obj.GetName())
		}
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, kenya.key(kenya.vaultStatefulSet()), &appsv1.StatefulSet{}))
		}).Should(BeTrue(), "the garbage collector deletes the vault's StatefulSet")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, kenya.key(fp.Name+"-gateway"), &appsv1.Deployment{}))
		}).Should(BeTrue(), "the garbage collector deletes the gateway's Deployment")

		By("the volume claim, the keyring and the checkpoint key stay, owned by nothing, so the garbage collector leaves them")
		for _, obj := range retained {
			Expect(k8sClient.Get(ctx, kenya.key(obj.GetName()), obj)).To(Succeed(), "%T %s is kept", obj, obj.GetName())
			Expect(obj.GetDeletionTimestamp()).To(BeNil(), "%T %s is not being deleted", obj, obj.GetName())
			Expect(obj.GetOwnerReferences()).To(BeEmpty(), "%T %s is owned by nothing", obj, obj.GetName())
		}
		if dns.Available() {
			checkpointKey := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, kenya.key(evidencevault.CheckpointKeySecretName(ev)), checkpointKey)).To(Succeed())
			Expect(checkpointKey.Annotations).To(HaveKey(evidencevault.RetainedCheckpointAnnotation), "the last recorded checkpoint goes with its key")
		}
		Expect(eventsOf(kenya.namespace, ev.Name)).To(ContainElement(HaveField("Reason", cybercoopv1alpha1.EventEvidenceRetained)))

		By("the national CA and its trust bundle stay too, detached (certificates.caDeletionPolicy Retain, the default)")
		for _, name := range []string{focalpoint.CASecretName(fp), focalpoint.TrustBundleSecretName(fp)} {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, kenya.key(name), s)).To(Succeed(), "Secret %s is kept", name)
			Expect(s.GetOwnerReferences()).To(BeEmpty(), "Secret %s is owned by nothing", name)
		}
		Expect(eventsOf(kenya.namespace, fp.Name)).To(ContainElement(HaveField("Reason", cybercoopv1alpha1.EventCARetained)))
	})

	It("helm install of Kenya's stack again adopts the national CA, the keyring and the custody log: France keeps trusting Kenya", func() {
		ca := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, kenya.key(focalpoint.CASecretName(kenya.focalPointRef())), ca)).To(Succeed())
		keyring := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, kenya.key(evidencevault.KeyringSecretName(kenya.vaultRef())), keyring)).To(Succeed())

		helm("install", kenya.release, stackChart, "--namespace", kenya.namespace, "-f", valuesFile("kenya.yaml", stackValues()))
		Eventually(func(g Gomega) {
			fp := kenya.focalPoint()
			g.Expect(fp.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
			g.Expect(fp.Status.Certificates).NotTo(BeNil())
			g.Expect(fp.Status.Certificates.CA).NotTo(BeNil())
			adopted := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, kenya.key(focalpoint.CASecretName(fp)), adopted)).To(Succeed())
			g.Expect(adopted.Data).To(Equal(ca.Data), "the FocalPoint adopts the national CA rather than making a new one")
			g.Expect(adopted.OwnerReferences).To(ContainElement(HaveField("UID", fp.UID)))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			ev := kenya.evidenceVault()
			g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionKeysReady, metav1.ConditionTrue))
			g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionStorageBound, metav1.ConditionTrue))
			if dns.Available() {
				g.Expect(ev.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionIntegrityVerified, metav1.ConditionTrue, cybercoopv1alpha1.ReasonLogConsistent))
			}
			adopted := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, kenya.key(evidencevault.KeyringSecretName(ev)), adopted)).To(Succeed())
			g.Expect(adopted.Data).To(Equal(keyring.Data), "the EvidenceVault adopts the keyring")
			g.Expect(adopted.OwnerReferences).To(ContainElement(HaveField("UID", ev.UID)))
		}).Should(Succeed())
		for _, pair := range [][2]*country{{kenya, france}, {france, kenya}} {
			local, peer := pair[0], pair[1]
			Eventually(func(g Gomega) {
				cc := &cybercoopv1alpha1.CooperationChannel{}
				g.Expect(k8sClient.Get(ctx, local.key("to-"+peer.release), cc)).To(Succeed())
				g.Expect(cc.Status.Conditions).To(haveCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionTrue))
			}).Should(Succeed(), "%s's channel to %s, with no new exchange of CAs", local.name, peer.name)
		}
	})

	It("the managers were never refused a call and are still running", func() {
		clusterManager.expectNoForbidden()
		Expect(clusterManager.running()).To(BeTrue())
	})
})

// haveCondition matches a list of conditions holding one of type typ with status
// (and reason, if given).
func haveCondition(typ string, status metav1.ConditionStatus, reason ...string) gomegatypes.GomegaMatcher {
	fields := Fields{"Type": Equal(typ), "Status": Equal(status)}
	if len(reason) > 0 {
		fields["Reason"] = Equal(reason[0])
	}
	return ContainElement(MatchFields(IgnoreExtras, fields))
}

func equalQuantity(q string) gomegatypes.GomegaMatcher {
	want := resource.MustParse(q)
	return Satisfy(func(got resource.Quantity) bool { return got.Cmp(want) == 0 })
}

// serviceAccountToken creates a ServiceAccount and returns a token the API server
// issues for it (TokenRequest), as a scraper's pod would mount.
func serviceAccountToken(namespace, name string) string {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	ExpectWithOffset(1, k8sClient.Create(ctx, sa)).To(Succeed())
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
	ExpectWithOffset(1, k8sClient.SubResource("token").Create(ctx, sa, request)).To(Succeed())
	return request.Status.Token
}

// scrape GETs a metrics URL with a bearer token ("": none). The manager's serving
// certificate is self-signed, as the chart's ServiceMonitor assumes
// (insecureSkipVerify).
func scrape(url, token string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

// eventsOf are the events about the object of that name in namespace.
func eventsOf(namespace, name string) []corev1.Event {
	list := &corev1.EventList{}
	ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// expectNoPodRefused fails if a controller of the namespace could not create a pod
// (FailedCreate: the Pod Security admission refuses a pod that is not restricted).
func expectNoPodRefused(namespace string) {
	list := &corev1.EventList{}
	ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
	for _, e := range list.Items {
		ExpectWithOffset(1, e.Reason).NotTo(Equal("FailedCreate"), "%s %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
		ExpectWithOffset(1, strings.Contains(e.Message, "violates PodSecurity")).To(BeFalse(), "%s %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
	}
}
