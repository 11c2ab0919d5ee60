package vaultclient

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseProof(t *testing.T) {
	h := sha256.Sum256([]byte("entry"))
	line := base64.StdEncoding.EncodeToString(h[:])
	for _, tc := range []struct {
		name    string
		body    string
		want    int
		wantErr string
	}{
		{"empty proof (equal sizes)", "", 0, ""},
		{"two hashes, trailing newline", line + "\n" + line + "\n", 2, ""},
		{"blank lines are skipped", "\n" + line + "\n\n", 1, ""},
		{"not base64", line + "\n%%%\n", 0, "line 2 is not a base64 SHA-256 hash"},
		{"a short hash", base64.StdEncoding.EncodeToString([]byte("short")), 0, "line 1 is not"},
		{"too many hashes", strings.Repeat(line+"\n", 129), 0, "more than 128 hashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProof([]byte(tc.body))
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr == "" && len(got) != tc.want:
				t.Fatalf("%d hashes, want %d", len(got), tc.want)
			}
		})
	}
}

// FuzzParseProof: whatever a vault (or something posing as one) answers, the parser
// returns hashes of 32 bytes or an error that does not repeat the input.
func FuzzParseProof(f *testing.F) {
	h := sha256.Sum256([]byte("entry"))
	f.Add([]byte(base64.StdEncoding.EncodeToString(h[:]) + "\n"))
	f.Add([]byte("not a proof"))
	f.Add(bytes.Repeat([]byte("A"), 70000))
	f.Fuzz(func(t *testing.T, body []byte) {
		hashes, err := ParseProof(body)
		if err != nil {
			if len(body) > 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("the error repeats the input: %v", err)
			}
			return
		}
		for _, hash := range hashes {
			if len(hash) != 32 {
				t.Fatalf("a hash of %d bytes", len(hash))
			}
		}
	})
}
