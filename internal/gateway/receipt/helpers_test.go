package receipt

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// testNow is the tests' "now"; far from the real date, so that a check
// accidentally using the wall clock fails visibly.
var testNow = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

const gatewayName = "gateway.vn.example"

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var serial atomic.Int64

// testCA is a national CA for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCA makes a CA valid for a year around testNow; edit adjusts its template.
func newCA(t testing.TB, country string, edit ...func(*x509.Certificate)) *testCA {
	t.Helper()
	key := newKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{Country: []string{country}, Organization: []string{"Central authority"}, CommonName: country + " national CA " + big.NewInt(serial.Load()).String()},
		NotBefore:             testNow.Add(-24 * time.Hour),
		NotAfter:              testNow.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	for _, e := range edit {
		e(tmpl)
	}
	return &testCA{cert: createCert(t, tmpl, tmpl, key.Public(), key), key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a gateway serving certificate for gatewayName on curve, valid
// for 90 days around testNow; edit adjusts its template.
func (ca *testCA) issue(t testing.TB, curve elliptic.Curve, edit ...func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t, curve)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: gatewayName},
		DNSNames:     []string{gatewayName},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, e := range edit {
		e(tmpl)
	}
	return createCert(t, tmpl, ca.cert, key.Public(), ca.key), key
}

func (ca *testCA) signer(t testing.TB, curve elliptic.Curve, edit ...func(*x509.Certificate)) *Signer {
	t.Helper()
	leaf, key := ca.issue(t, curve, edit...)
	s, err := NewSigner(key, []*x509.Certificate{leaf, ca.cert})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemOf(certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

// testVault is a real evidence vault holding a request and two other objects.
type testVault struct {
	v   *vault.Vault
	dir string
	// request, other are ingested objects; request's canonical JSON is what
	// the receipts are for.
	request, other vault.IngestResult
}

var vaultActor = vault.Identity{Subject: "CN=gateway,O=VN central authority", Issuer: "CN=VN national CA", Serial: "1", Fingerprint: "sha256:" + strings.Repeat("11", 32)}

func openVault(t testing.TB) *testVault {
	t.Helper()
	kr, err := vault.NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{7}, vault.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	grants := vault.Grants{}
	for _, r := range vault.Roles {
		grants[r] = []vault.Principal{vault.AnyClient}
	}
	dir := t.TempDir()
	v, err := vault.Open(vault.Config{Dir: dir, Keyring: kr, Clock: fixedClock{testNow}, Grants: grants, Policy: vault.Policy{MinRetention: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	tv := &testVault{v: v, dir: dir}
	tv.request = tv.ingest(t, []byte(`{"channel":"FR-VN","reference":"FR/2031/17","type":"preservation"}`))
	tv.other = tv.ingest(t, []byte(`{"channel":"FR-VN","reference":"FR/2031/18","type":"preservation"}`))
	tv.ingest(t, []byte("a third object, so that the tree is not a power of two"))
	return tv
}

func (tv *testVault) ingest(t testing.TB, data []byte) vault.IngestResult {
	t.Helper()
	m := vault.Metadata{
		CaseReference:          "VN/MLA/2031/5",
		LegalBasis:             "UNCC art. 42 (expedited preservation)",
		AuthorisationReference: "VN/ORDER/9",
		AuthorisationExpiry:    testNow.Add(30 * 24 * time.Hour),
		RetentionUntil:         testNow.Add(365 * 24 * time.Hour),
	}
	res, err := tv.v.Ingest(context.Background(), vaultActor, m, bytes.NewReader(data), vault.NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// line reads custody entry seq's log line, without its newline, from the
// vault's custody log file.
func (tv *testVault) line(t testing.TB, seq uint64) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(tv.dir, "custody.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, vault.MaxEntryBytes), vault.MaxEntryBytes)
	for sc.Scan() {
		e, err := vault.DecodeEntry(sc.Bytes())
		if err != nil {
			t.Fatalf("custody log line: %v", err)
		}
		if e.Seq == seq {
			return bytes.Clone(sc.Bytes())
		}
	}
	t.Fatalf("custody entry %d is not in the log (scan: %v)", seq, sc.Err())
	return nil
}

// custody is the vault's proof for entry seq against its current checkpoint.
func (tv *testVault) custody(t testing.TB, seq uint64) Custody {
	t.Helper()
	cp, err := tv.v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	size, proof, err := tv.v.InclusionProof(vaultActor, seq, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if size != cp.Size {
		t.Fatalf("proof is for %d entries, checkpoint for %d", size, cp.Size)
	}
	return Custody{Sequence: seq, Entry: tv.line(t, seq), Checkpoint: string(cp.Note), VerifierKey: tv.v.VerifierKey(), InclusionProof: proof}
}

// receipt is a valid receipt for tv's request.
func (tv *testVault) receipt(t testing.TB) Receipt {
	t.Helper()
	return Receipt{
		RequestID: "0190f1c2-7a3b-7c4d-8e5f-a1b2c3d4e5f6",
		Reference: "FR/2031/17",
		Type:      "preservation",
		Channel:   "FR-VN",
		From:      "FR",
		To:        "VN",
		Received:  testNow,
		Digest:    string(tv.request.Digest),
		Custody:   tv.custody(t, tv.request.Sequence),
	}
}

// signRaw signs any payload as a receipt, without Sign's checks, to show
// that Verify refuses what Sign would never produce.
func signRaw(t testing.TB, s *Signer, payload any, typ string) string {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	compact, err := s.sign(b, typ)
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

// forge assembles a compact JWS from a header, a payload and a signature,
// as an attacker would.
func forge(header map[string]any, payload []byte, sig []byte) string {
	h, _ := json.Marshal(header)
	return b64(h) + "." + b64(payload) + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func x5cOf(certs ...*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return out
}

func bigSerial() *big.Int { return big.NewInt(serial.Add(1)) }

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
