package perf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// peerFarm is one mutual-TLS server standing in for the gateways of many peer
// States: its serving certificate names gateway.<cc>.test for every country, and it
// answers GET /v1/trust-bundle with a trust bundle signed for the country the
// client's server name (SNI) asks for. Every peer shares one CA. It admits any
// client certificate: the peers' admission rules are not what is measured.
type peerFarm struct {
	ca     *pki.KeyPair
	url    string
	now    func() time.Time
	probes atomic.Int64
	srv    *http.Server
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
	names := make([]string, len(countries))
	for i, c := range countries {
		names[i] = peerServerName(c)
	}
	leaf, err := pki.IssueLeaf(ca, pki.LeafSpec{CommonName: "perf peer gateways", DNSNames: names, Usages: []pki.Usage{pki.UsageServer},
		Duration: 5 * 365 * 24 * time.Hour}, notBefore)
	if err != nil {
		return nil, err
	}
	signer, err := receipt.NewSigner(leaf.PrivateKey, []*x509.Certificate{leaf.Certificate, ca.Certificate})
	if err != nil {
		return nil, err
	}
	f := &peerFarm{ca: ca, now: now}
	bundle := string(ca.CertificatePEM())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathTrustBundle, func(w http.ResponseWriter, r *http.Request) {
		f.probes.Add(1)
		country := strings.ToUpper(strings.TrimSuffix(strings.TrimPrefix(r.TLS.ServerName, "gateway."), ".test"))
		signed, err := signer.SignTrustBundle(receipt.TrustBundle{Country: country, Bundle: bundle, Issued: f.now()})
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(signed))
	})
	cert := tls.Certificate{Certificate: [][]byte{leaf.Certificate.Raw, ca.Certificate.Raw}, PrivateKey: leaf.PrivateKey, Leaf: leaf.Certificate}
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert,
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
