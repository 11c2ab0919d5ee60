package twocountry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	nationalca "github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

// country is one State's resources and the processes the test runs for them.
type country struct {
	code string
	fp   *cybercoopv1alpha1.FocalPoint
	ev   *cybercoopv1alpha1.EvidenceVault

	vault      *vault.Vault
	vaultAddr  string
	localVault *localstack.Vault
	stopVault  func()

	// gatewayLn is reserved before the peer's channel names it; the gateway serves
	// on it once started.
	gatewayLn   net.Listener
	gatewayURL  string
	gateway     *gateway.Server
	stopGateway func()
	files       string
}

func (c *country) ns() string { return c.fp.Namespace }

// gatewayHost is the name on the gateway's serving certificate a peer checks.
func (c *country) gatewayHost() string { return c.fp.Name + "-gateway." + c.ns() + ".svc" }

// newCountry creates the namespace, FocalPoint and EvidenceVault, waits for the
// operator to issue what the vault mounts, and starts the vault.
func newCountry(ctx context.Context, code string, fp func(ns, name string) *cybercoopv1alpha1.FocalPoint) *country {
	ns, err := fixtures.Namespace(ctx, k8sClient, "cc-"+code+"-")
	Expect(err).NotTo(HaveOccurred())
	c := &country{code: code, fp: fp(ns, code+"-poc"), files: GinkgoT().TempDir()}
	Expect(k8sClient.Create(ctx, c.fp)).To(Succeed())
	c.ev = &cybercoopv1alpha1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: code + "-evidence", Namespace: ns},
		Spec: cybercoopv1alpha1.EvidenceVaultSpec{
			FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: c.fp.Name},
			Storage:       &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("1Gi")},
		},
	}
	Expect(k8sClient.Create(ctx, c.ev)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key(c.ev), c.ev)).To(Succeed())
		g.Expect(c.ev.Status.CheckpointVerifierKey).NotTo(BeEmpty())
		g.Expect(c.ev.Status.Endpoint).NotTo(BeEmpty())
		// The vault runs on the serving certificate and keyring the operator issues;
		// the status may name the checkpoint key before the CA can issue them.
		g.Expect(condition(c.ev.Status.Conditions, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(c.ev.Status.Conditions, cybercoopv1alpha1.ConditionKeysReady).Status).To(Equal(metav1.ConditionTrue))
	}).WithTimeout(time.Minute).Should(Succeed())
	c.startVault(ctx)
	c.gatewayLn, c.gatewayURL, err = localstack.Listen()
	Expect(err).NotTo(HaveOccurred())
	return c
}

func key(o interface {
	GetNamespace() string
	GetName() string
}) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

func secretData(ctx context.Context, g Gomega, ns, name string) map[string][]byte {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s)).To(Succeed())
	return s.Data
}

// startVault runs the vault on the Secrets the operator made.
func (c *country) startVault(ctx context.Context) {
	v, err := localstack.StartVault(ctx, k8sClient, c.ev, filepath.Join(c.files, "vault"), GinkgoLogr.WithName("vault-"+c.code))
	Expect(err).NotTo(HaveOccurred())
	c.vault, c.vaultAddr, c.localVault = v.Vault, v.Addr, v
	vaultEndpointsMu.Lock()
	vaultEndpoints[c.ns()+"/"+c.ev.Name] = "https://" + c.vaultAddr
	vaultEndpointsMu.Unlock()
	c.stopVault = func() { Expect(v.Stop()).To(Succeed()) }
	DeferCleanup(func() { c.stopVault() })
}

// channelTo creates c's CooperationChannel to peer, trusting the peer's CA as the
// peer handed it over out of band (its trust bundle).
func (c *country) channelTo(ctx context.Context, peer *country, types ...cybercoopv1alpha1.RequestType) *cybercoopv1alpha1.CooperationChannel {
	bundle := secretData(ctx, Default, peer.ns(), focalpoint.TrustBundleSecretName(peer.fp))[pki.CACertKey]
	cc := &cybercoopv1alpha1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "to-" + peer.code, Namespace: c.ns()},
		Spec: cybercoopv1alpha1.CooperationChannelSpec{
			FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: c.fp.Name},
			Peer: cybercoopv1alpha1.PeerSpec{
				Country: peer.fp.Spec.Country, Endpoint: peer.gatewayURL, ServerName: peer.gatewayHost(),
				TrustBundle: cybercoopv1alpha1.PeerTrustBundle{PEM: string(bundle)},
			},
			RequestTypes:   types,
			DataProtection: cybercoopv1alpha1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42; " + c.code + "-" + peer.code + " exchange of letters"},
		},
	}
	if sp := peer.fp.Spec.ServiceProvider; sp != nil {
		cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", sp.ID
	}
	Expect(k8sClient.Create(ctx, cc)).To(Succeed())
	return cc
}

// startGateway runs the gateway on the operator's files.
func (c *country) startGateway(ctx context.Context) {
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	g, err := localstack.StartGateway(startCtx, k8sClient, c.fp, c.vaultAddr, c.gatewayLn, filepath.Join(c.files, "gateway"), GinkgoLogr.WithName("gateway-"+c.code))
	Expect(err).NotTo(HaveOccurred())
	c.gateway = g.Server
	vaultEndpointsMu.Lock()
	gatewayEndpoints[c.ns()+"/"+c.fp.Name] = c.gatewayURL
	vaultEndpointsMu.Unlock()
	c.stopGateway = func() { Expect(g.Stop()).To(Succeed()) }
	DeferCleanup(func() {
		if c.stopGateway != nil {
			c.stopGateway()
		}
	})
}

