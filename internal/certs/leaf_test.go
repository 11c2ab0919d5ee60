package certs

import (
	"testing"

	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

func TestTampered(t *testing.T) {
	for _, tc := range []struct {
		name             string
		reason           pki.Reason
		issuedGen, caGen int64
		want             bool
	}{
		{"garbled data", pki.ReasonInvalid, 1, 1, true},
		{"key swapped", pki.ReasonKeyMismatch, 1, 1, true},
		{"another CA's certificate under this generation", pki.ReasonNotSignedByCurrentCA, 2, 2, true},
		{"a leaf recorded without generation but signed by another CA", pki.ReasonNotSignedByCurrentCA, 0, 0, true},
		{"an older generation's leaf during a key replacement", pki.ReasonNotSignedByCurrentCA, 1, 2, false},
		{"renewal due", pki.ReasonRenewalDue, 1, 1, false},
		{"missing", pki.ReasonMissing, 0, 1, false},
		{"force renew", pki.ReasonForceRenew, 1, 1, false},
		{"names changed", pki.ReasonNamesChanged, 1, 1, false},
		{"expired", pki.ReasonExpired, 1, 1, false},
	} {
		if got := Tampered(tc.reason, tc.issuedGen, tc.caGen); got != tc.want {
			t.Errorf("%s: Tampered(%s, %d, %d) = %v, want %v", tc.name, tc.reason, tc.issuedGen, tc.caGen, got, tc.want)
		}
	}
}
