package receipt

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

const bundleMaxAge = 24 * time.Hour

// During a CA key replacement the gateway publishes old and new CA, signed
// with its serving certificate from the old CA, which the peer trusts; the
// peer learns the new CA from it.
func TestTrustBundleRoundTrip(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			oldCA, newCA := newCA(t, "VN"), newCA(t, "VN")
			s := oldCA.signer(t, curve)
			b := TrustBundle{Country: "VN", Bundle: pemOf(oldCA.cert, newCA.cert), Issued: testNow.Add(-time.Hour)}
			compact, err := s.SignTrustBundle(b)
			if err != nil {
				t.Fatal(err)
			}
			got, certs, err := VerifyTrustBundle(compact, oldCA.pool(), "VN", gatewayName, testNow, bundleMaxAge)
			if err != nil {
				t.Fatal(err)
			}
			if got.Country != b.Country || got.Bundle != b.Bundle || !got.Issued.Equal(b.Issued) {
				t.Errorf("bundle changed in transit: %+v", got)
			}
			if len(certs) != 2 || !certs[0].Equal(oldCA.cert) || !certs[1].Equal(newCA.cert) {
				t.Errorf("got %d certificates, want the old and the new CA in that order", len(certs))
			}
			// A peer that does not trust the old CA learns nothing from it.
			if _, _, err := VerifyTrustBundle(compact, newCA.pool(), "VN", gatewayName, testNow, bundleMaxAge); err == nil ||
				!strings.Contains(err.Error(), "does not verify to the trusted CAs") {
				t.Errorf("a bundle signed under an untrusted CA: error %v", err)
			}
		})
	}
}