// officer is c's duty officer's client, from the credential the operator issued.
func (c *country) officer(ctx context.Context) *http.Client {
	s := secretData(ctx, Default, c.ns(), focalpoint.OfficerSecretName(c.fp))
	cert, err := tls.X509KeyPair(s[pki.TLSCertKey], s[pki.TLSPrivateKeyKey])
	Expect(err).NotTo(HaveOccurred())
	return c.clientWith(ctx, cert)
}

// clientWith calls c's gateway with any client certificate, trusting c's CA.
func (c *country) clientWith(ctx context.Context, cert tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(secretData(ctx, Default, c.ns(), focalpoint.TrustBundleSecretName(c.fp))[pki.CACertKey])
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: c.gatewayHost(), RootCAs: roots, Certificates: []tls.Certificate{cert},
	}}}
}

// trustPool is c's current trust bundle.
func (c *country) trustPool(ctx context.Context) *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(secretData(ctx, Default, c.ns(), focalpoint.TrustBundleSecretName(c.fp))[pki.CACertKey])
	return roots
}

func call(cl *http.Client, method, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// condition returns a condition of a channel, or a zero one.
func condition(conds []metav1.Condition, t string) metav1.Condition {
	for _, c := range conds {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}

// caFingerprint is the SHA-256 fingerprint of c's active national CA, as status reports it.
func (c *country) caFingerprint(ctx context.Context) string {
	fp := &cybercoopv1alpha1.FocalPoint{}
	Expect(k8sClient.Get(ctx, key(c.fp), fp)).To(Succeed())
	Expect(fp.Status.Certificates).NotTo(BeNil())
	Expect(fp.Status.Certificates.CA).NotTo(BeNil())
	return fp.Status.Certificates.CA.SHA256Fingerprint
}

// caPEM is c's active national CA certificate.
func (c *country) caPEM(ctx context.Context) []byte {
	return secretData(ctx, Default, c.ns(), focalpoint.CASecretName(c.fp))[pki.TLSCertKey]
}

// simulateRollouts plays the Deployment and StatefulSet controllers for the
// countries' namespaces: a new pod template of the gateway or the vault counts as
// rolled out once the process the test runs for it serves what the template names
// (the trust bundle and the serving certificate), as a new pod would. It returns
// its stop function.
func simulateRollouts(countries ...*country) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	inStep := func(template map[string]string, trustPEM []byte, serving *x509.Certificate) bool {
		if trustPEM == nil {
			return false
		}
		if h := template[nationalca.TrustBundleHashAnnotation]; h != "" && h != nationalca.BundleHash(trustPEM) {
			return false
		}
		if f := template[nationalca.ServingCertificateAnnotation]; f != "" && f != nationalca.Fingerprint(serving) {
			return false
		}
		return true
	}
	go func() {
		defer close(done)
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			for _, c := range countries {
				var deps appsv1.DeploymentList
				if k8sClient.List(ctx, &deps, client.InNamespace(c.ns())) == nil {
					for i := range deps.Items {
						d := &deps.Items[i]
						n := ptr.Deref(d.Spec.Replicas, 1)
						if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n {
							continue
						}
						if d.Name == c.fp.Name+"-gateway" && c.gateway != nil {
							trust, serving := c.gateway.Loaded()
							if !inStep(d.Spec.Template.Annotations, trust, serving) {
								continue
							}
						}
						d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
						_ = k8sClient.Status().Update(ctx, d)
					}
				}
				var sets appsv1.StatefulSetList
				if k8sClient.List(ctx, &sets, client.InNamespace(c.ns())) == nil {
					for i := range sets.Items {
						s := &sets.Items[i]
						n := ptr.Deref(s.Spec.Replicas, 1)
						if s.Status.ObservedGeneration == s.Generation && s.Status.AvailableReplicas == n && s.Status.UpdatedReplicas == n {
							continue
						}
						if c.localVault != nil {
							trust, servingPEM := c.localVault.Loaded()
							var serving *x509.Certificate
							if certs, err := pki.ParseCertificatesPEM(servingPEM); err == nil && len(certs) > 0 {
								serving = certs[0]
							}
							if !inStep(s.Spec.Template.Annotations, trust, serving) {
								continue
							}
						}
						s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n,
							AvailableReplicas: n, CurrentReplicas: n, CurrentRevision: "r", UpdateRevision: "r"}
						_ = k8sClient.Status().Update(ctx, s)
					}
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// channelClient connects afresh to peer's gateway as c's channel does: its client
// certificate and the peer CAs it trusts, as stored now.
func (c *country) channelClient(ctx context.Context, cc *cybercoopv1alpha1.CooperationChannel, peer *country) *http.Client {
	s := secretData(ctx, Default, c.ns(), gateway.ChannelClientSecretName(cc.Name))
	cert, err := tls.X509KeyPair(s[pki.TLSCertKey], s[pki.TLSPrivateKeyKey])
	Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	Expect(roots.AppendCertsFromPEM(s[gateway.PeerTrustKey])).To(BeTrue())
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: peer.gatewayHost(), RootCAs: roots, Certificates: []tls.Certificate{cert},
	}}}
}

// caCertificate is c's active national CA certificate.
func (c *country) caCertificate(ctx context.Context) *x509.Certificate {
	certs, err := pki.ParseCertificatesPEM(c.caPEM(ctx))
	Expect(err).NotTo(HaveOccurred())
	return certs[0]
}

// fresh GETs url on a new connection and returns the certificate the server served.
func fresh(cl *http.Client, url string) (*x509.Certificate, error) {
	resp, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.TLS.PeerCertificates[0], nil
}
