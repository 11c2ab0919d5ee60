package requests

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// removeAt deletes the member or list item at a JSON Pointer in doc.
func removeAt(tb testing.TB, doc map[string]any, pointer string) {
	tb.Helper()
	tokens := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	var parent any = doc
	for _, tok := range tokens[:len(tokens)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[tok]
		case []any:
			i, _ := strconv.Atoi(tok)
			parent = p[i]
		}
	}
	last := tokens[len(tokens)-1]
	obj, ok := parent.(map[string]any)
	if _, present := obj[last]; !ok || !present {
		tb.Fatalf("the example has nothing at %s", pointer)
	}
	delete(obj, last)
}

// requiredAbsence is one required field taken out of a valid example, and
// the field errors that must come back: by default exactly one, "is
// required" at the field's own pointer.
type requiredAbsence struct {
	remove []string
	want   []FieldError
}

func isRequired(pointer string) requiredAbsence {
	return requiredAbsence{remove: []string{pointer}, want: []FieldError{{pointer, "is required"}}}
}

// The required fields of the request types added for content removal and
// assets, at every level of their examples.
var requiredAbsences = map[Type][]requiredAbsence{
	ContentRemoval: {
		{remove: []string{"/type"}, want: []FieldError{{"/type", "is required: the request type, one of " + typeList()}}},
		isRequired("/schemaVersion"),
		isRequired("/reference"),
		isRequired("/date"),
		isRequired("/requestingAuthority"),
		isRequired("/requestingAuthority/email"),
		isRequired("/offenceCategory"),
		isRequired("/locators"),
		isRequired("/legalBasis"),
		isRequired("/factsSummary"),
		isRequired("/victimProtection"),
		isRequired("/victimProtection/victimIsMinor"),
		isRequired("/victimProtection/victimIdentityWithheld"),
		isRequired("/victimProtection/doNotNotifyUploader"),
		isRequired("/preserveBeforeRemoval"),
		isRequired("/hashes/0/algorithm"),
		isRequired("/hashes/0/value"),
		isRequired("/custodian/name"),
		{remove: []string{"/locators/0/url"}, want: []FieldError{{"/locators/0", "needs a url, or a platform and an itemIdentifier"}}},
		{remove: []string{"/locators/2/itemIdentifier"}, want: []FieldError{{"/locators/2/itemIdentifier", "is required when platform is present"}}},
		{remove: []string{"/locators/3/platform"}, want: []FieldError{{"/locators/3/platform", "is required when itemIdentifier is present"}}},
	},
	AssetTracing: {
		{remove: []string{"/type"}, want: []FieldError{{"/type", "is required: the request type, one of " + typeList()}}},
		isRequired("/schemaVersion"),
		isRequired("/reference"),
		isRequired("/date"),
		isRequired("/requestingAuthority"),
		isRequired("/requestingAuthority/timeZone"),
		isRequired("/assets"),
		isRequired("/order"),
		isRequired("/order/reference"),
		isRequired("/order/authority"),
		isRequired("/order/authority/type"),
		isRequired("/offence"),
		isRequired("/offence/legalProvision"),
		isRequired("/factsSummary"),
		isRequired("/informationSought"),
		isRequired("/legalBasis"),
		isRequired("/confidentiality"),
		isRequired("/confidentiality/doNotNotifyUser"),
		{remove: []string{"/urgencyReason"}, want: []FieldError{{"/urgencyReason", "is required when urgency is Urgent or Emergency"}}},
		isRequired("/assets/0/virtualAssetAddress/network"),
		isRequired("/assets/0/virtualAssetAddress/address"),
		isRequired("/assets/0/virtualAssetAddress/amount/value"),
		isRequired("/assets/0/virtualAssetAddress/amount/ticker"),
		isRequired("/period/to"),
		{remove: []string{"/assets/0/virtualAssetAddress"}, want: []FieldError{{"/assets/0", "needs exactly one of bankAccount and virtualAssetAddress"}}},
		{remove: []string{"/assets/2/bankAccount/accountNumber"}, want: []FieldError{{"/assets/2/bankAccount", "needs exactly one of iban and accountNumber"}}},
		{remove: []string{"/assets/2/bankAccount/institution", "/assets/2/bankAccount/bic"},
			want: []FieldError{{"/assets/2/bankAccount", "needs institution or bic when the account is given by accountNumber"}}},
	},
	AssetFreezing: {
		{remove: []string{"/type"}, want: []FieldError{{"/type", "is required: the request type, one of " + typeList()}}},
		isRequired("/schemaVersion"),
		isRequired("/reference"),
		isRequired("/date"),
		isRequired("/requestingAuthority"),
		isRequired("/requestingAuthority/phone"),
		isRequired("/assets"),
		isRequired("/order"),
		isRequired("/order/reference"),
		isRequired("/order/authority"),
		isRequired("/order/authority/name"),
		{remove: []string{"/order/expiry"}, want: []FieldError{{"/order/expiry", "is required: an asset-freezing request must say when its freezing order ends"}}},
		isRequired("/offence"),
		isRequired("/offence/description"),
		isRequired("/factsSummary"),
		isRequired("/legalBasis"),
		isRequired("/confidentiality"),
		{remove: []string{"/urgencyReason"}, want: []FieldError{{"/urgencyReason", "is required when urgency is Urgent or Emergency"}}},
		isRequired("/assets/1/virtualAssetAddress/network"),
		isRequired("/assets/1/virtualAssetAddress/address"),
		isRequired("/assets/2/bankAccount/amount/currency"),
		isRequired("/assets/3/bankAccount/amount/value"),
		{remove: []string{"/assets/3/bankAccount/iban"}, want: []FieldError{{"/assets/3/bankAccount", "needs exactly one of iban and accountNumber"}}},
		{remove: []string{"/assets/3/bankAccount"}, want: []FieldError{{"/assets/3", "needs exactly one of bankAccount and virtualAssetAddress"}}},
	},
}

// Each required field's absence is refused with its JSON Pointer, and with
// nothing else: the rest of the example is valid.
func TestParseRefusesEachMissingRequiredField(t *testing.T) {
	for typ, cases := range requiredAbsences {
		for _, c := range cases {
			t.Run(string(typ)+strings.Join(c.remove, "+"), func(t *testing.T) {
				doc := exampleDoc(t, typ)
				for _, p := range c.remove {
					removeAt(t, doc, p)
				}
				req, fields, err := Parse(marshal(t, doc), testNow)
				if err != nil || req != nil {
					t.Fatalf("Parse accepted: %v, error: %v; want field errors", req != nil, err)
				}
				if !reflect.DeepEqual(fields, c.want) {
					t.Errorf("field errors:\n%s\nwant:\n%s", lines(fields), lines(c.want))
				}
			})
		}
	}
}

// The table above cannot fall behind the schemas: every top-level required
// field of each type has its case.
func TestRequiredAbsencesCoverTheSchemas(t *testing.T) {
	for typ, cases := range requiredAbsences {
		b, _ := Schema(typ)
		var doc struct {
			Required []string `json:"required"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, name := range doc.Required {
			if !slices.ContainsFunc(cases, func(c requiredAbsence) bool { return slices.Equal(c.remove, []string{"/" + name}) }) {
				t.Errorf("%s: no case removes the required field %s", typ, name)
			}
		}
	}
}