func TestVerifyTrustBundleRefuses(t *testing.T) {
	tv := openVault(t)
	ca := newCA(t, "VN")
	s := ca.signer(t, elliptic.P256())
	good := TrustBundle{Country: "VN", Bundle: pemOf(ca.cert), Issued: testNow.Add(-time.Hour)}
	leaf, _ := ca.issue(t, elliptic.P256())

	receipt, err := s.Sign(tv.receipt(t))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(b TrustBundle) func(t *testing.T) string {
		return func(t *testing.T) string { return signRaw(t, s, b, TypeTrustBundle) }
	}
	with := func(change func(b *TrustBundle)) TrustBundle {
		b := good
		change(&b)
		return b
	}

	for _, tc := range []struct {
		name            string
		compact         func(t *testing.T) string
		expectedCountry string        // default "VN"
		serverName      string        // default gatewayName
		now             time.Time     // default testNow
		maxAge          time.Duration // default bundleMaxAge
		want            string
	}{
		{name: "stale bundle (a replay)", compact: sign(with(func(b *TrustBundle) { b.Issued = testNow.Add(-25 * time.Hour) })),
			want: "more than 24h0m0s before now"},
		{name: "the same bundle verified too late", compact: sign(good), now: testNow.Add(bundleMaxAge),
			want: "stale or replayed"},
		{name: "bundle from the future", compact: sign(with(func(b *TrustBundle) { b.Issued = testNow.Add(time.Hour) })),
			want: "after now"},
		{name: "no issue time", compact: sign(with(func(b *TrustBundle) { b.Issued = time.Time{} })), want: "issued: is missing"},
		{name: "another State's bundle", compact: sign(good), expectedCountry: "FR", want: `country is "VN", expected "FR"`},
		{name: "expected country that is not one", compact: sign(good), expectedCountry: "France", want: `"France" is neither an ISO 3166-1 alpha-2 code`},
		{name: "non-positive maximum age", compact: sign(good), maxAge: -time.Second, want: "is not positive"},
		{name: "a serving certificate in the bundle", compact: sign(with(func(b *TrustBundle) { b.Bundle = pemOf(ca.cert, leaf) })),
			want: "certificate 1 \"CN=gateway.vn.example\""},
		{name: "a CA certificate that may not sign certificates", compact: sign(with(func(b *TrustBundle) {
			b.Bundle = pemOf(newCA(t, "VN", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }).cert)
		})), want: "no keyCertSign"},
		{name: "an expired CA", compact: sign(with(func(b *TrustBundle) {
			b.Bundle = pemOf(ca.cert, newCA(t, "VN", func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = testNow.Add(-48*time.Hour), testNow.Add(-time.Hour)
			}).cert)
		})), want: "certificate 1"},
		{name: "a private key in the bundle", compact: sign(with(func(b *TrustBundle) {
			b.Bundle = pemOf(ca.cert) + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("not really a key")}))
		})), want: `PEM block 1 is "EC PRIVATE KEY", not CERTIFICATE`},
		{name: "text between certificates", compact: sign(with(func(b *TrustBundle) { b.Bundle = pemOf(ca.cert) + "subject=CN=x\n" + pemOf(ca.cert) })),
			want: "text that is not a PEM block after certificate 1"},
		{name: "a malformed block before a good one", compact: sign(with(func(b *TrustBundle) {
			b.Bundle = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n" + pemOf(ca.cert)
		})), want: "PEM block 0 is malformed"},
		{name: "a certificate that does not parse", compact: sign(with(func(b *TrustBundle) {
			b.Bundle = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}))
		})), want: "certificate 0 does not parse"},
		{name: "an empty bundle", compact: sign(with(func(b *TrustBundle) { b.Bundle = "\n" })), want: "bundle: is empty"},
		{name: "too many certificates", compact: sign(with(func(b *TrustBundle) { b.Bundle = strings.Repeat(pemOf(ca.cert), 17) })),
			want: "more than 16 certificates"},
		{name: "a receipt offered as a trust bundle", compact: func(t *testing.T) string { return receipt },
			want: `typ is "cybercoop-receipt+jws", expected "cybercoop-trust-bundle+jws"`},
		{name: "a bundle signed with the receipt typ", compact: func(t *testing.T) string { return signRaw(t, s, good, TypeReceipt) },
			want: "typ is"},
		{name: "signed under another CA", compact: func(t *testing.T) string {
			return signRaw(t, newCA(t, "VN").signer(t, elliptic.P256()), good, TypeTrustBundle)
		}, want: "does not verify to the trusted CAs"},
		{name: "wrong server name", compact: sign(good), serverName: "gateway.fr.example", want: "not valid for server name"},
		{name: "unknown field", compact: func(t *testing.T) string {
			return signRaw(t, s, map[string]any{"country": "VN", "bundle": good.Bundle, "issued": good.Issued, "ca": true}, TypeTrustBundle)
		}, want: `unknown field "ca"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			country, name, now, maxAge := "VN", gatewayName, testNow, bundleMaxAge
			if tc.expectedCountry != "" {
				country = tc.expectedCountry
			}
			if tc.serverName != "" {
				name = tc.serverName
			}
			if !tc.now.IsZero() {
				now = tc.now
			}
			if tc.maxAge != 0 {
				maxAge = tc.maxAge
			}
			got, certs, err := VerifyTrustBundle(tc.compact(t), ca.pool(), country, name, now, maxAge)
			if err == nil {
				t.Fatalf("VerifyTrustBundle accepted it: %+v", got)
			}
			if got != nil || certs != nil {
				t.Error("VerifyTrustBundle returned a bundle or certificates with its error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("not really a key"))) {
				t.Errorf("error %q quotes a private key block", err)
			}
		})
	}
}

// SignTrustBundle refuses what no verifier would accept, whatever the time.
func TestSignTrustBundleRefuses(t *testing.T) {
	ca := newCA(t, "VN")
	s := ca.signer(t, elliptic.P256())
	leaf, _ := ca.issue(t, elliptic.P256())
	for _, tc := range []struct {
		name string
		b    TrustBundle
		want string
	}{
		{"country that is not alpha-2", TrustBundle{Country: "vn", Bundle: pemOf(ca.cert), Issued: testNow}, "not an ISO 3166-1 alpha-2 code"},
		{"no issue time", TrustBundle{Country: "VN", Bundle: pemOf(ca.cert)}, "issued: is missing"},
		{"serving certificate", TrustBundle{Country: "VN", Bundle: pemOf(leaf), Issued: testNow}, "not a CA certificate"},
		{"empty", TrustBundle{Country: "VN", Issued: testNow}, "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.SignTrustBundle(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v does not say %q", err, tc.want)
			}
		})
	}
}
