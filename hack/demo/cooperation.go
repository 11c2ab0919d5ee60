package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

// demoCountry is one sample State as the demo runs it.
type demoCountry struct {
	name    string // for people
	ns      string
	fp      string
	ev      string
	channel string // its CooperationChannel to the other
	peerCA  string // the Secret its channel takes the peer's CA from
	host    string // the external name peers use (spec.gateway.externalNames)

	ln      net.Listener
	url     string
	vault   *localstack.Vault
	gateway *localstack.Gateway
}

var kenya = &demoCountry{name: "Kenya", ns: "cybercoop-ke", fp: "ke-poc", ev: "ke-evidence", channel: "to-fr", peerCA: "ke-ca", host: "gateway.ke.example"}
var france = &demoCountry{name: "France", ns: "cybercoop-fr", fp: "fr-poc", ev: "fr-evidence", channel: "to-ke", peerCA: "fr-ca", host: "gateway.fr.example"}

// cooperate runs both countries' vaults and gateways as local processes on the
// operator's Secrets (a simulated cluster runs no containers), lets the two States
// exchange their CA certificates, and sends one request from Kenya to France.
func cooperate(ctx context.Context, c client.Client, work string, kubectl func(...string) error) (func(), error) {
	var stops []func() error
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			_ = stops[i]()
		}
	}
	log := logr.Discard()

	step("Kenya and France exchange their national CA certificates out of band (a Secret each, as the channel samples say)")
	for _, pair := range [][2]*demoCountry{{kenya, france}, {france, kenya}} {
		local, peer := pair[0], pair[1]
		bundle, err := secretKey(ctx, c, peer.ns, peer.fp+"-trust-bundle", pki.CACertKey)
		if err != nil {
			return stop, err
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: peer.peerCA, Namespace: local.ns}, Data: map[string][]byte{pki.CACertKey: bundle}}
		if err := c.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
			return stop, err
		}
		fmt.Printf("  %s/%s: %s's CA\n", local.ns, peer.peerCA, peer.name)
	}

	step("running each country's vault and gateway as local processes on the Secrets the operator issued")
	for _, dc := range []*demoCountry{kenya, france} {
		ev := &cybercoopv1alpha1.EvidenceVault{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: dc.ns, Name: dc.ev}, ev); err != nil {
			return stop, err
		}
		v, err := localstack.StartVault(ctx, c, ev, filepath.Join(work, dc.ns, "vault"), log)
		if err != nil {
			return stop, err
		}
		dc.vault = v
		stops = append(stops, v.Stop)
		if dc.ln, dc.url, err = localstack.Listen(); err != nil {
			return stop, err
		}
		fmt.Printf("  %s: vault on %s, gateway on %s\n", dc.name, v.Addr, dc.url)
	}

	step("pointing each channel at the other's gateway on this machine (in a real deployment: the peer's public address)")
	for _, pair := range [][2]*demoCountry{{kenya, france}, {france, kenya}} {
		local, peer := pair[0], pair[1]
		patch := fmt.Sprintf(`{"spec":{"peer":{"endpoint":%q,"serverName":%q}}}`, peer.url, peer.host)
		if err := kubectl("patch", "cooperationchannel", local.channel, "-n", local.ns, "--type=merge", "-p", patch); err != nil {
			return stop, err
		}
	}
	for _, dc := range []*demoCountry{kenya, france} {
		fp := &cybercoopv1alpha1.FocalPoint{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: dc.ns, Name: dc.fp}, fp); err != nil {
			return stop, err
		}
		startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		g, err := localstack.StartGateway(startCtx, c, fp, dc.vault.Addr, dc.ln, filepath.Join(work, dc.ns, "gateway"), log)
		cancel()
		if err != nil {
			return stop, err
		}
		dc.gateway = g
		stops = append(stops, g.Stop)
	}

	step("waiting for both channels: peer trusted, reachable, certificate ready")
	if err := kubectl("wait", "--for=condition=Ready", "cooperationchannels", "--all", "-A", "--timeout=120s"); err != nil {
		_ = kubectl("get", "cooperationchannels", "-A", "-o", "wide")
		return stop, err
	}
	_ = kubectl("get", "cooperationchannels", "-A", "-o", "wide")

	step("Kenya's duty officer sends France a Preservation request through Kenya's gateway")
	return stop, sendPreservation(ctx, c)
}

func secretKey(ctx context.Context, c client.Client, ns, name, key string) ([]byte, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	if len(s.Data[key]) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no %s", ns, name, key)
	}
	return s.Data[key], nil
}

func pool(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}

func sendPreservation(ctx context.Context, c client.Client) error {
	officerCrt, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-officer", pki.TLSCertKey)
	if err != nil {
		return err
	}
	officerKey, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-officer", pki.TLSPrivateKeyKey)
	if err != nil {
		return err
	}
	officer, err := tls.X509KeyPair(officerCrt, officerKey)
	if err != nil {
		return err
	}
	keTrust, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return err
	}
	frTrust, err := secretKey(ctx, c, france.ns, france.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join("internal", "gateway", "requests", "testdata", "valid", "Preservation.json"))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	doc["reference"] = fmt.Sprintf("KE-DCI-%d", time.Now().Unix())
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: kenya.host, RootCAs: pool(keTrust), Certificates: []tls.Certificate{officer},
	}}}
	url := kenya.gateway.URL + wire.PathOutbound + kenya.channel + "/requests"
	fmt.Printf("  POST %s (reference %s, as %s)\n", url, doc["reference"], "the officer credential in Secret "+kenya.ns+"/"+kenya.fp+"-officer")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the request was refused: %d %s", resp.StatusCode, answer)
	}
	var acc wire.Accepted
	if err := json.Unmarshal(answer, &acc); err != nil {
		return err
	}
	// Verify the receipt here too, with nothing but Kenya's trust in France's CA.
	rc, signer, err := receipt.Verify(acc.Receipt, pool(frTrust), france.host, time.Now())
	if err != nil {
		return fmt.Errorf("the receipt does not verify: %w", err)
	}
	fmt.Printf("  %d Created: France recorded request %s and signed a receipt (%d bytes of compact JWS), verified by Kenya's gateway and again here:\n",
		resp.StatusCode, acc.RequestID, len(acc.Receipt))
	fmt.Printf("    signed by    %s (issued by %s)\n", signer.Subject, signer.Issuer)
	fmt.Printf("    channel      %s, type %s, reference %s\n", rc.Channel, rc.Type, rc.Reference)
	fmt.Printf("    received     %s\n", rc.Received.Format(time.RFC3339))
	fmt.Printf("    digest       %s (SHA-256 of the request's RFC 8785 canonical JSON)\n", rc.Digest)
	fmt.Printf("    custody      entry %d of France's vault log, inclusion proof of %d hashes against its signed checkpoint\n",
		rc.Custody.Sequence, len(rc.Custody.InclusionProof))
	fmt.Printf("    checkpoint   %s\n", firstLines(rc.Custody.Checkpoint, 3))
	for _, dc := range []*demoCountry{kenya, france} {
		st := dc.vault.Vault.Status()
		fmt.Printf("  %s's vault holds %d objects (the request and the receipt)\n", dc.name, st.Objects)
	}
	return nil
}

func firstLines(s string, n int) string {
	var out []byte
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i] == '\n' {
			n--
			if n == 0 {
				break
			}
			out = append(out, " / "...)
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}
