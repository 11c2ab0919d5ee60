package requests

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

// blob is what a sender would paste if it tried to send the material itself:
// base64 of a few hundred bytes (a real image is far longer).
var blob = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 20)))

// mimeWrapped is blob as email and PEM write it: lines of 76 characters.
func mimeWrapped(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// prose is n characters of ordinary text.
func prose(n int) string {
	return strings.Repeat("The files remain reachable at the locators given. ", n/50+1)[:n]
}

func locator(doc map[string]any, i int) map[string]any {
	return doc["locators"].([]any)[i].(map[string]any)
}

func hash(doc map[string]any, i int) map[string]any {
	return doc["hashes"].([]any)[i].(map[string]any)
}

const (
	dataURLMessage  = "must not be a data: URL: it would carry the material itself; give the URL where the material is hosted"
	urlRunMessage   = "must not contain a run of 256 or more letters, digits or + / = _ - (encoded content): give the item's canonical URL"
	textRunMessage  = "must not contain a run of 100 or more letters, digits or + / = _ - (encoded content): the material itself is never sent, only where it is and its hashes"
	httpURLMessage  = "must be an http or https URL without spaces (pattern ^[hH][tT][tT][pP][sS]?://[^\\s\\x00-\\x1F\\x7F]+$)"
	locatorFields   = "is not a field of locators items; its fields are itemIdentifier, platform, url"
	notContentField = "is not a field of ContentRemoval requests"
)

// A content-removal request carries where the material is and its hashes,
// never the material: no data: URL, no encoded blob in any field, no field
// the schema does not name, no free text long enough to hide it in.
func TestContentRemovalRefusesEmbeddedMedia(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(doc map[string]any)
		want   []FieldError
	}{{
		name:   "data: URL locator",
		mutate: func(doc map[string]any) { locator(doc, 0)["url"] = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==" },
		want:   []FieldError{{"/locators/0/url", dataURLMessage}},
	}, {
		name:   "data: URL in capitals after a space",
		mutate: func(doc map[string]any) { locator(doc, 1)["url"] = " DATA:video/mp4,AAAAIGZ0eXBpc29t" },
		want:   []FieldError{{"/locators/1/url", dataURLMessage}},
	}, {
		name:   "data: URL carrying a blob",
		mutate: func(doc map[string]any) { locator(doc, 0)["url"] = "data:image/jpeg;base64," + blob },
		want:   []FieldError{{"/locators/0/url", dataURLMessage}, {"/locators/0/url", urlRunMessage}},
	}, {
		name: "blob in an https URL's query",
		mutate: func(doc map[string]any) {
			locator(doc, 0)["url"] = "https://files.partage-rapide.example/view?img=" + blob
		},
		want: []FieldError{{"/locators/0/url", urlRunMessage}},
	}, {
		name: "other schemes",
		mutate: func(doc map[string]any) {
			locator(doc, 0)["url"] = "ftp://files.partage-rapide.example/f/7Qm2vX9aLp"
			locator(doc, 1)["url"] = "blob:https://files.partage-rapide.example/9c41e7a2"
			locator(doc, 3)["url"] = "javascript:alert(1)"
		},
		want: []FieldError{{"/locators/0/url", httpURLMessage}, {"/locators/1/url", httpURLMessage}, {"/locators/3/url", httpURLMessage}},
	}, {
		name: "URL longer than 2048 characters",
		mutate: func(doc map[string]any) {
			locator(doc, 0)["url"] = "https://forum.example/t/88412?" + strings.Repeat("p.q&", 505)
		},
		want: []FieldError{{"/locators/0/url", "must be at most 2048 characters long"}},
	}, {
		name:   "base64 field in a locator",
		mutate: func(doc map[string]any) { locator(doc, 0)["content"] = blob },
		want:   []FieldError{{"/locators/0/content", locatorFields}},
	}, {
		name: "media object at the top level",
		mutate: func(doc map[string]any) {
			doc["attachments"] = []any{map[string]any{"mediaType": "image/jpeg", "data": blob}}
			doc["thumbnail"] = "data:image/png;base64," + blob
		},
		want: []FieldError{{"/attachments", notContentField}, {"/thumbnail", notContentField}},
	}, {
		name: "unknown properties carrying content in nested objects",
		mutate: func(doc map[string]any) {
			hash(doc, 0)["preview"] = blob
			at(doc, "victimProtection")["photo"] = blob
			at(doc, "custodian")["evidence"] = map[string]any{"base64": blob}
			at(doc, "requestingAuthority")["signature"] = blob
		},
		want: []FieldError{
			{"/custodian/evidence", "is not a field of custodian; its fields are country, location, name"},
			{"/hashes/0/preview", "is not a field of hashes items; its fields are algorithm, algorithmName, value"},
			{"/requestingAuthority/signature", "is not a field of requestingAuthority; its fields are email, officer, organisation, phone, preferredResponseChannel, timeZone"},
			{"/victimProtection/photo", "is not a field of victimProtection; its fields are doNotNotifyUploader, victimIdentityWithheld, victimIsMinor"},
		},
	}, {
		name: "base64 pasted into free text",
		mutate: func(doc map[string]any) {
			doc["factsSummary"] = "The image: " + blob[:300] + " (attached)."
			doc["legalBasis"] = "Section 16. " + mimeWrapped(blob[:400])
		},
		want: []FieldError{{"/factsSummary", textRunMessage}, {"/legalBasis", textRunMessage}},
	}, {
		name: "base64 in the free text of shared definitions",
		mutate: func(doc map[string]any) {
			at(doc, "custodian")["location"] = blob[:120]
			doc["authorisation"] = map[string]any{"reference": "KE-HC-2026-77", "authority": "High Court of Kenya", "expiry": "2027-01-01T00:00:00Z", "scope": "Removal. " + blob[:200]}
		},
		want: []FieldError{{"/authorisation/scope", textRunMessage}, {"/custodian/location", textRunMessage}},
	}, {
		name: "over-long free text",
		mutate: func(doc map[string]any) {
			doc["factsSummary"] = prose(1001)
			at(doc, "custodian")["location"] = prose(1500)
			doc["authorisation"] = map[string]any{"reference": "KE-HC-2026-77", "authority": "High Court of Kenya", "expiry": "2027-01-01T00:00:00Z", "scope": prose(3000)}
		},
		want: []FieldError{
			{"/authorisation/scope", "must be at most 1000 characters long"},
			{"/custodian/location", "must be at most 1000 characters long"},
			{"/factsSummary", "must be at most 1000 characters long"},
		},
	}, {
		name: "over-long hash and identifier",
		mutate: func(doc map[string]any) {
			hash(doc, 4)["value"] = strings.Repeat("Ab+/", 151)
			locator(doc, 2)["itemIdentifier"] = strings.Repeat("x", 129)
			locator(doc, 3)["platform"] = prose(129)
		},
		want: []FieldError{
			{"/hashes/4/value", "must be at most 600 characters long"},
			{"/locators/2/itemIdentifier", "must be at most 128 characters long"},
			{"/locators/3/platform", "must be at most 128 characters long"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := exampleDoc(t, ContentRemoval)
			c.mutate(doc)
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

func TestContentRemovalLocatorsAndHashes(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(doc map[string]any)
		want   []FieldError // nil: accepted
	}{{
		name: "a URL with a long but broken-up signed query is accepted",
		mutate: func(doc map[string]any) {
			locator(doc, 0)["url"] = "https://cdn.example/v/t1.6435-9/4521.jpg?" + strings.Repeat("_nc_sid=8bfeb9&oh=00_AfD4kQ&", 40)
		},
	}, {
		name:   "free text of 1000 characters is accepted",
		mutate: func(doc map[string]any) { doc["factsSummary"] = prose(1000) },
	}, {
		name: "every hash algorithm at its length",
		mutate: func(doc map[string]any) {
			doc["hashes"] = []any{
				map[string]any{"algorithm": "MD5", "value": strings.Repeat("a", 32)},
				map[string]any{"algorithm": "SHA1", "value": strings.Repeat("B", 40)},
				map[string]any{"algorithm": "SHA256", "value": strings.Repeat("c", 64)},
				map[string]any{"algorithm": "SHA512", "value": strings.Repeat("0", 128)},
				map[string]any{"algorithm": "PDQ", "value": strings.Repeat("f", 64)},
				map[string]any{"algorithm": "PhotoDNA", "value": strings.TrimSuffix(strings.Repeat("255,", 144), ",")},
				map[string]any{"algorithm": "Other", "algorithmName": "TMK+PDQF", "value": "tmk:" + strings.Repeat("9", 100)},
			}
		},
	}, {
		name: "hash values of the wrong form",
		mutate: func(doc map[string]any) {
			hash(doc, 0)["value"] = strings.Repeat("a", 63)
			hash(doc, 1)["value"] = strings.Repeat("g", 32)
			hash(doc, 3)["value"] = strings.Repeat("a", 32)
			hash(doc, 4)["value"] = "not a hash"
		},
		want: []FieldError{
			{"/hashes/0/value", "must be 64 hexadecimal digits for SHA256 (pattern ^[0-9A-Fa-f]{64}$)"},
			{"/hashes/1/value", "must be 32 hexadecimal digits for MD5 (pattern ^[0-9A-Fa-f]{32}$)"},
			{"/hashes/3/value", "must be 64 hexadecimal digits for PDQ (pattern ^[0-9A-Fa-f]{64}$)"},
			{"/hashes/4/value", "must be a hash value: letters, digits and + / = : , . _ - only (pattern ^[A-Za-z0-9+/=:,._-]+$)"},
		},
	}, {
		name: "algorithm names",
		mutate: func(doc map[string]any) {
			hash(doc, 0)["algorithm"] = "Other"
			hash(doc, 1)["algorithmName"] = "md5sum"
			hash(doc, 2)["algorithm"] = "sha256"
		},
		want: []FieldError{
			{"/hashes/0/algorithmName", "is required when algorithm is Other: name the hash algorithm"},
			{"/hashes/1/algorithmName", "is only allowed when algorithm is Other"},
			{"/hashes/2/algorithm", "must be one of MD5, SHA1, SHA256, SHA512, PDQ, PhotoDNA, Other"},
		},
	}, {
		name: "locators",
		mutate: func(doc map[string]any) {
			doc["locators"] = []any{map[string]any{}, map[string]any{"platform": "forum.example", "itemIdentifier": "post 88412"}}
			doc["offenceCategory"] = "Obscenity"
			doc["hashes"] = []any{}
		},
		want: []FieldError{
			{"/hashes", "must have at least one item"},
			{"/locators/0", "needs a url, or a platform and an itemIdentifier"},
			{"/locators/1/itemIdentifier", "must be an identifier without spaces or control characters (pattern ^[^\\s\\x00-\\x1F\\x7F]+$)"},
			{"/offenceCategory", "must be one of ChildSexualAbuseMaterial, ChildSolicitation, NonConsensualIntimateImages"},
		},
	}, {
		name:   "no locator",
		mutate: func(doc map[string]any) { doc["locators"] = []any{} },
		want:   []FieldError{{"/locators", "must have at least one item"}},
	}, {
		name: "too many locators",
		mutate: func(doc map[string]any) {
			many := make([]any, 101)
			for i := range many {
				many[i] = map[string]any{"url": "https://forum.example/t/" + strings.Repeat("1", i+1)}
			}
			doc["locators"] = many
		},
		want: []FieldError{{"/locators", "must have at most 100 items"}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := exampleDoc(t, ContentRemoval)
			c.mutate(doc)
			req, fields, err := Parse(marshal(t, doc), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if req == nil {
					t.Fatalf("refused:\n%s", lines(fields))
				}
				return
			}
			if req != nil || !reflect.DeepEqual(fields, c.want) {
				t.Errorf("field errors:\n%s\nwant:\n%s", lines(fields), lines(c.want))
			}
		})
	}
}
