package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// Paths are the files and directories the gateway reads; in a pod they are the
// mounted ConfigMap and Secrets (the constants above), in tests temporary ones.
type Paths struct {
	Config         string
	TLSDir         string
	TrustDir       string
	ChannelsDir    string
	VaultClientDir string
}

// DefaultPaths are the mount points the operator uses.
func DefaultPaths() Paths {
	return Paths{Config: ConfigPath, TLSDir: TLSDir, TrustDir: TrustDir, ChannelsDir: ChannelsDir, VaultClientDir: VaultClientDir}
}

// watched are the paths whose contents trigger a reload.
func (p Paths) watched() []string {
	return []string{p.Config, p.TLSDir, p.TrustDir, p.ChannelsDir, p.VaultClientDir}
}

// state is everything the gateway serves with, built from the files at once and
// swapped whole, so a request sees one consistent configuration.
type state struct {
	cfg *Config

	serving     tls.Certificate
	signer      *receipt.Signer
	ownTrust    *x509.CertPool
	ownTrustPEM []byte

	channels   map[string]*channel            // by name
	joint      map[string]*JointInvestigation // by case id
	byIssuer   map[string][]*channel
	clientCAs  *x509.CertPool
	vault      *vaultclient.Client
	vaultError string // why there is no vault client, for readiness

	verifierMu  sync.Mutex
	verifierKey string

	// callers remembers who the client certificate chains seen are (identify).
	callers *callerCache
}

// channel is one CooperationChannel as loaded.
type channel struct {
	Channel
	// providerMode: this gateway is a service provider's, and the channel's
	// peer an authority whose orders it answers.
	providerMode bool
	trust        *x509.CertPool
	cas          []*x509.Certificate
	client       *peer.Client
}

// admitsIdentity reports whether a client certificate carries one of the channel's
// pinned URI SANs; without pins every certificate of the peer's CAs is admitted.
func (c *channel) admitsIdentity(leaf *x509.Certificate) bool {
	if len(c.ClientURIs) == 0 {
		return true
	}
	for _, u := range leaf.URIs {
		if slices.Contains(c.ClientURIs, u.String()) {
			return true
		}
	}
	return false
}

func (c *channel) permits(requestType string) bool {
	return slices.Contains(c.RequestTypes, requestType) && (!c.providerMode || providerReceives(requestType))
}

// providerReceives reports whether a service provider receives requests of
// type t: the domestic orders of articles 25 to 27 and content removal.
func providerReceives(t string) bool {
	return slices.Contains(cybercoopv1alpha1.ProviderRequestTypes, cybercoopv1alpha1.RequestType(t))
}

