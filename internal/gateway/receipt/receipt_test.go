package receipt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

func TestReceiptRoundTrip(t *testing.T) {
	tv := openVault(t)
	for _, tc := range []struct {
		name      string
		curve     elliptic.Curve
		alg       string
		includeCA bool
	}{
		{"ES256, chain without the CA", elliptic.P256(), "ES256", false},
		{"ES256, chain with the CA", elliptic.P256(), "ES256", true},
		{"ES384, chain without the CA", elliptic.P384(), "ES384", false},
		{"ES384, chain with the CA", elliptic.P384(), "ES384", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t, "VN")
			leaf, key := ca.issue(t, tc.curve)
			chain := []*x509.Certificate{leaf}
			if tc.includeCA {
				chain = append(chain, ca.cert)
			}
			s, err := NewSigner(key, chain)
			if err != nil {
				t.Fatal(err)
			}
			r := tv.receipt(t)
			compact, err := s.Sign(r)
			if err != nil {
				t.Fatal(err)
			}

			hdr, err := parseProtectedHeader(strings.Split(compact, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Alg != tc.alg || hdr.Typ != TypeReceipt || len(hdr.X5c) != len(chain) {
				t.Errorf("header: alg %s typ %s x5c %d certificates; want %s, %s, %d", hdr.Alg, hdr.Typ, len(hdr.X5c), tc.alg, TypeReceipt, len(chain))
			}

			for _, name := range []string{gatewayName, ""} {
				got, signer, err := Verify(compact, ca.pool(), name, testNow)
				if err != nil {
					t.Fatalf("Verify(server name %q): %v", name, err)
				}
				if !signer.Equal(leaf) {
					t.Errorf("Verify returned certificate %s, want the serving certificate", signer.Subject)
				}
				want, _ := json.Marshal(r)
				have, _ := json.Marshal(got)
				if !bytes.Equal(want, have) {
					t.Errorf("receipt changed in transit:\n got %s\nwant %s", have, want)
				}
				if !got.Received.Equal(r.Received) {
					t.Errorf("received %s, want %s", got.Received, r.Received)
				}
			}
		})
	}
}

