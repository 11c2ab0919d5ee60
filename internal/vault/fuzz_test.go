package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeEntry(f *testing.F) {
	m := testMetadata(epoch)
	prev := genesisHash
	for i, e := range []Entry{
		{Seq: 1, Time: epoch, Actor: testActor.Name(), Cert: &testActor, Action: ActionIngest, Object: Digest("sha256:" + strings.Repeat("ab", 32)), LegalBasis: m.LegalBasis, Reference: m.CaseReference, Metadata: &m, Size: 42, KeyVersion: 1},
		{Seq: 2, Time: epoch.Add(time.Second), Actor: "CN=<&>\u2028", Action: ActionHold, Object: Digest("sha512:" + strings.Repeat("0", 128)), Reference: "CASE/1", LegalBasis: "art. 25"},
		{Seq: 3, Time: epoch.Add(time.Nanosecond), Actor: SystemActor, Action: ActionRecover, Detail: "truncated"},
	} {
		e.Prev = prev
		e, line, err := encodeEntry(e)
		if err != nil {
			f.Fatal(err)
		}
		prev = e.Hash
		line = bytes.TrimSuffix(line, []byte("\n"))
		f.Add(line)
		f.Add(flipByte(line, len(line)/(i+2)))
		f.Add(line[:len(line)/2])
	}
	f.Add([]byte(`{"seq":1,"SEQ":2}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := DecodeEntry(line)
		if err != nil {
			return
		}
		// Whatever decodes is exactly what the vault would have written.
		_, again, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("decoded entry does not re-encode: %v", err)
		}
		if !bytes.Equal(again, append(bytes.Clone(line), '\n')) {
			t.Fatalf("decoded entry re-encodes differently:\n%s\n%s", line, again)
		}
		if bytes.ContainsAny(line, "\n\r") {
			t.Fatal("an accepted entry contains a line break")
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	valid, _ := json.Marshal(testMetadata(epoch))
	f.Add(valid)
	for _, ref := range []string{"../etc/passwd", "/abs", "a\x00b", `a\b`, "a//b", "./x", "CASE/2031/0042", strings.Repeat("x", 300)} {
		m := testMetadata(epoch)
		m.CaseReference = ref
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte(`{"caseReference":"x","unknown":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data, epoch, testPolicy)
		if err != nil {
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error does not wrap ErrInvalidMetadata: %v", err)
			}
			return
		}
		for _, ref := range []string{m.CaseReference, m.AuthorisationReference} {
			if !filepath.IsLocal(ref) || strings.ContainsRune(ref, 0) || strings.Contains(ref, "..") && strings.Contains("/"+ref+"/", "/../") {
				t.Fatalf("accepted reference %q is not a safe relative path", ref)
			}
		}
		// Accepted metadata survives the custody log's round trip unchanged.
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMetadata(b, epoch, testPolicy)
		if err != nil || m2.CaseReference != m.CaseReference || !m2.RetentionUntil.Equal(m.RetentionUntil) {
			t.Fatalf("re-parsing accepted metadata: %+v %v", m2, err)
		}
	})
}
