package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestIngestDeclaringANewCase: an ingest that declares its case new is
// refused once the case names an object, even of the same content, without a
// custody entry; the refusal names the object only to a client that may see
// the case. Over HTTP the declaration is the Cybercoop-New-Case header.
func TestIngestDeclaringANewCase(t *testing.T) {
	clock := newFakeClock()
	grants := allGranted()
	delete(grants, RoleList) // a client sees the cases it ingested only
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: grants, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	m := testMetadata(clock.Now())
	m.CaseReference = "CASE/NEW/1"
	m.Exclusive = true
	data, other := []byte("the request"), []byte("another request")
	newCase := Expectation{Size: -1, NewCase: true}
	first, err := v.Ingest(ctx, testActor, m, bytes.NewReader(data), newCase)
	if err != nil {
		t.Fatal(err)
	}
	entries := v.Status().CustodyEntries
	for name, content := range map[string][]byte{"the same content": data, "other content": other} {
		_, err := v.Ingest(ctx, testActor, m, bytes.NewReader(content), newCase)
		var taken *CaseTakenError
		if !errors.As(err, &taken) || !taken.Recorded || taken.Digest != first.Digest || taken.Sequence != first.Sequence {
			t.Fatalf("%s under a recorded case declared new: %v; want CaseTakenError naming %s", name, err, first.Digest)
		}
	}
	stranger := testIdentity("CN=another client")
	if _, err := v.Ingest(ctx, stranger, m, bytes.NewReader(data), newCase); !errors.Is(err, ErrCaseTaken) || strings.Contains(err.Error(), string(first.Digest)) {
		t.Fatalf("another client's ingest under the case declared new: %v; want ErrCaseTaken not naming the object", err)
	}
	if got := v.Status().CustodyEntries; got != entries {
		t.Fatalf("refused ingests wrote %d custody entries", got-entries)
	}
	// Without the declaration the same content is attached, as before.
	if res, err := v.Ingest(ctx, testActor, m, bytes.NewReader(data), NoExpectation); err != nil || !res.Duplicate {
		t.Fatalf("the same content again, undeclared: %+v %v", res, err)
	}

	ts := startTestServer(t, v, serverOptions{})
	c := ts.client(t, "investigator-1")
	meta, _ := json.Marshal(m)
	for value, want := range map[string]int{"yes": http.StatusBadRequest, "true": http.StatusConflict} {
		req := ingestRequest(t, ts.url("/v1/objects"), meta, bytes.NewReader(data))
		req.Header.Set(NewCaseHeader, value)
		code, body := do(t, c, req)
		var answer apiError
		if code != want || json.Unmarshal(body, &answer) != nil || answer.Field == "" {
			t.Fatalf("%s: %s = %d %s; want %d naming a field", NewCaseHeader, value, code, body, want)
		}
	}
	m.CaseReference = "CASE/NEW/2"
	meta, _ = json.Marshal(m)
	req := ingestRequest(t, ts.url("/v1/objects"), meta, bytes.NewReader(data))
	req.Header.Set(NewCaseHeader, "true")
	if code, body := do(t, c, req); code != http.StatusOK {
		t.Fatalf("a new case declared new, content held already: %d %s; want 200, a duplicate", code, body)
	}
}
