package requests

import (
	"encoding/json"
	"testing"
)

// BenchmarkParsePreservation and BenchmarkDecodePreservation run on the same
// document; the ratio of their times is the price of validation and
// canonicalisation over a plain decode:
//
//	go test -run x -bench Preservation -benchmem ./internal/gateway/requests/
func BenchmarkParsePreservation(b *testing.B) {
	body := readExample(b, Preservation)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if req, _, _ := Parse(body, testNow); req == nil {
			b.Fatal("refused")
		}
	}
}

// BenchmarkDecodePreservation is the baseline: json.Unmarshal into a map.
func BenchmarkDecodePreservation(b *testing.B) {
	body := readExample(b, Preservation)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			b.Fatal(err)
		}
	}
}