// loadState reads every file. It fails, keeping the previous state in place, if
// the serving certificate, the trust bundle or any channel is unusable: a half
// loaded channel list would silently drop a peer.
func loadState(p Paths) (*state, error) {
	cfg, err := LoadConfig(p.Config)
	if err != nil {
		return nil, err
	}
	st := &state{cfg: cfg, channels: map[string]*channel{}, byIssuer: map[string][]*channel{}}

	certPEM, err := os.ReadFile(filepath.Join(p.TLSDir, "tls.crt"))
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(p.TLSDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("serving key: %w", err)
	}
	st.serving, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("serving certificate and key in %s: %w", p.TLSDir, err)
	}
	chain, err := servingChain(st.serving, filepath.Join(p.TLSDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	signer, ok := st.serving.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("serving key cannot sign")
	}
	if st.signer, err = receipt.NewSigner(signer, chain); err != nil {
		return nil, fmt.Errorf("receipt signer from the serving certificate: %w", err)
	}

	st.ownTrustPEM, err = os.ReadFile(filepath.Join(p.TrustDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	st.ownTrust = x509.NewCertPool()
	if !st.ownTrust.AppendCertsFromPEM(st.ownTrustPEM) {
		return nil, fmt.Errorf("trust bundle %s holds no PEM certificate", filepath.Join(p.TrustDir, "ca.crt"))
	}
	st.clientCAs = x509.NewCertPool()
	st.clientCAs.AppendCertsFromPEM(st.ownTrustPEM)

	if err := st.loadChannels(p.ChannelsDir); err != nil {
		return nil, err
	}
	cas := parseCertificates(st.ownTrustPEM)
	for _, ch := range st.channels {
		cas = append(cas, ch.cas...)
	}
	st.callers = newCallerCache(cas)
	st.loadVault(p.VaultClientDir)
	return st, nil
}

// servingChain is the serving certificate followed by the CA that issued it (from
// ca.crt), as the receipt's x5c carries it.
func servingChain(cert tls.Certificate, caFile string) ([]*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	chain := []*x509.Certificate{leaf}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return chain, nil //nolint:nilerr // ca.crt is optional: the peer holds our CA already
	}
	for _, ca := range parseCertificates(caPEM) {
		if bytes.Equal(ca.RawSubject, leaf.RawIssuer) && leaf.CheckSignatureFrom(ca) == nil {
			chain = append(chain, ca)
			break
		}
	}
	return chain, nil
}

func parseCertificates(pemBytes []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range splitPEM(pemBytes) {
		if cert, err := x509.ParseCertificate(c); err == nil {
			out = append(out, cert)
		}
	}
	return out
}

func (st *state) loadChannels(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, ChannelsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil // no channel yet: only officers and probes are served
	}
	if err != nil {
		return fmt.Errorf("channels: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var list Channels
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("channels file %s: %w", filepath.Join(dir, ChannelsFile), err)
	}
	for _, c := range list.Channels {
		ch, err := loadChannel(dir, c, st.cfg.Self())
		if err != nil {
			return err
		}
		if _, dup := st.channels[c.Name]; dup {
			return fmt.Errorf("channels file: channel %q is listed twice", c.Name)
		}
		st.channels[c.Name] = ch
		for _, ca := range ch.cas {
			st.clientCAs.AddCert(ca)
			key := string(ca.RawSubject)
			st.byIssuer[key] = append(st.byIssuer[key], ch)
		}
	}
	st.joint = map[string]*JointInvestigation{}
	if st.cfg.Provider != nil && len(list.JointInvestigations) > 0 {
		// A provider is no party to a joint investigation (article 48 is
		// between States): none is served, whatever the file lists.
		list.JointInvestigations = nil
	}
	for i := range list.JointInvestigations {
		ji := &list.JointInvestigations[i]
		if !jointCaseID.MatchString(ji.CaseID) {
			return fmt.Errorf("channels file: %q is not a joint investigation's case id", ji.CaseID)
		}
		if _, dup := st.joint[ji.CaseID]; dup {
			return fmt.Errorf("channels file: joint investigation %s is listed twice", ji.CaseID)
		}
		st.joint[ji.CaseID] = ji
	}
	return nil
}

func loadChannel(dir string, c Channel, self string) (*channel, error) {
	if c.Name == "" || strings.ContainsAny(c.Name, "/\\") || strings.HasPrefix(c.Name, ".") {
		return nil, fmt.Errorf("channels file: %q is not a channel name", c.Name)
	}
	switch {
	case c.Country != "" && c.Provider != "":
		return nil, fmt.Errorf("channel %s: names both a country (%s) and a service provider (%s)", c.Name, c.Country, c.Provider)
	case c.Provider != "" && !receipt.IsProvider(c.Provider):
		return nil, fmt.Errorf("channel %s: provider %q is not a lower-case DNS label of 3 to 63 characters", c.Name, c.Provider)
	case c.Provider == "" && !receipt.IsCountry(c.Country):
		return nil, fmt.Errorf("channel %s: country %q is not an ISO 3166-1 alpha-2 code", c.Name, c.Country)
	case c.Provider != "" && receipt.IsProvider(self):
		return nil, fmt.Errorf("channel %s: a service provider's gateway answers authorities, not another provider (%s)", c.Name, c.Provider)
	}
	trustPEM, err := os.ReadFile(filepath.Join(dir, c.TrustFile()))
	if err != nil {
		return nil, fmt.Errorf("channel %s: peer trust: %w", c.Name, err)
	}
	ch := &channel{Channel: c, providerMode: receipt.IsProvider(self), trust: x509.NewCertPool()}
	// Read strictly: a truncated or stray block is a damaged file, not a CA less.
	cas, err := pki.ParseCertificatesPEM(trustPEM)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %s: %w", c.Name, c.TrustFile(), err)
	}
	for _, ca := range cas {
		if !ca.IsCA {
			return nil, fmt.Errorf("channel %s: %s holds a certificate that is not a CA (%s)", c.Name, c.TrustFile(), ca.Subject)
		}
		ch.trust.AddCert(ca)
		ch.cas = append(ch.cas, ca)
	}
	if len(ch.cas) == 0 {
		return nil, fmt.Errorf("channel %s: %s holds no CA certificate", c.Name, c.TrustFile())
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, c.ClientCertFile()), filepath.Join(dir, c.ClientKeyFile()))
	if err != nil {
		return nil, fmt.Errorf("channel %s: client certificate and key: %w", c.Name, err)
	}
	ch.client, err = peer.New(c.Peer(), c.Endpoint, c.ServerName, cert, ch.trust, peer.Options{KeepAlive: true})
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", c.Name, err)
	}
	ch.client.Self = self
	return ch, nil
}

