package requests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testNow is the instant the tests receive requests at; the examples'
// authorisations are in force then.
var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func examplePath(t Type) string { return filepath.Join("testdata", "valid", string(t)+".json") }

func readExample(tb testing.TB, t Type) []byte {
	tb.Helper()
	b, err := os.ReadFile(examplePath(t))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// exampleDoc decodes an example for a test to change.
func exampleDoc(tb testing.TB, t Type) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(readExample(tb, t)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		tb.Fatal(err)
	}
	return doc
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// at returns the object at a chain of member names in doc.
func at(doc map[string]any, names ...string) map[string]any {
	for _, n := range names {
		doc = doc[n].(map[string]any)
	}
	return doc
}