// A gateway whose certificate comes from an intermediate sends the
// intermediate in x5c; the peer trusts the root only.
func TestReceiptThroughIntermediate(t *testing.T) {
	tv := openVault(t)
	root := newCA(t, "VN")
	key := newKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber: bigSerial(), Subject: pkixName("VN issuing CA"),
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	intermediate := &testCA{cert: createCert(t, tmpl, root.cert, key.Public(), root.key), key: key}
	leaf, leafKey := intermediate.issue(t, elliptic.P256())
	s, err := NewSigner(leafKey, []*x509.Certificate{leaf, intermediate.cert, root.cert})
	if err != nil {
		t.Fatal(err)
	}
	compact, err := s.Sign(tv.receipt(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(compact, root.pool(), gatewayName, testNow); err != nil {
		t.Fatal(err)
	}
	// Trusting the intermediate's sibling root only is not enough.
	if _, _, err := Verify(compact, newCA(t, "VN").pool(), gatewayName, testNow); err == nil {
		t.Fatal("a chain to an untrusted root verified")
	}
}

// A receipt is refused whenever anything about its signature, its signer or
// its envelope is wrong.
func TestVerifyRefusesEnvelope(t *testing.T) {
	tv := openVault(t)
	ca := newCA(t, "VN")
	leaf, key := ca.issue(t, elliptic.P256())
	s, err := NewSigner(key, []*x509.Certificate{leaf, ca.cert})
	if err != nil {
		t.Fatal(err)
	}
	r := tv.receipt(t)
	good, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	signingInput := func(h map[string]any, p []byte) string {
		hj, _ := json.Marshal(h)
		return b64(hj) + "." + b64(p)
	}
	x5c := x5cOf(leaf, ca.cert)
	other := newCA(t, "VN")

	for _, tc := range []struct {
		name       string
		compact    func(t *testing.T) string
		nilRoots   bool
		serverName string    // default gatewayName
		now        time.Time // default testNow
		want       string
	}{
		{name: "tampered payload", want: "signature does not verify", compact: func(t *testing.T) string {
			changed := bytes.Replace(payload, []byte("FR/2031/17"), []byte("FR/2031/99"), 1)
			return parts[0] + "." + b64(changed) + "." + parts[2]
		}},
		{name: "tampered signature", want: "signature does not verify", compact: func(t *testing.T) string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)-1] ^= 1
			return parts[0] + "." + parts[1] + "." + b64(sig)
		}},
		{name: "signature cut short", want: "signature does not verify", compact: func(t *testing.T) string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			return parts[0] + "." + parts[1] + "." + b64(sig[:len(sig)-1])
		}},
		{name: "x5c swapped: signed by another key of the same CA, showing the gateway's certificate", want: "signature does not verify", compact: func(t *testing.T) string {
			_, otherKey := ca.issue(t, elliptic.P256())
			return signRaw(t, &Signer{key: otherKey, alg: jose.ES256, x5c: x5c}, payload, TypeReceipt)
		}},
		{name: "x5c swapped: the gateway's signature, another certificate of the same CA", want: "signature does not verify", compact: func(t *testing.T) string {
			otherLeaf, _ := ca.issue(t, elliptic.P256())
			return signRaw(t, &Signer{key: key, alg: jose.ES256, x5c: x5cOf(otherLeaf, ca.cert)}, payload, TypeReceipt)
		}},
		{name: "chain to another CA", want: "does not verify to the trusted CAs", compact: func(t *testing.T) string {
			return signRaw(t, other.signer(t, elliptic.P256()), payload, TypeReceipt)
		}},
		{name: "chain to another CA that x5c carries as if it were trusted", want: "does not verify to the trusted CAs", compact: func(t *testing.T) string {
			l, k := other.issue(t, elliptic.P256())
			return signRaw(t, &Signer{key: k, alg: jose.ES256, x5c: x5cOf(l, other.cert, ca.cert)}, payload, TypeReceipt)
		}},
		{name: "expired serving certificate", want: "expired", compact: func(t *testing.T) string {
			return signRaw(t, ca.signer(t, elliptic.P256(), func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = testNow.Add(-91*24*time.Hour), testNow.Add(-time.Minute)
			}), payload, TypeReceipt)
		}},
		{name: "serving certificate not yet valid", want: "does not verify to the trusted CAs", compact: func(t *testing.T) string {
			return signRaw(t, ca.signer(t, elliptic.P256(), func(c *x509.Certificate) {
				c.NotBefore = testNow.Add(time.Hour)
			}), payload, TypeReceipt)
		}},
		{name: "receipt verified after its certificate expired", now: testNow.Add(91 * 24 * time.Hour), want: "expired",
			compact: func(t *testing.T) string { return good }},
		{name: "wrong server name", serverName: "gateway.fr.example", want: `not valid for server name "gateway.fr.example"`,
			compact: func(t *testing.T) string { return good }},
		{name: "client certificate, not a serving one", want: "does not verify to the trusted CAs", compact: func(t *testing.T) string {
			l, k := ca.issue(t, elliptic.P256(), func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })
			return signRaw(t, &Signer{key: k, alg: jose.ES256, x5c: x5cOf(l)}, payload, TypeReceipt)
		}},
		{name: "serving certificate without digitalSignature", want: "digitalSignature", compact: func(t *testing.T) string {
			l, k := ca.issue(t, elliptic.P256(), func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
			return signRaw(t, &Signer{key: k, alg: jose.ES256, x5c: x5cOf(l)}, payload, TypeReceipt)
		}},
		{name: "no trusted CAs given", nilRoots: true, want: "roots is nil",
			compact: func(t *testing.T) string { return good }},
		{name: "alg none", want: `alg "none" is refused`, compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "none", "typ": TypeReceipt, "x5c": x5c}, payload, nil)
		}},
		{name: "HS256 keyed with the serving certificate's public key (DER)", want: `alg "HS256" is refused`, compact: func(t *testing.T) string {
			h := map[string]any{"alg": "HS256", "typ": TypeReceipt, "x5c": x5c}
			in := signingInput(h, payload)
			mac := hmac.New(sha256.New, leaf.RawSubjectPublicKeyInfo)
			mac.Write([]byte(in))
			return in + "." + b64(mac.Sum(nil))
		}},
		{name: "HS256 keyed with the serving certificate's public key (PEM)", want: `alg "HS256" is refused`, compact: func(t *testing.T) string {
			h := map[string]any{"alg": "HS256", "typ": TypeReceipt, "x5c": x5c}
			in := signingInput(h, payload)
			mac := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: leaf.RawSubjectPublicKeyInfo}))
			mac.Write([]byte(in))
			return in + "." + b64(mac.Sum(nil))
		}},
		{name: "RS256", want: `alg "RS256" is refused`, compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "RS256", "typ": TypeReceipt, "x5c": x5c}, payload, []byte("sig"))
		}},
		{name: "ES384 on a P-256 key", want: "alg ES384 does not match", compact: func(t *testing.T) string {
			h := map[string]any{"alg": "ES384", "typ": TypeReceipt, "x5c": x5c}
			in := signingInput(h, payload)
			digest := sha512.Sum384([]byte(in))
			rr, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			sig := make([]byte, 64)
			rr.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
			return in + "." + b64(sig)
		}},
		{name: "typ of a trust bundle", want: `typ is "cybercoop-trust-bundle+jws"`, compact: func(t *testing.T) string {
			tb, err := s.SignTrustBundle(TrustBundle{Country: "VN", Bundle: pemOf(ca.cert), Issued: testNow})
			if err != nil {
				t.Fatal(err)
			}
			return tb
		}},
		{name: "receipt payload signed with the trust bundle typ", want: "typ is", compact: func(t *testing.T) string {
			return signRaw(t, s, payload, TypeTrustBundle)
		}},
		{name: "no typ", want: `typ is ""`, compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "ES256", "x5c": x5c}, payload, []byte("sig"))
		}},
		{name: "no x5c", want: "no x5c", compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "ES256", "typ": TypeReceipt}, payload, []byte("sig"))
		}},
		{name: "embedded jwk header", want: `unknown field "jwk"`, compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "ES256", "typ": TypeReceipt, "x5c": x5c, "jwk": map[string]any{"kty": "EC"}}, payload, []byte("sig"))
		}},
		{name: "crit header", want: `unknown field "crit"`, compact: func(t *testing.T) string {
			return forge(map[string]any{"alg": "ES256", "typ": TypeReceipt, "x5c": x5c, "crit": []string{"exp"}}, payload, []byte("sig"))
		}},
		{name: "alg named twice", want: `"alg" appears twice`, compact: func(t *testing.T) string {
			raw := []byte(`{"alg":"ES256","typ":"` + TypeReceipt + `","x5c":["` + x5c[0] + `"],"alg":"none"}`)
			return b64(raw) + "." + parts[1] + "." + parts[2]
		}},
		{name: "header is not base64url", want: "characters outside base64url", compact: func(t *testing.T) string {
			return "e30=." + parts[1] + "." + parts[2]
		}},
		{name: "signature with non-zero padding bits", want: "not canonical base64url", compact: func(t *testing.T) string {
			last := parts[2][len(parts[2])-1]
			// 64-byte signature: 86 characters, the last carrying 4 padding bits.
			alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			i := strings.IndexByte(alphabet, last)
			return parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[i^1])
		}},
		{name: "four segments", want: "4 dot-separated segments", compact: func(t *testing.T) string { return good + ".x" }},
		{name: "JSON serialisation instead of compact", want: "segments", compact: func(t *testing.T) string {
			return `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
		}},
		{name: "over a mebibyte", want: "over the 1048576-byte limit", compact: func(t *testing.T) string {
			return good + strings.Repeat("A", MaxCompactBytes)
		}},
		{name: "whitespace inside", want: "characters outside base64url", compact: func(t *testing.T) string {
			return parts[0] + ".\n" + parts[1] + "." + parts[2]
		}},
		{name: "payload with an unknown field", want: `unknown field "note"`, compact: func(t *testing.T) string {
			return signRaw(t, s, append(bytes.TrimSuffix(payload, []byte("}")), []byte(`,"note":"x"}`)...), TypeReceipt)
		}},
		{name: "payload naming a field twice", want: `"requestId" appears twice`, compact: func(t *testing.T) string {
			return signRaw(t, s, append(bytes.TrimSuffix(payload, []byte("}")), []byte(`,"requestId":"another"}`)...), TypeReceipt)
		}},
		{name: "payload with data after it", want: "data follows", compact: func(t *testing.T) string {
			return signRaw(t, s, append(bytes.Clone(payload), []byte(` {}`)...), TypeReceipt)
		}},
		{name: "payload that is not an object", want: "not the expected JSON", compact: func(t *testing.T) string {
			return signRaw(t, s, []byte(`["a"]`), TypeReceipt)
		}},
		{name: "payload null", want: "requestId: is missing", compact: func(t *testing.T) string {
			return signRaw(t, s, []byte(`null`), TypeReceipt)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roots, name, now := ca.pool(), gatewayName, testNow
			if tc.nilRoots {
				roots = nil
			}
			if tc.serverName != "" {
				name = tc.serverName
			}
			if !tc.now.IsZero() {
				now = tc.now
			}
			compact := tc.compact(t)
			got, signer, err := Verify(compact, roots, name, now)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", got)
			}
			if got != nil || signer != nil {
				t.Errorf("Verify returned a receipt or certificate with its error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			checkNoLeak(t, err, r)
		})
	}
}

// A receipt is refused whenever its content or its custody proof is wrong,
// and Sign refuses to sign it in the first place.
func TestVerifyRefusesContent(t *testing.T) {
	tv := openVault(t)
	ca := newCA(t, "VN")
	s := ca.signer(t, elliptic.P256())
	base := tv.receipt(t)
	if _, err := s.Sign(base); err != nil {
		t.Fatal(err)
	}
	requestCustody := base.Custody
	otherCustody := tv.custody(t, tv.other.Sequence)

	// Another vault, one entry longer, with its own key.
	tv2 := openVault(t)
	tv2.ingest(t, []byte("a fourth object"))
	foreignCustody := tv2.custody(t, tv.request.Sequence)

	// The vault's checkpoint, signed by another key of the same name.
	skey, _, err := vault.GenerateSigningKey("cybercoop-vault")
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := vault.LoadSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := vault.OpenCheckpoint([]byte(requestCustody.Checkpoint), requestCustody.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	resigned, err := note.Sign(&note.Note{Text: cp.Text()}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}

	// A hold on the request's object: an entry about it that is not its ingest.
	hold, err := tv.v.Hold(vaultActor, tv.request.Digest, "VN/HOLD/1", "UNCC art. 25")
	if err != nil {
		t.Fatal(err)
	}
	holdCustody := tv.custody(t, hold.Seq)

	for _, tc := range []struct {
		name   string
		change func(r *Receipt)
		want   string
	}{
		{"wrong sequence", func(r *Receipt) { r.Custody.Sequence++ }, "inclusionProof does not prove custody.entry is entry 2"},
		{"sequence beyond the checkpoint", func(r *Receipt) { r.Custody.Sequence = 1000 }, "outside the checkpoint"},
		{"no sequence", func(r *Receipt) { r.Custody.Sequence = 0 }, "custody.sequence: is missing"},
		{"proof for another entry", func(r *Receipt) { r.Custody.InclusionProof = otherCustody.InclusionProof }, "inclusionProof does not prove"},
		{"another entry's line", func(r *Receipt) { r.Custody.Entry = otherCustody.Entry }, "inclusionProof does not prove"},
		{"no proof", func(r *Receipt) { r.Custody.InclusionProof = nil }, "inclusionProof does not prove"},
		{"proof hash of the wrong length", func(r *Receipt) {
			r.Custody.InclusionProof = append([][]byte{[]byte("short")}, r.Custody.InclusionProof[1:]...)
		}, "custody.inclusionProof[0]: 5 bytes"},
		{"proof too long", func(r *Receipt) { r.Custody.InclusionProof = make([][]byte, 65) }, "at most 64"},
		{"entry of another object, with its own valid proof", func(r *Receipt) { r.Custody = otherCustody }, "not of the request"},
		{"entry that is not an ingest", func(r *Receipt) { r.Custody = holdCustody }, `records "hold", not an ingest`},
		{"checkpoint signed by another key", func(r *Receipt) { r.Custody.Checkpoint = string(resigned) }, "does not open with custody.verifierKey"},
		{"verifier key of another vault", func(r *Receipt) { r.Custody.VerifierKey = foreignCustody.VerifierKey }, "does not open with custody.verifierKey"},
		{"checkpoint and key of another vault", func(r *Receipt) {
			r.Custody.Checkpoint, r.Custody.VerifierKey = foreignCustody.Checkpoint, foreignCustody.VerifierKey
		}, "inclusionProof does not prove"},
		{"checkpoint that is not a signed note", func(r *Receipt) { r.Custody.Checkpoint = "cybercoop-vault\n3\n" }, "does not open"},
		{"no checkpoint", func(r *Receipt) { r.Custody.Checkpoint = "" }, "custody.checkpoint: is missing"},
		{"verifier key that is not one", func(r *Receipt) { r.Custody.VerifierKey = "not a key" }, "does not open"},
		{"no entry", func(r *Receipt) { r.Custody.Entry = nil }, "custody.entry: is missing"},
		{"digest of another request", func(r *Receipt) { r.Digest = string(tv.other.Digest) }, "not of the request"},
		{"digest that is not a digest", func(r *Receipt) { r.Digest = "md5:0123" }, "digest:"},
		{"channel that is not from-to", func(r *Receipt) { r.Channel = "FR-BR" }, `channel: "FR-BR" is not "FR-VN"`},
		{"party that is neither a State nor a provider", func(r *Receipt) { r.From, r.Channel = "Fra", "Fra-VN" }, `from: "Fra" is neither an ISO 3166-1 alpha-2 code`},
		{"provider identifier ending in a hyphen", func(r *Receipt) { r.To, r.Channel = "mail-", "FR-mail-" }, `to: "mail-" is neither`},
		{"no request id", func(r *Receipt) { r.RequestID = "" }, "requestId: is missing"},
		{"request id with a control character", func(r *Receipt) { r.RequestID = "req\n1" }, "requestId: contains the control character"},
		{"request id too long", func(r *Receipt) { r.RequestID = strings.Repeat("x", 257) }, "requestId: 257 bytes"},
		{"no type", func(r *Receipt) { r.Type = "" }, "type: is missing"},
		{"no received time", func(r *Receipt) { r.Received = time.Time{} }, "received: is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			r.Custody.InclusionProof = append([][]byte(nil), base.Custody.InclusionProof...)
			tc.change(&r)
			if _, err := s.Sign(r); err == nil {
				t.Error("Sign signed it")
			} else if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Sign: error %q does not say %q", err, tc.want)
			}
			_, _, err := Verify(signRaw(t, s, r, TypeReceipt), ca.pool(), gatewayName, testNow)
			if err == nil {
				t.Fatal("Verify accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: error %q does not say %q", err, tc.want)
			}
			checkNoLeak(t, err, base)
		})
	}
}

// checkNoLeak fails if err quotes the custody proof's bulk or a private key.
func checkNoLeak(t *testing.T, err error, r Receipt) {
	t.Helper()
	msg := err.Error()
	for _, secret := range []string{
		"PRIVATE",
		r.Custody.Checkpoint,
		base64.StdEncoding.EncodeToString(r.Custody.Entry),
		string(r.Custody.Entry),
	} {
		if secret != "" && strings.Contains(msg, secret) {
			t.Errorf("error %q quotes what it should not", msg)
		}
	}
	if len(msg) > 1000 {
		t.Errorf("error is %d bytes long", len(msg))
	}
}

func TestNewSignerRefuses(t *testing.T) {
	ca := newCA(t, "VN")
	leaf, key := ca.issue(t, elliptic.P256())
	other := newCA(t, "VN")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521Leaf, p521Key := ca.issue(t, elliptic.P521())
	clientLeaf, clientKey := ca.issue(t, elliptic.P256(), func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })
	encLeaf, encKey := ca.issue(t, elliptic.P256(), func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
	_, anotherKey := ca.issue(t, elliptic.P256())

	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		chain []*x509.Certificate
		want  string
	}{
		{"no key", nil, []*x509.Certificate{leaf}, "no serving key"},
		{"RSA key", rsaKey, []*x509.Certificate{leaf}, "not ECDSA"},
		{"Ed25519 key", edKey, []*x509.Certificate{leaf}, "not ECDSA"},
		{"P-521 key", p521Key, []*x509.Certificate{p521Leaf}, "P-521, not P-256 or P-384"},
		{"key of another certificate", anotherKey, []*x509.Certificate{leaf}, "not the key of chain[0]"},
		{"CA first", key, []*x509.Certificate{ca.cert, leaf}, "not the key of chain[0]"},
		{"no chain", key, nil, "no certificate chain"},
		{"nil in the chain", key, []*x509.Certificate{leaf, nil}, "nil certificate"},
		{"chain to a CA that did not sign the leaf", key, []*x509.Certificate{leaf, other.cert}, "chain[0]"},
		{"client certificate", clientKey, []*x509.Certificate{clientLeaf}, "serverAuth"},
		{"certificate without digitalSignature", encKey, []*x509.Certificate{encLeaf}, "digitalSignature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.key, tc.chain)
			if err == nil {
				t.Fatalf("NewSigner accepted it: %+v", s)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, k := range []any{key, rsaKey, edKey, p521Key, anotherKey} {
				der, _ := x509.MarshalPKCS8PrivateKey(k)
				if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(der)) {
					t.Errorf("error quotes a private key")
				}
			}
			raw, _ := key.Bytes()
			if strings.Contains(err.Error(), hex.EncodeToString(raw)) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(raw)) {
				t.Errorf("error quotes a private key")
			}
		})
	}
}

// TestVerifyRefusesTheFuture: a receipt or a status update dated beyond the
// clocks' tolerance would move the deadline its sender counts; both are refused,
// one a little ahead is not.
func TestVerifyRefusesTheFuture(t *testing.T) {
	tv := openVault(t)
	ca := newCA(t, "VN")
	s := ca.signer(t, elliptic.P256())
	base := tv.receipt(t)
	for _, tc := range []struct {
		name  string
		ahead time.Duration
		ok    bool
	}{{"a minute ahead", time.Minute, true}, {"an hour ahead", time.Hour, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			r.Received = testNow.Add(tc.ahead)
			compact, err := s.Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Verify(compact, ca.pool(), gatewayName, testNow)
			if tc.ok != (err == nil) || (!tc.ok && !strings.Contains(err.Error(), "received: ")) {
				t.Fatalf("receipt received %s ahead: %v", tc.ahead, err)
			}

			tr := cases.Transition{RequestID: r.RequestID, Sequence: 1, Action: cases.Acknowledge, By: cases.Requested,
				From: cases.Received, To: cases.Acknowledged, Time: testNow.Add(tc.ahead)}
			doc, err := tr.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			recorded := tv.ingest(t, doc)
			sum := sha256.Sum256(doc)
			u := StatusUpdate{RequestID: r.RequestID, Reference: r.Reference, Type: r.Type, Channel: r.Channel, From: r.From, To: r.To,
				Transition: tr, Digest: "sha256:" + hex.EncodeToString(sum[:]), Custody: tv.custody(t, recorded.Sequence)}
			compact, err = s.SignUpdate(u)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = VerifyUpdate(compact, ca.pool(), gatewayName, testNow)
			if tc.ok != (err == nil) || (!tc.ok && !strings.Contains(err.Error(), "transition.time: ")) {
				t.Fatalf("update dated %s ahead: %v", tc.ahead, err)
			}
		})
	}
}
