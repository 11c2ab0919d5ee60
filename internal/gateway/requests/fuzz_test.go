package requests

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; a document it accepts is accepted again from
// its canonical form, with the same canonical form and digest; a refusal says
// why, in one of the two ways.
func FuzzParse(f *testing.F) {
	for _, typ := range Types {
		f.Add(readExample(f, typ))
	}
	f.Add([]byte(`{"type":"Preservation","reference":"a","reference":"b"}`))
	f.Add([]byte(`{"type":"Interception","schemaVersion":1e400}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Add([]byte(`{"type":"SubscriberInformation","reference":"\ud800"}`))
	f.Add([]byte("{\"type\":\"Preservation\"} \x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, fields, err := Parse(body, testNow)
		switch {
		case err != nil:
			if req != nil || fields != nil {
				t.Fatalf("an error with a request or field errors: %v %v %v", req, fields, err)
			}
			return
		case req == nil:
			if len(fields) == 0 {
				t.Fatal("refused without a field error")
			}
			for i, f := range fields {
				if f.Message == "" || (f.Path != "" && !strings.HasPrefix(f.Path, "/")) {
					t.Fatalf("malformed field error %q", f)
				}
				if i > 0 && (fields[i-1].Path > f.Path || fields[i-1] == f) {
					t.Fatalf("field errors not sorted and unique: %q", fields)
				}
			}
			return
		case fields != nil:
			t.Fatalf("a request with field errors: %v", fields)
		}
		again, fields, err := Parse(req.Canonical, testNow)
		if again == nil {
			t.Fatalf("canonical form of an accepted document refused: %v %v\n%s", fields, err, req.Canonical)
		}
		if again.Digest != req.Digest || !bytes.Equal(again.Canonical, req.Canonical) || again.Type != req.Type ||
			again.Reference != req.Reference || again.AuthorisationReference != req.AuthorisationReference ||
			!again.AuthorisationExpiry.Equal(req.AuthorisationExpiry) {
			t.Fatalf("canonical form parses differently: %+v\n%+v", again, req)
		}
	})
}