func (st *state) loadVault(dir string) {
	if st.cfg.Vault == nil {
		st.vaultError = "the FocalPoint has no EvidenceVault: no request can be made durable"
		return
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		st.vaultError = fmt.Sprintf("vault client certificate: %v", err)
		return
	}
	// The vault's serving certificate is checked against the State's trust bundle,
	// not the ca.crt beside the client certificate: the bundle is what a CA key
	// replacement extends before any certificate from the new CA is served, and what
	// the gateway's pods are tracked by; the leaf's ca.crt follows only when the leaf
	// is re-issued.
	roots := st.ownTrust
	st.vault = vaultclient.NewPooled(st.cfg.Vault.URL, st.cfg.Vault.ServerName, cert, roots)
}

// close drops the connections of a state that was replaced.
func (st *state) close() {
	for _, ch := range st.channels {
		ch.client.Close()
	}
	if st.vault != nil {
		st.vault.Close()
	}
}

// channelsFor returns the channels whose peer CAs verify a client certificate.
// Candidates are found by issuer name first, so a request costs one or two chain
// verifications however many channels there are.
func (st *state) channelsFor(leaf *x509.Certificate, intermediates []*x509.Certificate) []*channel {
	var out []*channel
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	seen := map[*channel]bool{}
	candidates := st.byIssuer[string(leaf.RawIssuer)]
	for _, c := range intermediates {
		candidates = append(candidates, st.byIssuer[string(c.RawIssuer)]...)
	}
	for _, ch := range candidates {
		if seen[ch] {
			continue
		}
		seen[ch] = true
		if !ch.admitsIdentity(leaf) {
			continue
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ch.trust, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			out = append(out, ch)
		}
	}
	return out
}

// isOfficer reports whether a client certificate is a local officer's: issued by
// the State's own CA and carrying the officer identity as a URI SAN.
func (st *state) isOfficer(leaf *x509.Certificate, intermediates []*x509.Certificate) bool {
	return st.ownIdentity(leaf, intermediates, st.cfg.OfficerIdentity)
}

// isOperator reports whether a client certificate is the operator's: issued by the
// State's own CA and carrying the operator identity.
func (st *state) isOperator(leaf *x509.Certificate, intermediates []*x509.Certificate) bool {
	return st.ownIdentity(leaf, intermediates, st.cfg.OperatorIdentity)
}

// ownIdentity reports whether a client certificate carries identity as a URI SAN
// and chains to the State's own trust bundle as a client certificate.
func (st *state) ownIdentity(leaf *x509.Certificate, intermediates []*x509.Certificate, identity string) bool {
	if identity == "" {
		return false
	}
	found := false
	for _, u := range leaf.URIs {
		if u.String() == identity {
			found = true
		}
	}
	if !found {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: st.ownTrust, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

// splitPEM returns the DER bytes of every CERTIFICATE block.
func splitPEM(data []byte) [][]byte {
	var out [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, block.Bytes)
		}
	}
}

// vaultVerifierKey is the vault's checkpoint verifier key, asked once per state:
// receipts carry it so the sender can check the checkpoint's signature.
func (st *state) vaultVerifierKey(ctx context.Context) (string, error) {
	st.verifierMu.Lock()
	defer st.verifierMu.Unlock()
	if st.verifierKey != "" {
		return st.verifierKey, nil
	}
	status, err := st.vault.Status(ctx)
	if err != nil {
		return "", err
	}
	if status.VerifierKey == "" {
		return "", errors.New("the vault reports no checkpoint verifier key")
	}
	st.verifierKey = status.VerifierKey
	return st.verifierKey, nil
}
