package requests

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The examples of RFC 8785: section 3.2.2 (serialisation of primitives,
// numbers per ECMAScript) and section 3.2.3 (member order by UTF-16 code units).
func TestCanonicalRFC8785Vectors(t *testing.T) {
	cases := []struct{ name, in, want string }{{
		name: "3.2.2 primitives",
		in: `{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
		want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
	}, {
		name: "3.2.3 sorting",
		in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
		// Go escapes, so that no editor normalises the characters.
		want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Canonical([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("Canonical =\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// The canonical form, and so the digest, does not depend on member order,
// whitespace or escapes: a peer that re-encodes a request gets the same digest.
func TestCanonicalIsStable(t *testing.T) {
	for _, typ := range Types {
		t.Run(string(typ), func(t *testing.T) {
			body := readExample(t, typ)
			want, _, err := Parse(body, testNow)
			if err != nil || want == nil {
				t.Fatal("the example is refused")
			}
			// Go's encoder sorts members by name, drops whitespace and
			// escapes <, > and & differently from the file.
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			reordered := marshal(t, doc)
			var indented bytes.Buffer
			if err := json.Indent(&indented, reordered, "\t", "\t\t"); err != nil {
				t.Fatal(err)
			}
			for name, variant := range map[string][]byte{"re-encoded": reordered, "re-indented": indented.Bytes(), "canonical": want.Canonical} {
				got, fields, err := Parse(variant, testNow)
				if got == nil {
					t.Fatalf("%s: refused: %v %v", name, fields, err)
				}
				if got.Digest != want.Digest || !bytes.Equal(got.Canonical, want.Canonical) {
					t.Errorf("%s: canonical form differs", name)
				}
			}
			again, err := Canonical(want.Canonical)
			if err != nil || !bytes.Equal(again, want.Canonical) {
				t.Errorf("canonical form is not a fixed point of Canonical")
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for _, in := range []string{"", "{", `{"a":1,"a":2}`, `{"a":1}{}`, `[1e400]`, `["\ud800"]`, "[\"\xff\"]"} {
		if out, err := Canonical([]byte(in)); err == nil {
			t.Errorf("Canonical(%q) = %s, want an error", in, out)
		}
	}
	if _, err := Canonical(nil); err == nil {
		t.Error("Canonical(nil) succeeded")
	}
}
