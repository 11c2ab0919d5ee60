package requests

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestParseAcceptsEveryExample(t *testing.T) {
	for _, typ := range Types {
		t.Run(string(typ), func(t *testing.T) {
			body := readExample(t, typ)
			req, fields, err := Parse(body, testNow)
			if err != nil || fields != nil || req == nil {
				t.Fatalf("Parse = %v, %v, %v; want a request", req, fields, err)
			}
			if req.Type != typ {
				t.Errorf("Type = %s, want %s", req.Type, typ)
			}
			doc := exampleDoc(t, typ)
			if req.Reference != doc["reference"] {
				t.Errorf("Reference = %q, want %q", req.Reference, doc["reference"])
			}
			canonical, err := Canonical(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(req.Canonical) != string(canonical) {
				t.Errorf("Canonical differs from Canonical(body)")
			}
			if req.Digest != sha256.Sum256(canonical) {
				t.Errorf("Digest is not the SHA-256 of Canonical")
			}
			auth, hasAuth := doc["authorisation"].(map[string]any)
			if Intrusive(typ) && !hasAuth {
				t.Fatalf("the example of an intrusive type has no authorisation")
			}
			if hasAuth {
				wantExpiry, _ := time.Parse(time.RFC3339, auth["expiry"].(string))
				if req.AuthorisationReference != auth["reference"] || !req.AuthorisationExpiry.Equal(wantExpiry) {
					t.Errorf("authorisation = %q %v, want %q %v", req.AuthorisationReference, req.AuthorisationExpiry, auth["reference"], wantExpiry)
				}
			} else if req.AuthorisationReference != "" || !req.AuthorisationExpiry.IsZero() {
				t.Errorf("authorisation = %q %v, want none", req.AuthorisationReference, req.AuthorisationExpiry)
			}
			order, hasOrder := doc["order"].(map[string]any)
			if hasOrder != restsOnOrder(typ) {
				t.Fatalf("the example has an order: %v, want %v", hasOrder, restsOnOrder(typ))
			}
			if hasOrder {
				wantExpiry, _ := time.Parse(time.RFC3339, order["expiry"].(string))
				if req.OrderReference != order["reference"] || wantExpiry.IsZero() || !req.OrderExpiry.Equal(wantExpiry) {
					t.Errorf("order = %q %v, want %q %v", req.OrderReference, req.OrderExpiry, order["reference"], wantExpiry)
				}
			} else if req.OrderReference != "" || !req.OrderExpiry.IsZero() {
				t.Errorf("order = %q %v, want none", req.OrderReference, req.OrderExpiry)
			}
		})
	}
}

func TestIntrusive(t *testing.T) {
	var intrusive []Type
	for _, typ := range Types {
		if Intrusive(typ) {
			intrusive = append(intrusive, typ)
		}
	}
	if want := []Type{StoredDataAccess, RealTimeTrafficData, Interception}; !slices.Equal(intrusive, want) {
		t.Errorf("intrusive types = %v, want %v", intrusive, want)
	}
	if Intrusive("Surveillance") {
		t.Error("an unknown type is intrusive")
	}
}

func TestParseReportsEveryFieldError(t *testing.T) {
	type mutate func(doc map[string]any)
	cases := []struct {
		name   string
		typ    Type
		mutate mutate
		want   []FieldError
	}{{
		name: "Extension without extends",
		typ:  Preservation,
		mutate: func(doc map[string]any) {
			doc["kind"] = "Extension"
		},
		want: []FieldError{{"/extends", "is required when kind is Extension: give the reference of the preservation request being extended"}},
	}, {
		name: "extends on a new preservation",
		typ:  Preservation,
		mutate: func(doc map[string]any) {
			doc["extends"] = "FR-OFAC-2026-00001"
		},
		want: []FieldError{{"/extends", "is only allowed when kind is Extension"}},
	}, {
		name: "intrusive type without authorisation",
		typ:  StoredDataAccess,
		mutate: func(doc map[string]any) {
			delete(doc, "authorisation")
		},
		want: []FieldError{{"/authorisation", "is required"}},
	}, {
		name: "expired authorisation",
		typ:  StoredDataAccess,
		mutate: func(doc map[string]any) {
			at(doc, "authorisation")["expiry"] = "2026-11-29T12:59:59+01:00"
		},
		want: []FieldError{{"/authorisation/expiry", "has passed: the authorisation must still be in force when the request is received"}},
	}, {
		name: "authorisation ending exactly now",
		typ:  StoredDataAccess,
		mutate: func(doc map[string]any) {
			at(doc, "authorisation")["expiry"] = "2026-11-29T12:00:00Z"
		},
		want: []FieldError{{"/authorisation/expiry", "has passed: the authorisation must still be in force when the request is received"}},
	}, {
		name: "expiry with a lower-case t and z",
		typ:  StoredDataAccess,
		mutate: func(doc map[string]any) {
			at(doc, "authorisation")["expiry"] = "2026-11-29t11:59:59z"
		},
		want: []FieldError{{"/authorisation/expiry", "has passed: the authorisation must still be in force when the request is received"}},
	}, {
		name: "expiry on a leap second",
		typ:  StoredDataAccess,
		mutate: func(doc map[string]any) {
			at(doc, "authorisation")["expiry"] = "2016-12-31T23:59:60Z"
		},
		want: []FieldError{{"/authorisation/expiry", "has passed: the authorisation must still be in force when the request is received"}},
	}, {
		name: "interception outlasting its authorisation",
		typ:  Interception,
		mutate: func(doc map[string]any) {
			at(doc, "period")["to"] = "2027-05-20T00:00:00-03:00"
		},
		want: []FieldError{{"/period/to", "is after the authorisation's expiry: the measure must end when the authorisation does, or before"}},
	}, {
		name: "real-time collection with an expired authorisation",
		typ:  RealTimeTrafficData,
		mutate: func(doc map[string]any) {
			at(doc, "authorisation")["expiry"] = "2026-11-29T12:00:00Z"
		},
		want: []FieldError{
			{"/authorisation/expiry", "has passed: the authorisation must still be in force when the request is received"},
			{"/period/to", "is after the authorisation's expiry: the measure must end when the authorisation does, or before"},
		},
	}, {
		name: "periods ending before they start",
		typ:  Preservation,
		mutate: func(doc map[string]any) {
			at(doc["dataToPreserve"].([]any)[2].(map[string]any), "period")["to"] = "2026-09-30T23:59:59+07:00"
			// The same instant in two offsets is not a reversed period.
			at(doc["dataToPreserve"].([]any)[1].(map[string]any), "period")["to"] = "2026-09-30T19:00:00+02:00"
		},
		want: []FieldError{{"/dataToPreserve/2/period/to", "is before from: a period must not end before it starts"}},
	}, {
		name: "authorisation without expiry or scope",
		typ:  Interception,
		mutate: func(doc map[string]any) {
			delete(at(doc, "authorisation"), "expiry")
			delete(at(doc, "authorisation"), "scope")
		},
		want: []FieldError{{"/authorisation/expiry", "is required"}, {"/authorisation/scope", "is required"}},
	}, {
		name: "many errors at once",
		typ:  Preservation,
		mutate: func(doc map[string]any) {
			doc["reference"] = "FR OFAC 417"
			doc["date"] = "27/11/2026"
			doc["urgency"] = "Immediate"
			doc["schemaVersion"] = json.Number("2")
			doc["mutualAssistanceToFollow"] = "yes"
			doc["comment"] = "not a field"
			delete(doc, "necessity")
			ra := at(doc, "requestingAuthority")
			ra["email"] = "permanence.ofac"
			ra["phone"] = "+33 1 99 00 12 34"
			delete(ra, "timeZone")
			item := doc["dataToPreserve"].([]any)[1].(map[string]any)
			item["identifiers"] = []any{}
			at(item, "period")["to"] = "2026-11-27"
			item["category"] = "Logs"
			at(doc, "custodian")["country"] = "Viet Nam"
			at(doc, "confidentiality")["notifyAfter"] = "2027-01-01"
		},
		want: []FieldError{
			{"/comment", "is not a field of Preservation requests"},
			{"/confidentiality/notifyAfter", "is not a field of confidentiality; its fields are doNotNotifyUser, explanation"},
			{"/custodian/country", "must be an ISO 3166-1 alpha-2 country code in capitals, e.g. FR (pattern ^[A-Z]{2}$)"},
			{"/custodian/country", "must be at most 2 characters long"},
			{"/dataToPreserve/1/category", "must be one of Subscriber, Traffic, Content, Other"},
			{"/dataToPreserve/1/identifiers", "must have at least one item"},
			{"/dataToPreserve/1/period/to", "must be an RFC 3339 date-time with a time zone offset, e.g. 2026-11-22T09:30:00Z"},
			{"/date", "must be a date in the form YYYY-MM-DD (RFC 3339 full-date)"},
			{"/mutualAssistanceToFollow", "must be true or false, not a string"},
			{"/necessity", "is required"},
			{"/reference", "must be 1 to 128 letters, digits or - _ . / : starting with a letter or a digit (pattern ^[A-Za-z0-9][A-Za-z0-9_./:-]{0,127}$)"},
			{"/requestingAuthority/email", "must be an email address"},
			{"/requestingAuthority/phone", "must be an E.164 telephone number: + then 7 to 15 digits, no spaces (pattern ^\\+[1-9][0-9]{6,14}$)"},
			{"/requestingAuthority/phone", "must be at most 16 characters long"},
			{"/requestingAuthority/timeZone", "is required"},
			{"/schemaVersion", "must be 1"},
			{"/urgency", "must be one of Routine, Urgent, Emergency"},
		},
	}, {
		name: "empty and missing lists and texts",
		typ:  MutualLegalAssistance,
		mutate: func(doc map[string]any) {
			doc["assistanceSought"] = []any{}
			doc["facts"] = ""
			doc["persons"] = []any{map[string]any{"name": "X", "role": "Bystander", "dateOfBirth": "1994-02-30"}}
			delete(doc, "proceedings")
			delete(doc, "urgencyReason")
		},
		want: []FieldError{
			{"/assistanceSought", "must have at least one item"},
			{"/facts", "must not be empty"},
			{"/persons/0/dateOfBirth", "must be a date in the form YYYY-MM-DD (RFC 3339 full-date)"},
			{"/persons/0/role", "must be one of Suspect, Accused, Victim, Witness, Other"},
			{"/proceedings", "is required"},
			{"/urgencyReason", "is required when urgency is Urgent or Emergency"},
		},
	}, {
		name: "both period and pointInTime",
		typ:  SubscriberInformation,
		mutate: func(doc map[string]any) {
			doc["period"] = map[string]any{"from": "2026-11-03T00:00:00Z", "to": "2026-11-04T00:00:00Z"}
		},
		want: []FieldError{{"", "needs exactly one of period and pointInTime"}},
	}, {
		name: "neither period nor pointInTime",
		typ:  SubscriberInformation,
		mutate: func(doc map[string]any) {
			delete(doc, "pointInTime")
		},
		want: []FieldError{{"", "needs exactly one of period and pointInTime"}},
	}, {
		name: "control characters, long text, too many identifiers",
		typ:  EmergencyDisclosure,
		mutate: func(doc map[string]any) {
			at(doc, "requestingAuthority")["officer"] = "Captain\u001b[31m Đức"
			doc["justification"] = strings.Repeat("a", 4001)
			ids := make([]any, 101)
			for i := range ids {
				ids[i] = fmt.Sprintf("user%d", i)
			}
			doc["identifiers"] = ids
			at(doc, "emergency")["threatToLife"] = nil
		},
		want: []FieldError{
			{"/emergency/threatToLife", "must be true or false, not null"},
			{"/identifiers", "must have at most 100 items"},
			{"/justification", "must be at most 4000 characters long"},
			{"/requestingAuthority/officer", "must be one line of text without control characters (pattern ^[^\\x00-\\x1F\\x7F]*$)"},
		},
	}, {
		name: "missing type",
		typ:  TrafficDataDisclosure,
		mutate: func(doc map[string]any) {
			delete(doc, "type")
			doc["dataRequested"] = 7
		},
		want: []FieldError{{"/type", "is required: the request type, one of " + strings.Join(typeNames(), ", ")}},
	}, {
		name: "unknown type",
		typ:  TrafficDataDisclosure,
		mutate: func(doc map[string]any) {
			doc["type"] = "Extradition"
		},
		want: []FieldError{{"/type", "must be one of " + strings.Join(typeNames(), ", ")}},
	}, {
		name: "type that is not a string",
		typ:  TrafficDataDisclosure,
		mutate: func(doc map[string]any) {
			doc["type"] = []any{"Preservation"}
		},
		want: []FieldError{{"/type", "must be one of " + strings.Join(typeNames(), ", ")}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := exampleDoc(t, c.typ)
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

// A non-intrusive request may carry an authorisation for information; only an
// intrusive type's authorisation must be in force.
func TestParseOptionalAuthorisationIsNotTimed(t *testing.T) {
	doc := exampleDoc(t, MutualLegalAssistance)
	at(doc, "authorisation")["expiry"] = "2026-01-01T00:00:00Z"
	req, fields, err := Parse(marshal(t, doc), testNow)
	if req == nil || fields != nil || err != nil {
		t.Fatalf("Parse = %v, %v, %v; want a request", req, fields, err)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !req.AuthorisationExpiry.Equal(want) {
		t.Errorf("AuthorisationExpiry = %v, want %v", req.AuthorisationExpiry, want)
	}
}

func TestParseRefusesLookalikeStructure(t *testing.T) {
	preservation := string(readExample(t, Preservation))
	// insert puts text right after the document's opening brace.
	insert := func(text string) string { return "{" + text + strings.TrimPrefix(strings.TrimSpace(preservation), "{") }
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name string
		body string
		want []FieldError
	}{{
		name: "duplicate member",
		body: insert(`"reference": "FR-OFAC-2026-99999",`),
		want: []FieldError{{"/reference", "appears more than once in the same object; each member name may appear only once"}},
	}, {
		name: "duplicate member spelt with an escape",
		body: insert(`"\u0072eference": "FR-OFAC-2026-99999",`),
		want: []FieldError{{"/reference", "appears more than once in the same object; each member name may appear only once"}},
	}, {
		name: "nested duplicate member",
		body: strings.Replace(preservation, `"doNotNotifyUser": true,`, `"doNotNotifyUser": true, "doNotNotifyUser": false,`, 1),
		want: []FieldError{{"/confidentiality/doNotNotifyUser", "appears more than once in the same object; each member name may appear only once"}},
	}, {
		name: "nesting deeper than the limit",
		body: insert(`"x": ` + deep(MaxDepth) + `,`),
		want: []FieldError{
			{"/x", "is not a field of Preservation requests"},
			{"/x" + strings.Repeat("/0", MaxDepth-1), fmt.Sprintf("nests arrays or objects deeper than %d levels", MaxDepth)},
		},
	}, {
		name: "nesting at the limit",
		body: insert(`"x": ` + deep(MaxDepth-1) + `,`),
		want: []FieldError{{"/x", "is not a field of Preservation requests"}},
	}, {
		name: "very deep nesting costs no stack",
		body: insert(`"x": ` + deep(9000) + `,`),
		want: []FieldError{
			{"/x", "is not a field of Preservation requests"},
			{"/x" + strings.Repeat("/0", MaxDepth-1), fmt.Sprintf("nests arrays or objects deeper than %d levels", MaxDepth)},
		},
	}, {
		name: "number beyond double precision range",
		body: strings.Replace(preservation, `"schemaVersion": 1`, `"schemaVersion": 1e400`, 1),
		want: []FieldError{
			{"/schemaVersion", "is a number out of the range of IEEE 754 double precision, which canonical JSON (RFC 8785) cannot represent"},
			{"/schemaVersion", "must be 1"},
		},
	}, {
		name: "number that canonical form would round to 1",
		body: strings.Replace(preservation, `"schemaVersion": 1`, `"schemaVersion": 1.00000000000000000000001`, 1),
		want: []FieldError{
			{"/schemaVersion", "is a number that IEEE 754 double precision cannot hold exactly, so canonical JSON (RFC 8785) would change it; use at most 15 significant digits"},
			{"/schemaVersion", "must be an integer, not a number"},
		},
	}, {
		name: "integer beyond 2^53",
		body: insert(`"n": 9007199254740993,`),
		want: []FieldError{
			{"/n", "is a number that IEEE 754 double precision cannot hold exactly, so canonical JSON (RFC 8785) would change it; use at most 15 significant digits"},
			{"/n", "is not a field of Preservation requests"},
		},
	}, {
		name: "huge exponent is not expanded",
		body: insert(`"n": 1e-999999999999,`),
		want: []FieldError{
			{"/n", "is a number that IEEE 754 double precision cannot hold exactly, so canonical JSON (RFC 8785) would change it; use at most 15 significant digits"},
			{"/n", "is not a field of Preservation requests"},
		},
	}, {
		name: "unpaired surrogates",
		body: insert(`"\udc00": 1, "escapes": ["\ud83d\ude00", "\\ud800", "\ud83d\n", "\ud83d\ud83d\ude00", "\ud83d"],`),
		want: []FieldError{
			{"/escapes", "is not a field of Preservation requests"},
			{"/escapes/2", "holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"},
			{"/escapes/3", "holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"},
			{"/escapes/4", "holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"},
			{"/\ufffd", "has a name that holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"},
			{"/\ufffd", "is not a field of Preservation requests"},
		},
	}, {
		name: "unpaired surrogate in a field",
		body: strings.Replace(preservation, `"Capitaine Claire Martin`, `"\ud800Capitaine Claire Martin`, 1),
		want: []FieldError{{"/requestingAuthority/officer", "holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"}},
	}, {
		name: "array",
		body: `[` + preservation + `]`,
		want: []FieldError{{"", "must be a JSON object: one request document"}},
	}, {
		name: "string",
		body: `"Preservation"`,
		want: []FieldError{{"", "must be a JSON object: one request document"}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, fields, err := Parse([]byte(c.body), testNow)
			if err != nil || req != nil {
				t.Fatalf("Parse accepted: %v, error: %v; want field errors", req != nil, err)
			}
			if !reflect.DeepEqual(fields, c.want) {
				t.Errorf("field errors:\n%s\nwant:\n%s", lines(fields), lines(c.want))
			}
		})
	}
}

// Numbers that canonical form writes differently but keeps the value of are
// accepted: 1.0 and 10E-1 are 1.
func TestParseAcceptsEquivalentNumbers(t *testing.T) {
	want, _, err := Parse(readExample(t, Preservation), testNow)
	if err != nil || want == nil {
		t.Fatal("the example is refused")
	}
	for _, n := range []string{"1.0", "10E-1", "0.1e1", "1.000"} {
		body := strings.Replace(string(readExample(t, Preservation)), `"schemaVersion": 1`, `"schemaVersion": `+n, 1)
		req, fields, err := Parse([]byte(body), testNow)
		if req == nil {
			t.Errorf("schemaVersion %s: %v %v", n, fields, err)
			continue
		}
		if req.Digest != want.Digest {
			t.Errorf("schemaVersion %s: digest differs from schemaVersion 1", n)
		}
	}
}

func TestParseRefusesWhatIsNotOneJSONText(t *testing.T) {
	preservation := string(readExample(t, Preservation))
	cases := []struct {
		name, body, want string
	}{
		{"empty", "", "request body is empty: send one JSON object"},
		{"blank", " \n", "request body is empty: send one JSON object"},
		{"not JSON", "reference=FR-OFAC", "request body is not JSON: syntax error at byte offset 1"},
		{"cut short", preservation[:200], "request body is not JSON: it ends at byte offset 200 inside a value"},
		{"two documents", preservation + preservation, fmt.Sprintf("request body is not one JSON document: data follows the document at byte offset %d", len(preservation))},
		{"trailing garbage", `{"type":"Preservation"} x`, "request body is not one JSON document: data follows the document at byte offset 24"},
		{"trailing comma", `{"type":"Preservation",}`, "request body is not JSON: syntax error at byte offset 23"},
		{"byte order mark", "\ufeff" + preservation, "request body is not JSON: syntax error at byte offset 1"},
		{"invalid UTF-8", `{"type":"Pr` + "\xff" + `eservation"}`, "request body is not UTF-8: invalid byte sequence at byte offset 11"},
		{"single quotes", `{'type':'Preservation'}`, "request body is not JSON: syntax error at byte offset 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, fields, err := Parse([]byte(c.body), testNow)
			if req != nil || fields != nil || err == nil {
				t.Fatalf("Parse accepted: %v, field errors: %v, error: %v; want an error", req != nil, fields, err)
			}
			if err.Error() != c.want {
				t.Errorf("error %q, want %q", err, c.want)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		body := []byte(`{"type":"Preservation","factsSummary":"` + strings.Repeat("a", MaxBodyBytes) + `"}`)
		_, fields, err := Parse(body, testNow)
		if !errors.Is(err, ErrBodyTooLarge) || fields != nil {
			t.Errorf("Parse = _, %v, %v; want ErrBodyTooLarge", fields, err)
		}
	})
}

// Request documents carry personal data, and field errors reach logs and the
// sender's error pages: no message may repeat a submitted value.
func TestParseNeverEchoesSubmittedValues(t *testing.T) {
	const secret = "Zq7Kx9SECRETvalue"
	mutations := map[string]func(doc map[string]any){
		"reference":     func(doc map[string]any) { doc["reference"] = secret + " with spaces" },
		"date":          func(doc map[string]any) { doc["date"] = secret },
		"urgency":       func(doc map[string]any) { doc["urgency"] = secret },
		"type":          func(doc map[string]any) { doc["type"] = secret },
		"schemaVersion": func(doc map[string]any) { doc["schemaVersion"] = secret },
		"email":         func(doc map[string]any) { at(doc, "requestingAuthority")["email"] = secret },
		"phone":         func(doc map[string]any) { at(doc, "requestingAuthority")["phone"] = "+" + secret },
		"timeZone":      func(doc map[string]any) { at(doc, "requestingAuthority")["timeZone"] = secret + "!" },
		"language":      func(doc map[string]any) { doc["language"] = secret },
		"country":       func(doc map[string]any) { at(doc, "custodian")["country"] = secret },
		"enum in list":  func(doc map[string]any) { doc["dataToPreserve"].([]any)[0].(map[string]any)["category"] = secret },
		"long text":     func(doc map[string]any) { doc["factsSummary"] = strings.Repeat(secret, 2000) },
		"control char":  func(doc map[string]any) { doc["necessity"] = secret + "\u0007" },
		"identifier": func(doc map[string]any) {
			doc["dataToPreserve"].([]any)[0].(map[string]any)["identifiers"] = []any{secret + "\n"}
		},
		"wrong type":     func(doc map[string]any) { doc["mutualAssistanceToFollow"] = secret },
		"extends":        func(doc map[string]any) { doc["extends"] = secret },
		"unknown field":  func(doc map[string]any) { doc["note"] = secret },
		"nested unknown": func(doc map[string]any) { at(doc, "offence")["note"] = map[string]any{"x": secret} },
		"period": func(doc map[string]any) {
			at(doc["dataToPreserve"].([]any)[0].(map[string]any), "period")["from"] = secret
		},
		"date-time-alike": func(doc map[string]any) {
			at(doc["dataToPreserve"].([]any)[0].(map[string]any), "period")["from"] = "2026-13-45T" + secret
		},
	}
	check := func(t *testing.T, fields []FieldError, err error) {
		t.Helper()
		if len(fields) == 0 && err == nil {
			t.Fatal("the document was accepted")
		}
		for _, f := range fields {
			if strings.Contains(f.Path, secret) || strings.Contains(f.Message, secret) {
				t.Errorf("field error repeats the submitted value: %s", f)
			}
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats the submitted value: %v", err)
		}
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			doc := exampleDoc(t, Preservation)
			mutate(doc)
			_, fields, err := Parse(marshal(t, doc), testNow)
			check(t, fields, err)
		})
	}
	raw := map[string]string{
		"not JSON":         `{"reference": "` + secret + `", oops}`,
		"bare secret":      secret,
		"trailing":         `{"type":"Preservation"}` + secret,
		"duplicate":        `{"type":"Preservation","reference":"a","reference":"` + secret + `"}`,
		"huge number":      `{"type":"Preservation","schemaVersion":1` + secret[:0] + `e999999}`,
		"canonicalisation": `{"type":"Preservation","reference":"\ud800` + secret + `"}`,
		"invalid UTF-8":    `{"reference":"` + secret + "\xfe" + `"}`,
	}
	for name, body := range raw {
		t.Run(name, func(t *testing.T) {
			_, fields, err := Parse([]byte(body), testNow)
			check(t, fields, err)
		})
	}
	t.Run("Canonical", func(t *testing.T) {
		_, err := Canonical([]byte(`{"a":"` + secret + `","a":1}`))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Canonical error = %v", err)
		}
	})
}

func TestSchemaFiles(t *testing.T) {
	names := SchemaNames()
	if len(names) != len(Types)+1 || !slices.Contains(names, commonFile) {
		t.Errorf("SchemaNames = %v, want one per type and %s", names, commonFile)
	}
	for _, typ := range Types {
		b, ok := Schema(typ)
		if !ok {
			t.Fatalf("Schema(%s) not found", typ)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if id := SchemaID(typ); doc["$id"] != id || !strings.HasPrefix(id, SchemaBaseURL) {
			t.Errorf("%s: $id %v, SchemaID %s", typ, doc["$id"], id)
		}
		if c := doc["properties"].(map[string]any)["type"].(map[string]any)["const"]; c != string(typ) {
			t.Errorf("%s: type const is %v", typ, c)
		}
	}
	if _, ok := Schema("Extradition"); ok || SchemaID("Extradition") != "" {
		t.Error("an unknown type has a schema")
	}
	if got, want := kebabName(RealTimeTrafficData), "real-time-traffic-data"; got != want {
		t.Errorf("kebabName = %s, want %s", got, want)
	}
}

// timeProblems finds periods by their members; that is sound only while the
// period definition is the one object schema with both "from" and "to".
func TestOnlyPeriodsHaveFromAndTo(t *testing.T) {
	for _, name := range SchemaNames() {
		b, _ := SchemaFile(name)
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(where string, v any)
		walk = func(where string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if props, ok := v["properties"].(map[string]any); ok && props["from"] != nil && props["to"] != nil {
					if where != "common.schema.json#/$defs/period" {
						t.Errorf("%s has members from and to but is not the period definition", where)
					}
				}
				for k, child := range v {
					walk(where+"/"+k, child)
				}
			case []any:
				for i, child := range v {
					walk(fmt.Sprintf("%s/%d", where, i), child)
				}
			}
		}
		walk(name+"#", doc)
	}
}

// Every type schema carries the common envelope the same way, so that a new
// type (a new file) cannot drift from the others.
func TestTypeSchemasShareTheEnvelope(t *testing.T) {
	envelope := map[string]string{
		"schemaVersion":       "schemaVersion",
		"reference":           "reference",
		"date":                "date",
		"requestingAuthority": "requestingAuthority",
		"urgency":             "urgency",
		"language":            "language",
		"authorisation":       "authorisation",
	}
	required := []string{"type", "schemaVersion", "reference", "date", "requestingAuthority"}
	for _, typ := range Types {
		b, _ := Schema(typ)
		var doc struct {
			Required   []string                  `json:"required"`
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for prop, def := range envelope {
			if got, want := doc.Properties[prop]["$ref"], commonFile+"#/$defs/"+def; got != want {
				t.Errorf("%s: properties.%s.$ref = %v, want %s", typ, prop, got, want)
			}
		}
		for _, r := range required {
			if !slices.Contains(doc.Required, r) {
				t.Errorf("%s: %s is not required", typ, r)
			}
		}
		if got := slices.Contains(doc.Required, "authorisation"); got != Intrusive(typ) {
			t.Errorf("%s: authorisation required = %v, want %v", typ, got, Intrusive(typ))
		}
		// Parse reads order.reference and order.expiry only where the order is
		// the common definition, and every type that rests on one requires it.
		order, hasOrder := doc.Properties["order"]
		if hasOrder != restsOnOrder(typ) || hasOrder != slices.Contains(doc.Required, "order") {
			t.Errorf("%s: order property %v, required %v; want both %v", typ, hasOrder, slices.Contains(doc.Required, "order"), restsOnOrder(typ))
		}
		if hasOrder && order["$ref"] != commonFile+"#/$defs/order" {
			t.Errorf("%s: properties.order.$ref = %v, want %s#/$defs/order", typ, order["$ref"], commonFile)
		}
		if required, _ := order["required"].([]any); (typ == AssetFreezing) != slices.Contains(required, any("expiry")) {
			t.Errorf("%s: order.expiry required = %v", typ, typ != AssetFreezing)
		}
	}
}

// The style rules for the peer API's schemas: every object closed, every
// string and list bounded, every property described.
func TestSchemasAreBoundedAndDescribed(t *testing.T) {
	for _, name := range SchemaNames() {
		b, _ := SchemaFile(name)
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		lintSchema(t, name+"#", doc)
	}
}

func lintSchema(t *testing.T, where string, v any) {
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	_, isEnum := s["enum"]
	_, isConst := s["const"]
	switch s["type"] {
	case "object":
		if s["additionalProperties"] != false {
			t.Errorf("%s: an object without additionalProperties: false", where)
		}
	case "string":
		if _, ok := s["maxLength"]; !ok && !isEnum && !isConst {
			t.Errorf("%s: a string without maxLength", where)
		}
	case "array":
		if _, ok := s["maxItems"]; !ok {
			t.Errorf("%s: an array without maxItems", where)
		}
	}
	for k, child := range s {
		switch k {
		case "properties":
			for name, prop := range child.(map[string]any) {
				if _, ok := prop.(map[string]any)["description"]; !ok {
					t.Errorf("%s/properties/%s: no description", where, name)
				}
				lintSchema(t, where+"/properties/"+name, prop)
			}
		case "$defs":
			for name, def := range child.(map[string]any) {
				lintSchema(t, where+"/$defs/"+name, def)
			}
		case "oneOf", "anyOf", "allOf":
			for i, sub := range child.([]any) {
				lintSchema(t, fmt.Sprintf("%s/%s/%d", where, k, i), sub)
			}
		case "items", "then", "else", "not", "additionalProperties":
			lintSchema(t, where+"/"+k, child)
		}
		// "if" is a condition, not a definition; other keywords hold no schemas.
	}
}

func typeNames() []string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return names
}

func lines(fields []FieldError) string {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "\t%q %q\n", f.Path, f.Message)
	}
	return b.String()
}

func TestParseBoundsFieldErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"Preservation"`)
	for i := range 5000 {
		fmt.Fprintf(&b, `,"m%05d":0`, i)
	}
	b.WriteString("}")
	_, fields, err := Parse([]byte(b.String()), testNow)
	if err != nil || len(fields) != MaxFieldErrors {
		t.Fatalf("%d field errors, %v; want %d", len(fields), err, MaxFieldErrors)
	}
	want := FieldError{"", fmt.Sprintf("has %d more errors than the %d listed; correct these first", 5000+13-(MaxFieldErrors-1), MaxFieldErrors-1)}
	if fields[0] != want {
		t.Errorf("first field error %q, want %q", fields[0], want)
	}
	if !slices.IsSortedFunc(fields, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("not sorted")
	}
}

// The gateway parses requests on many goroutines with the one compiled
// catalogue; run with -race.
func TestParseConcurrently(t *testing.T) {
	bodies := make([][]byte, len(Types))
	for i, typ := range Types {
		bodies[i] = readExample(t, typ)
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 50 {
				body := bodies[(g+i)%len(bodies)]
				if i%3 == 0 {
					body = append(bytes.Clone(body[:len(body)-2]), `,"x":1}`...)
				}
				req, fields, err := Parse(body, testNow)
				if (req == nil) != (i%3 == 0) || err != nil {
					done <- fmt.Errorf("goroutine %d, body %d: %v %v %w", g, i, req, fields, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Every date-time the schema's format accepts, parseInstant reads: otherwise
// an expiry could pass validation and escape the time checks.
func TestParseInstantReadsWhatTheSchemaAccepts(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseLoader(embeddedOnly{})
	common, _ := SchemaFile(commonFile)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(common))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(SchemaBaseURL+commonFile, doc); err != nil {
		t.Fatal(err)
	}
	dateTime, err := c.Compile(SchemaBaseURL + commonFile + "#/$defs/dateTime")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]time.Time{
		"2026-11-22T09:30:00Z":             time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC),
		"2026-11-22t09:30:00z":             time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC),
		"2026-11-22T16:30:00.123456+07:00": time.Date(2026, 11, 22, 9, 30, 0, 123456000, time.UTC),
		"2016-12-31T23:59:60Z":             time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2016-12-31T18:59:60-05:00":        time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-22T09:30:00-00:00":        time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC),
	}
	for s, want := range cases {
		if err := dateTime.Validate(s); err != nil {
			t.Errorf("%s: the schema refuses it: %v", s, err)
		}
		got, ok := parseInstant(s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseInstant(%s) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"2026-11-22T24:00:00Z", "2026-11-22T09:30:00+24:00", "2026-11-22T09:30Z", "2026-02-30T09:30:00Z", "2026-11-22 09:30:00Z", "2026-11-22T09:30:60Z"} {
		_, ok := parseInstant(s)
		if accepted := dateTime.Validate(s) == nil; accepted && !ok {
			t.Errorf("%s: the schema accepts it, parseInstant cannot read it", s)
		}
	}
}
