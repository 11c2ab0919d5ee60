package v1alpha1

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"golang.org/x/text/language"
)

// TestCountryCodesAreISO3166 checks the CEL list of country codes in the generated
// CRD against the Unicode CLDR region data shipped in golang.org/x/text: every
// listed code must be a country there, and the list must hold the 249 codes
// officially assigned by ISO 3166-1.
func TestCountryCodesAreISO3166(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "cybercoop.io_focalpoints.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`self in \[((?:'[A-Z]{2}',?\s*)+)\]`).FindSubmatch(crd)
	if rule == nil {
		t.Fatal("country rule not found in the FocalPoint CRD")
	}
	codes := regexp.MustCompile(`'([A-Z]{2})'`).FindAllSubmatch(rule[1], -1)
	if len(codes) != 249 {
		t.Errorf("the rule lists %d codes, ISO 3166-1 assigns 249", len(codes))
	}
	seen := map[string]bool{}
	for _, m := range codes {
		code := string(m[1])
		if seen[code] {
			t.Errorf("%s listed twice", code)
		}
		seen[code] = true
		r, err := language.ParseRegion(code)
		if err != nil || !r.IsCountry() || r.String() != code {
			t.Errorf("%s is not a country code in CLDR", code)
		}
	}
	for _, notAState := range []string{"ZZ", "EU", "UN", "XK", "AA", "QO"} {
		if seen[notAState] {
			t.Errorf("%s is listed but is not an officially assigned country code", notAState)
		}
	}
}
