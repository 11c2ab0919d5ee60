package cooperationchannel

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// newCA is a national CA valid from notBefore for duration.
func newCA(code string, notBefore time.Time, duration time.Duration) *pki.KeyPair {
	GinkgoHelper()
	kp, err := pki.CreateCA(pki.CASpec{CommonName: code + " national CA", Country: code, Organization: "Point of contact " + code,
		Duration: duration}, notBefore)
	Expect(err).NotTo(HaveOccurred())
	return kp
}

// pemOf is the PEM of the CA certificates.
func pemOf(cas ...*pki.KeyPair) []byte {
	var out []byte
	for _, c := range cas {
		out = append(out, c.CertificatePEM()...)
	}
	return out
}

// peerState is a peer State's national CA and its gateway, running in the test
// process as `cybercoop gateway` runs in a pod, on files laid out as the operator
// mounts them: config.json, the serving certificate, the State's trust bundle, and a
// channel back to the State under test whose trust is that State's CA bundle. The
// gateway has no vault: a probe (the signed trust bundle) needs none.
type peerState struct {
	code       string
	ca         *pki.KeyPair
	paths      gateway.Paths
	serverName string
	url        string
	addr       string
	stop       func()
}

// startPeer starts the gateway of country code, with a channel to country to whose
// clients it admits by the CA bundle trusts.
func startPeer(code, to string, trusts []byte) *peerState {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	lower := strings.ToLower(code)
	p := &peerState{code: code, ca: newCA(code, time.Now(), 0), serverName: "gateway." + lower + ".test", paths: gateway.Paths{
		Config: filepath.Join(dir, "config", gateway.ConfigFile), TLSDir: filepath.Join(dir, "tls"), TrustDir: filepath.Join(dir, "trust"),
		ChannelsDir: filepath.Join(dir, "channels"), VaultClientDir: filepath.Join(dir, "vault-client"),
	}}
	config, err := json.Marshal(gateway.Config{Country: code, Authority: "Point of contact " + code})
	Expect(err).NotTo(HaveOccurred())
	writeFile(p.paths.Config, config)
	p.issue(p.paths.TLSDir, "tls", pki.LeafSpec{CommonName: p.serverName, DNSNames: []string{p.serverName}, Usages: []pki.Usage{pki.UsageServer}})
	writeFile(filepath.Join(p.paths.TLSDir, "ca.crt"), pemOf(p.ca))
	p.publish(p.ca)

	ch := gateway.Channel{Name: "to-" + strings.ToLower(to), Country: to, Endpoint: "https://gateway." + strings.ToLower(to) + ".test",
		ServerName: "gateway." + strings.ToLower(to) + ".test", RequestTypes: []string{"Preservation"},
		LegalBasis: "UNCC art. 40-42", OnwardTransfer: "Prohibited", RetentionDays: 365}
	p.issue(p.paths.ChannelsDir, ch.Name, pki.LeafSpec{CommonName: code + " channel to " + to, Usages: []pki.Usage{pki.UsageClient}})
	writeFile(filepath.Join(p.paths.ChannelsDir, ch.TrustFile()), trusts)
	list, err := json.Marshal(gateway.Channels{Channels: []gateway.Channel{ch}})
	Expect(err).NotTo(HaveOccurred())
	writeFile(filepath.Join(p.paths.ChannelsDir, gateway.ChannelsFile), list)
	Expect(os.MkdirAll(p.paths.VaultClientDir, 0o700)).To(Succeed())

	p.serve("127.0.0.1:0")
	DeferCleanup(func() { p.stop() })
	return p
}

// issue writes a leaf of the peer's CA as <name>.crt and <name>.key in dir.
func (p *peerState) issue(dir, name string, spec pki.LeafSpec) {
	GinkgoHelper()
	leaf, err := pki.IssueLeaf(p.ca, spec, time.Now())
	Expect(err).NotTo(HaveOccurred())
	key, err := pki.EncodePrivateKeyPEM(leaf.PrivateKey)
	Expect(err).NotTo(HaveOccurred())
	writeFile(filepath.Join(dir, name+".crt"), leaf.CertificatePEM())
	writeFile(filepath.Join(dir, name+".key"), key)
}

// publish makes cas the peer State's trust bundle, which its gateway signs and
// serves; the gateway reloads it within its reload interval.
func (p *peerState) publish(cas ...*pki.KeyPair) {
	writeFile(filepath.Join(p.paths.TrustDir, "ca.crt"), pemOf(cas...))
}

// trustChannel makes bundle the CAs the peer's channel back admits clients by, as
// the peer's own operator does when its channel learns a CA; the gateway reloads it.
func (p *peerState) trustChannel(to string, bundle []byte) {
	writeFile(filepath.Join(p.paths.ChannelsDir, "to-"+strings.ToLower(to)+".trust.pem"), bundle)
}

// serve runs the gateway on addr until stop is called.
func (p *peerState) serve(addr string) {
	GinkgoHelper()
	gw := &gateway.Server{Paths: p.paths, Log: GinkgoLogr, ReloadInterval: 100 * time.Millisecond}
	Expect(gw.Load()).To(Succeed())
	ln, err := net.Listen("tcp", addr)
	Expect(err).NotTo(HaveOccurred())
	p.addr, p.url = ln.Addr().String(), "https://"+ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	stopped := false
	p.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	}
}

func writeFile(path string, data []byte) {
	GinkgoHelper()
	Expect(os.MkdirAll(filepath.Dir(path), 0o700)).To(Succeed())
	Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
}
