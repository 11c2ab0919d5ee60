package perf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// peerFarm is one mutual-TLS server standing in for the gateways of many peer
// States. Each peer has a serving certificate of its own, naming gateway.<cc>.test
// only, as a real peer's gateway does, chosen by the server name (SNI) the client
// asks for; the trust bundle GET /v1/trust-bundle answers is signed with that
// peer's key. (One certificate naming every peer would make each probe parse and
// verify a certificate with 250 names, twice: in the handshake and in the bundle's
// x5c, a cost no real peer imposes.) Every peer shares one CA. It admits any client
// certificate: the peers' admission rules are not what is measured.
type peerFarm struct {
	ca     *pki.KeyPair
	url    string
	now    func() time.Time
	probes atomic.Int64
	// perSecond counts the probes by the Unix second they arrived in.
	mu        sync.Mutex
	perSecond map[int64]int
	srv       *http.Server
	peers     map[string]*farmPeer // by server name
}

// farmPeer is one peer's serving certificate and trust bundle signer.
type farmPeer struct {
	country string
	cert    *tls.Certificate
	signer  *receipt.Signer
}

// busiestSecond is the most probes that arrived within one second (of the clock)
// from from to to, and the seconds in which any arrived.
func (f *peerFarm) busiestSecond(from, to time.Time) (most, seconds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sec, n := range f.perSecond {
		if sec >= from.Unix() && sec <= to.Unix() {
			most, seconds = max(most, n), seconds+1
		}
	}
	return most, seconds
}

// peerServerName is the server name a channel to country uses.
func peerServerName(country string) string { return "gateway." + strings.ToLower(country) + ".test" }

// startPeerFarm serves the peers of countries on a loopback port; now is the
// clock the bundles are issued by (the operator's, which may be shifted).
func startPeerFarm(countries []string, now func() time.Time) (*peerFarm, error) {
	// Valid from well before the operator's clock to well after any shift of it.
	notBefore := time.Now().Add(-24 * time.Hour)
	ca, err := pki.CreateCA(pki.CASpec{CommonName: "perf peer States CA", Country: "FR", Duration: 10 * 365 * 24 * time.Hour}, notBefore)
	if err != nil {
		return nil, err
	}
	f := &peerFarm{ca: ca, now: now, peers: make(map[string]*farmPeer, len(countries)), perSecond: map[int64]int{}}
	for _, c := range countries {
		name := peerServerName(c)
		leaf, err := pki.IssueLeaf(ca, pki.LeafSpec{CommonName: name, DNSNames: []string{name}, Usages: []pki.Usage{pki.UsageServer},
			Duration: 5 * 365 * 24 * time.Hour}, notBefore)
		if err != nil {
			return nil, err
		}
		signer, err := receipt.NewSigner(leaf.PrivateKey, []*x509.Certificate{leaf.Certificate, ca.Certificate})
		if err != nil {
			return nil, err
		}
		f.peers[name] = &farmPeer{country: c, signer: signer,
			cert: &tls.Certificate{Certificate: [][]byte{leaf.Certificate.Raw, ca.Certificate.Raw}, PrivateKey: leaf.PrivateKey, Leaf: leaf.Certificate}}
	}
	bundle := string(ca.CertificatePEM())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathTrustBundle, func(w http.ResponseWriter, r *http.Request) {
		f.probes.Add(1)
		f.mu.Lock()
		f.perSecond[time.Now().Unix()]++
		f.mu.Unlock()
		p := f.peers[r.TLS.ServerName]
		if p == nil {
			http.Error(w, "no such peer", http.StatusNotFound)
			return
		}
		signed, err := p.signer.SignTrustBundle(receipt.TrustBundle{Country: p.country, Bundle: bundle, Issued: f.now()})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(signed))
	})
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if p := f.peers[hello.ServerName]; p != nil {
				return p.cert, nil
			}
			return nil, fmt.Errorf("no peer is named %q", hello.ServerName)
		},
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.url = "https://" + ln.Addr().String()
	go func() {
		if err := f.srv.Serve(tls.NewListener(ln, f.srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return f, nil
}

func (f *peerFarm) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
}

// peerCountries are the ISO 3166-1 alpha-2 codes the API accepts (read from the
// FocalPoint type's validation rule), without except.
func peerCountries(except string) ([]string, error) {
	src, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "api", "v1alpha1", "focalpoint_types.go"))
	if err != nil {
		return nil, err
	}
	rule := regexp.MustCompile(`rule="self in \[([^\]]+)\]"`).FindSubmatch(src)
	if rule == nil {
		return nil, errors.New("api/v1alpha1/focalpoint_types.go: no country rule found")
	}
	var out []string
	for _, q := range strings.Split(string(rule[1]), ",") {
		if c := strings.Trim(q, "' "); c != except {
			out = append(out, c)
		}
	}
	return out, nil
}
