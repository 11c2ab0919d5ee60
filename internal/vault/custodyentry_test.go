package vault

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEncodeEntryIsItsCanonicalEncoding: the line encodeEntry writes, the
// entry encoded once with its hash spliced in, is byte for byte the entry's
// encoding with its hash set, which DecodeEntry requires.
func TestEncodeEntryIsItsCanonicalEncoding(t *testing.T) {
	m := testMetadata(time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC))
	m.Hold = true
	e := Entry{Seq: 7, Time: time.Date(2031, 3, 1, 9, 0, 0, 123, time.UTC), Actor: `CN=a "quoted" <actor> & co, O=É`, Cert: &testActor,
		Action: ActionIngest, Object: Digest("sha256:" + strings.Repeat("ab", 32)), LegalBasis: "UNCC art. 42\nline two", Reference: m.CaseReference,
		Metadata: &m, Size: 5, KeyVersion: 1, Detail: "\u2028 \\ \x01", Prev: genesisHash}
	sealed, line, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(line, append(want, '\n')) {
		t.Fatalf("encodeEntry wrote\n%s\nthe entry encodes as\n%s", line, want)
	}
	decoded, err := DecodeEntry(line[:len(line)-1])
	if err != nil || decoded.Hash != sealed.Hash {
		t.Fatalf("DecodeEntry: %v, hash %s; want %s", err, decoded.Hash, sealed.Hash)
	}
}
