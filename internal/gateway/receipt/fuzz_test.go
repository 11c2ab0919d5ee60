package receipt

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary text to Verify and VerifyTrustBundle, both as
// the whole compact JWS and as a payload the gateway's own key signed, so
// that the strict decoding and the custody checks behind a good signature
// are reached too. Neither may panic, and nothing may verify as both a
// receipt and a trust bundle.
func FuzzVerify(f *testing.F) {
	tv := openVault(f)
	ca := newCA(f, "VN")
	s := ca.signer(f, elliptic.P384())
	r := tv.receipt(f)
	receipt, err := s.Sign(r)
	if err != nil {
		f.Fatal(err)
	}
	bundle, err := s.SignTrustBundle(TrustBundle{Country: "VN", Bundle: pemOf(ca.cert), Issued: testNow})
	if err != nil {
		f.Fatal(err)
	}
	payload, _ := json.Marshal(r)
	parts := strings.Split(receipt, ".")
	f.Add(receipt)
	f.Add(bundle)
	f.Add(string(payload))
	f.Add(`{"country":"VN","bundle":"","issued":"2031-03-01T09:00:00Z"}`)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"cybercoop-receipt+jws"}`)) + "." + parts[1] + ".")
	f.Add("..")
	f.Add("")

	roots := ca.pool()
	f.Fuzz(func(t *testing.T, input string) {
		verifyBoth(t, input, roots)
		if len(input) <= 64<<10 {
			signed, err := s.sign([]byte(input), TypeReceipt)
			if err != nil {
				t.Fatal(err)
			}
			verifyBoth(t, signed, roots)
			if signed, err = s.sign([]byte(input), TypeTrustBundle); err != nil {
				t.Fatal(err)
			}
			verifyBoth(t, signed, roots)
		}
	})
}

func verifyBoth(t *testing.T, compact string, roots *x509.CertPool) {
	r, leaf, rerr := Verify(compact, roots, gatewayName, testNow)
	if (rerr == nil) != (r != nil && leaf != nil) {
		t.Fatalf("Verify returned receipt %v, certificate %v and error %v", r != nil, leaf != nil, rerr)
	}
	b, certs, berr := VerifyTrustBundle(compact, roots, "VN", gatewayName, testNow, time.Hour)
	if (berr == nil) != (b != nil && len(certs) > 0) {
		t.Fatalf("VerifyTrustBundle returned bundle %v, %d certificates and error %v", b != nil, len(certs), berr)
	}
	if rerr == nil && berr == nil {
		t.Fatal("the same JWS verified as a receipt and as a trust bundle")
	}
}
