package gateway

// Requests as cases (lifecycle.go, casesapi.go) tried as an adversary would
// (STYLE.md item 13): a third State reaching for another's request, a peer
// pushing updates it should not (replayed, with gaps, contradicting what it
// signed before, signed by the wrong key or for the wrong name, with a digest of
// something else), lookalike and duplicated actions, oversized and cut-off
// bodies, control characters and planted values that must stay out of answers
// and logs, officers racing each other and the sender, and a vault that stops
// between a transition and its signed update.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/officer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// adversaryCasePair is newCasePair with both gateways' log lines kept, to grep.
type adversaryCasePair struct {
	*casePair
	vnLog, frLog *logLines
	// frAtVN is France's channel certificate speaking to Viet Nam's gateway
	// directly; vnAtFR is Viet Nam's speaking to France's.
	frAtVN, vnAtFR *client
}

func newAdversaryCasePair(t *testing.T, configure func(*Server)) *adversaryCasePair {
	t.Helper()
	p := &adversaryCasePair{casePair: &casePair{clock: &shiftedClock{}}, vnLog: &logLines{}, frLog: &logLines{}}
	with := func(l *logLines) func(*Server) {
		return func(s *Server) {
			s.Now, s.Log = p.clock.Now, l.logger()
			if configure != nil {
				configure(s)
			}
		}
	}
	var frVault *vaultProcess
	p.vn, p.vnVault = startCountry(t, "VN", with(p.vnLog))
	p.fr, frVault = startCountry(t, "FR", with(p.frLog))
	for _, vp := range []*vaultProcess{p.vnVault, frVault} {
		vp.stop()
		vp.cfg.Clock = p.clock
		vp.start()
	}
	p.vnToFR = p.vn.connect(p.fr, "Preservation", "MutualLegalAssistance", "SubscriberInformation")
	p.frToVN = p.fr.connect(p.vn, "Preservation")
	p.vnOfficer = p.vn.clientFor(p.vn.officer, p.vn.trustPool())
	p.frOfficer = p.fr.clientFor(p.fr.officer, p.fr.trustPool())
	p.frAtVN = p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	p.vnAtFR = p.fr.clientFor(p.vn.channelCert(p.vnToFR), p.fr.trustPool())
	return p
}

// checkLogsClean fails when a log line carries what must stay out of logs: a
// planted value, a reason's text, key material.
func (p *adversaryCasePair) checkLogsClean(t *testing.T, planted ...string) {
	t.Helper()
	for who, l := range map[string]*logLines{"VN": p.vnLog, "FR": p.frLog} {
		all := l.all()
		// The request's content: the examples' summary of the facts.
		content := "the information system of the Centre"
		for _, s := range append([]string{secretValue, "PRIVATE KEY", "/access-", content}, planted...) {
			if strings.Contains(all, s) {
				t.Errorf("%s's log carries %q", who, s)
			}
		}
	}
}

// vnHistory is Viet Nam's history of a received request, from its vault, and
// its signed updates; a transition without its update is not repaired.
func (p *adversaryCasePair) vnHistory(t *testing.T, vnID string) (cases.History, []string) {
	t.Helper()
	st := p.vn.gw.current.Load()
	ref := "inbound/FR/" + vnID
	compact, err := p.vn.gw.storedReceipt(t.Context(), st, ref)
	if err != nil || compact == "" {
		t.Fatalf("VN's receipt of %s: %q %v", vnID, compact, err)
	}
	rc, err := receipt.Peek(compact)
	if err != nil {
		t.Fatal(err)
	}
	h, updates, err := p.vn.gw.inboundHistory(t.Context(), st, liveLocator(st), ref, rc, false)
	if err != nil {
		t.Fatal(err)
	}
	return h, updates
}

// frUpdates is how many of Viet Nam's updates France's vault holds for a sent request.
func (p *adversaryCasePair) frUpdates(t *testing.T, frID string) cases.History {
	t.Helper()
	st := p.fr.gw.current.Load()
	h, _, err := p.fr.gw.outboundHistory(t.Context(), st, liveLocator(st), "outbound/VN/"+frID)
	if err != nil {
		t.Fatal(err)
	}
	if err := cases.CheckHistory(h); err != nil {
		t.Fatalf("France's history of %s does not hold together: %v", frID, err)
	}
	return h
}

// forgeUpdate is Viet Nam's gateway turned bad: it signs, with its own key and a
// genuine custody proof from its own vault, a status update of request vnID
// carrying whatever transition it likes, without recording it in the
// request's history. edit, if set, changes the update after it was built; it is
// then signed with Viet Nam's serving key directly, past SignUpdate's checks.
func (p *adversaryCasePair) forgeUpdate(t *testing.T, vnID string, tr cases.Transition, edit func(*receipt.StatusUpdate)) string {
	t.Helper()
	s, st := p.vn.gw, p.vn.gw.current.Load()
	ctx := t.Context()
	compact, err := s.storedReceipt(ctx, st, "inbound/FR/"+vnID)
	if err != nil || compact == "" {
		t.Fatalf("VN's receipt of %s: %v", vnID, err)
	}
	rc, err := receipt.Peek(compact)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := tr.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	scratch := "forged/" + hex.EncodeToString(nonce[:])
	keep := retainUntil(s.Now(), 365)
	res, err := s.ingest(ctx, st, vault.Metadata{CaseReference: scratch, LegalBasis: "a forgery under test", AuthorisationReference: accessReference(scratch),
		AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep, OwnerOnly: true}, doc)
	if err != nil {
		t.Fatal(err)
	}
	custody, _, err := s.custodyOf(ctx, st, res)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	u := receipt.StatusUpdate{RequestID: rc.RequestID, Reference: rc.Reference, Type: rc.Type, Channel: rc.Channel, From: rc.From, To: rc.To,
		Transition: tr, Digest: "sha256:" + hex.EncodeToString(sum[:]), Custody: custody}
	if edit == nil {
		signed, err := st.signer.SignUpdate(u)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	edit(&u)
	payload, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return signJWS(t, p.vnServing(t), payload, receipt.TypeStatusUpdate)
}

func (p *adversaryCasePair) vnServing(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(p.vn.paths.TLSDir, "tls.crt"), filepath.Join(p.vn.paths.TLSDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// push hands France's gateway an update over Viet Nam's channel, as Viet Nam's
// gateway does.
func (p *adversaryCasePair) push(t *testing.T, update string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(wire.CaseUpdate{Update: update})
	return p.vnAtFR.mustCall(http.MethodPost, wire.PathUpdates, body)
}

// vnActQuietly takes a VN officer's action in process, without pushing the
// update to France: France then misses it, as when its gateway was down.
func (p *adversaryCasePair) vnActQuietly(t *testing.T, vnID string, a wire.CaseAction) string {
	t.Helper()
	st := p.vn.gw.current.Load()
	leaf, err := x509.ParseCertificate(p.vn.officer.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	update, _, f := p.vn.gw.act(t.Context(), st, st.channelOf("FR"), vnID, cases.Requested, vault.IdentityFromCertificate(leaf), a)
	if f != nil {
		t.Fatalf("%s: %d %+v", a.Action, f.status, f.body)
	}
	return update
}

// TestAdversaryCasesThirdState: Germany, with channels to both, reaches for
// France's request at Viet Nam (by its id, withdrawing it, reading it, acting
// as Viet Nam's officer) and relays Viet Nam's genuine update to France as its
// own. Each is refused, and France's request is untouched.
func TestAdversaryCasesThirdState(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	p.fr.connect(de, "Preservation")
	deAtFR := p.fr.clientFor(de.channelCert(de.connect(p.fr, "Preservation")), p.fr.trustPool())

	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
	mustStatus(t, "acknowledge", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	_ = json.Unmarshal(body, &cu)

	withdraw, _ := json.Marshal(wire.CaseAction{Action: cases.Withdraw, Reason: "Germany withdraws France's request"})
	for _, path := range []string{
		wire.PathRequests + "/" + vnID + "/transitions",
		wire.PathRequests + "/" + strings.ToUpper(vnID) + "/transitions",
		wire.PathRequests + "/" + vnID + "%2Ftransitions",
		wire.PathRequests + "/../requests/" + vnID + "/transitions",
		wire.PathCases + "/inbound/FR/" + vnID + "/transitions",
	} {
		status, body := deAtVN.mustCall(http.MethodPost, path, withdraw)
		if status < 400 || status >= 500 {
			t.Errorf("DE's POST %s: %d %s", path, status, body)
		}
		if strings.Contains(string(body), "Preservation") || strings.Contains(string(body), frID) {
			t.Errorf("DE's POST %s tells about France's request: %s", path, body)
		}
	}
	for _, path := range []string{wire.PathRequests + "/" + vnID, wire.PathCases + "/inbound/FR/" + vnID, wire.PathCases, wire.PathStatistics} {
		if status, body := deAtVN.mustCall(http.MethodGet, path, nil); status != http.StatusNotFound && status != http.StatusForbidden {
			t.Errorf("DE's GET %s: %d %s", path, status, body)
		}
	}
	// Ids guessed next to France's: not found, like any other.
	for _, guess := range []string{vnID[:34] + "0", "rq-" + strings.Repeat("f", 32)} {
		status, body := deAtVN.mustCall(http.MethodPost, wire.PathRequests+"/"+guess+"/transitions", withdraw)
		mustStatus(t, "a guessed id", status, body, http.StatusNotFound, wire.ReasonNotFound)
	}
	// Viet Nam's genuine update relayed by Germany: France checks it against
	// Germany's trust, and it is not Germany's.
	relayed, _ := json.Marshal(wire.CaseUpdate{Update: cu.Update})
	status, body = deAtFR.mustCall(http.MethodPost, wire.PathUpdates, relayed)
	if status != http.StatusBadRequest && status != http.StatusNotFound {
		t.Errorf("DE relays VN's update: %d %s", status, body)
	}
	// Germany's own officer's certificate is nobody's at Viet Nam.
	deOfficer := insistingClient(p.vn, de.officer)
	if status, _, err := deOfficer.call(http.MethodGet, wire.PathCases, nil); err == nil && status != http.StatusForbidden {
		t.Errorf("DE's officer lists VN's cases: %d", status)
	}
	// France's officer, whose CA Viet Nam trusts for France's channel, is not Viet Nam's officer.
	frOfficerAtVN := insistingClient(p.vn, p.fr.officer)
	if status, _, err := frOfficerAtVN.call(http.MethodGet, wire.PathCases, nil); err == nil && status != http.StatusForbidden {
		t.Errorf("FR's officer lists VN's cases: %d", status)
	}
	// Viet Nam's officer is not a sender, nor a peer pushing updates.
	if status, body := p.vnOfficer.mustCall(http.MethodPost, wire.PathRequests+"/"+vnID+"/transitions", withdraw); status != http.StatusForbidden {
		t.Errorf("VN's officer as the sender: %d %s", status, body)
	}
	if status, body := p.frOfficer.mustCall(http.MethodPost, wire.PathUpdates, relayed); status != http.StatusForbidden {
		t.Errorf("FR's officer pushing an update: %d %s", status, body)
	}

	if h, _ := p.vnHistory(t, vnID); len(h) != 1 || h.State() != cases.Acknowledged {
		t.Fatalf("VN's history after the attempts: %+v", h)
	}
	if h := p.frUpdates(t, frID); len(h) != 1 {
		t.Fatalf("FR holds %d updates, want 1", len(h))
	}
	p.checkLogsClean(t, "Germany withdraws")
}

// TestAdversaryCaseUpdatesPushed: Viet Nam's gateway, turned bad or replayed,
// pushes France updates it should not. France keeps only updates that verify
// against Viet Nam's CA for Viet Nam's server name, are of the request named,
// carry the digest of their own transition, and follow the updates it holds; a
// contradiction of a held update is refused and logged; an update that arrives
// after a gap is kept only once the missing ones are, and never acknowledged
// otherwise.
func TestAdversaryCaseUpdatesPushed(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	frID2, vnID2 := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-2"}))
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
	mustStatus(t, "acknowledge", status, body, http.StatusCreated, "")
	var first wire.CaseUpdate
	_ = json.Unmarshal(body, &first)
	held := *first.Transition
	if len(p.frUpdates(t, frID)) != 1 {
		t.Fatal("France did not keep the pushed acknowledgement")
	}
	next := func(seq int, a cases.Action, from, to cases.State, reason string) cases.Transition {
		return cases.Transition{RequestID: vnID, Sequence: seq, Action: a, By: cases.Requested, From: from, To: to, Time: p.clock.Now().UTC(), Reason: reason}
	}
	vnServing := p.vnServing(t)
	de := newCA(t, "DE")
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	stranger := forgeCert(t, de, &x509.Certificate{Subject: pkix.Name{CommonName: p.vn.serverName()}, DNSNames: []string{p.vn.serverName()}, ExtKeyUsage: serverAuth})
	otherName := forgeCert(t, p.vn.ca, &x509.Certificate{Subject: pkix.Name{CommonName: "gateway.xx.test"}, DNSNames: []string{"gateway.xx.test"}, ExtKeyUsage: serverAuth})
	resigned := func(cert tls.Certificate, compact string) string {
		u, err := receipt.PeekUpdate(compact)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(u)
		return signJWS(t, cert, payload, receipt.TypeStatusUpdate)
	}
	start := next(2, cases.Start, cases.Acknowledged, cases.InProgress, "")

	for _, tc := range []struct {
		name   string
		update func() string
		status int
	}{
		{"the held update, replayed", func() string { return first.Update }, http.StatusOK},
		{"the held transition, signed again", func() string { return p.forgeUpdate(t, vnID, held, nil) }, http.StatusOK},
		{"another transition under the held number", func() string {
			return p.forgeUpdate(t, vnID, next(1, cases.Start, cases.Received, cases.InProgress, ""), nil)
		}, http.StatusBadRequest},
		{"the held number with another reason", func() string {
			tr := held
			tr.Reason = "not what was signed before"
			return p.forgeUpdate(t, vnID, tr, nil)
		}, http.StatusBadRequest},
		{"a transition that leaves another state than the held one", func() string {
			return p.forgeUpdate(t, vnID, next(2, cases.Execute, cases.InProgress, cases.Executed, ""), nil)
		}, http.StatusBadRequest},
		{"a transition earlier than the held one", func() string {
			tr := start
			tr.Time = held.Time.Add(-time.Hour)
			return p.forgeUpdate(t, vnID, tr, nil)
		}, http.StatusBadRequest},
		{"the next transition, of the other request", func() string {
			tr := next(1, cases.Acknowledge, cases.Received, cases.Acknowledged, "")
			tr.RequestID = vnID2
			return p.forgeUpdate(t, vnID2, tr, func(u *receipt.StatusUpdate) { u.RequestID = vnID })
		}, http.StatusBadRequest},
		{"the next transition, its digest of something else", func() string {
			return p.forgeUpdate(t, vnID, start, func(u *receipt.StatusUpdate) { u.Digest = "sha256:" + strings.Repeat("ab", 32) })
		}, http.StatusBadRequest},
		{"the next transition, numbered 0", func() string {
			tr := start
			tr.Sequence = 0
			return p.forgeUpdate(t, vnID, tr, func(*receipt.StatusUpdate) {})
		}, http.StatusBadRequest},
		{"the next transition, numbered -1", func() string {
			tr := start
			tr.Sequence = -1
			return p.forgeUpdate(t, vnID, tr, func(*receipt.StatusUpdate) {})
		}, http.StatusBadRequest},
		{"the next transition, from France to Germany", func() string {
			return p.forgeUpdate(t, vnID, start, func(u *receipt.StatusUpdate) { u.To, u.Channel = "DE", "FR-DE" })
		}, http.StatusBadRequest},
		{"the next transition, signed by a CA France does not trust for Viet Nam", func() string {
			return resigned(stranger, p.forgeUpdate(t, vnID, start, nil))
		}, http.StatusBadRequest},
		{"the next transition, signed by Viet Nam's CA for another server name", func() string {
			return resigned(otherName, p.forgeUpdate(t, vnID, start, nil))
		}, http.StatusBadRequest},
		{"the next transition, as a receipt", func() string {
			u, _ := receipt.PeekUpdate(p.forgeUpdate(t, vnID, start, nil))
			payload, _ := json.Marshal(u)
			return signJWS(t, vnServing, payload, receipt.TypeReceipt)
		}, http.StatusBadRequest},
		{"a transition two numbers ahead, that Viet Nam never recorded", func() string {
			return p.forgeUpdate(t, vnID, next(3, cases.Execute, cases.InProgress, cases.Executed, ""), nil)
		}, http.StatusBadRequest},
		{"the next transition, dated an hour ahead", func() string {
			tr := start
			tr.Time = p.clock.Now().Add(time.Hour).UTC()
			return p.forgeUpdate(t, vnID, tr, nil)
		}, http.StatusBadRequest},
		{"an update for a request France never sent", func() string {
			return p.forgeUpdate(t, vnID, start, func(u *receipt.StatusUpdate) { u.Reference = "NEVER-SENT" })
		}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(p.frUpdates(t, frID))
			status, body := p.push(t, tc.update())
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			if h := p.frUpdates(t, frID); len(h) != before || h[0].Action != held.Action {
				t.Fatalf("France holds %d updates, held %d before", len(h), before)
			}
		})
	}
	if !strings.Contains(p.frLog.all(), "a peer signed two different transitions under one number") {
		t.Error("France did not log Viet Nam's contradiction")
	}
	// Dated ahead, it is taken once France's clock has caught up.
	ahead := start
	ahead.Time = p.clock.Now().Add(time.Hour).UTC()
	early := p.forgeUpdate(t, vnID, ahead, nil)
	status, body = p.push(t, early)
	mustStatus(t, "an update dated an hour ahead", status, body, http.StatusBadRequest, wire.ReasonUpdateInvalid)
	p.clock.advanceTo(time.Hour)
	status, body = p.push(t, early)
	mustStatus(t, "the same update an hour later", status, body, http.StatusCreated, "")

	// Viet Nam starts and executes the second request without pushing (France
	// was away); the push of the last one brings France the missing one first.
	p.vnActQuietly(t, vnID2, wire.CaseAction{Action: cases.Start})
	last := p.vnActQuietly(t, vnID2, wire.CaseAction{Action: cases.Execute})
	status, body = p.push(t, last)
	mustStatus(t, "an update after a gap", status, body, http.StatusCreated, "")
	if h := p.frUpdates(t, frID2); len(h) != 2 || h.State() != cases.Executed {
		t.Fatalf("France after the gap: %+v", h)
	}

	// Bodies: oversized, cut off, duplicated members, unknown members.
	status, body, err := p.vnAtFR.call(http.MethodPost, wire.PathUpdates, padTo(t, []byte(`{"update":"a.b.c"}`), wire.MaxRequestBody+1))
	if err == nil && status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized push: %d %s", status, body)
	}
	for name, raw := range map[string]string{
		"two update members":   `{"update":"` + first.Update + `","update":"a.b.c"}`,
		"an unknown member":    `{"update":"` + first.Update + `","secret":"` + secretValue + `"}`,
		"an Update member":     `{"Update":"` + first.Update + `"}`,
		"data after the value": `{"update":"` + first.Update + `"}]`,
		"null":                 `null`,
		"a string":             `"` + first.Update + `"`,
	} {
		status, body := p.vnAtFR.mustCall(http.MethodPost, wire.PathUpdates, []byte(raw))
		if status != http.StatusBadRequest || strings.Contains(string(body), secretValue) {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	conn := dialGateway(t, p.fr, p.vn.channelCert(p.vnToFR))
	defer conn.Close()
	push, _ := json.Marshal(wire.CaseUpdate{Update: first.Update})
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", wire.PathUpdates, p.fr.serverName(), len(push)+10)
	if _, err := io.WriteString(conn, head+string(push)); err != nil {
		t.Fatal(err)
	}
	_ = conn.CloseWrite()
	if resp, body, err := readAnswer(conn, 10*time.Second); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a cut-off push: %d %s", resp.StatusCode, body)
	}
	p.checkLogsClean(t)
}

// TestAdversaryCaseActionLookalikes: actions that are almost right, spelt,
// repeated or framed so that one reader could take them for another action,
// through the officers' API and the sender's. None moves the request; none is
// repeated in the answer or in a log line.
func TestAdversaryCaseActionLookalikes(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	_, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	officerPath := wire.PathCases + "/inbound/FR/" + vnID + "/transitions"
	senderPath := wire.PathRequests + "/" + vnID + "/transitions"
	control := "Ask\x1b]8;;https://evil.example/\x07here\x1b]8;;\x07\x1b[2J" + secretValue
	for _, tc := range []struct {
		name, body string
		// sender sends it over France's channel instead of as Viet Nam's officer.
		sender bool
	}{
		{"lower case", `{"action":"acknowledge"}`, false},
		{"a trailing space", `{"action":"Acknowledge "}`, false},
		{"a leading zero-width space", `{"action":"\u200bAcknowledge"}`, false},
		{"a Cyrillic A", `{"action":"Аcknowledge"}`, false},
		{"a fullwidth letter", `{"action":"Ａcknowledge"}`, false},
		{"a NUL inside", `{"action":"Acknowledge\u0000"}`, false},
		{"the planted value", `{"action":"` + secretValue + `"}`, false},
		{"a number", `{"action":1}`, false},
		{"null", `{"action":null}`, false},
		{"empty", `{}`, false},
		{"an array", `[{"action":"Acknowledge"}]`, false},
		{"an ACTION member", `{"ACTION":"Acknowledge"}`, false},
		{"an Action member after action", `{"action":"Refuse","Action":"Acknowledge"}`, false},
		{"action twice", `{"action":"Refuse","action":"Acknowledge"}`, false},
		{"an escaped member name twice", `{"action":"Refuse","\u0061ction":"Acknowledge"}`, false},
		{"data after the object", `{"action":"Acknowledge"}}`, false},
		{"two objects", `{"action":"Acknowledge"}{"action":"Execute"}`, false},
		{"an unknown member with the planted value", `{"action":"Acknowledge","note":"` + secretValue + `"}`, false},
		{"a lookalike ground", `{"action":"Refuse","reason":"no","grounds":["other"]}`, false},
		{"a ground twice", `{"action":"Refuse","reason":"no","grounds":["Other","Other"]}`, false},
		{"the planted value as a ground", `{"action":"Refuse","reason":"no","grounds":["` + secretValue + `"]}`, false},
		{"grounds on an acknowledgement", `{"action":"Acknowledge","grounds":["Other"]}`, false},
		{"a refusal with only blanks for a reason", `{"action":"Refuse","reason":" \n\t ","grounds":["Other"]}`, false},
		{"a reason one byte over the bound", `{"action":"RequestClarification","reason":"` + strings.Repeat("a", cases.MaxReasonBytes+1) + `"}`, false},
		{"a reason with terminal escapes", `{"action":"RequestClarification","reason":` + jsonString(control) + `}`, false},
		{"a reason with a right-to-left override", `{"action":"RequestClarification","reason":"which account\u202e` + secretValue + `"}`, false},
		{"an expected state that is no state", `{"action":"Acknowledge","expectedState":"` + secretValue + `"}`, false},
		{"an expected state in lower case", `{"action":"Acknowledge","expectedState":"received"}`, false},
		{"the sender acknowledges", `{"action":"Acknowledge"}`, true},
		{"the sender withdraws with no reason", `{"action":"Withdraw"}`, true},
		{"the sender withdraws twice over", `{"action":"Withdraw","reason":"x","action":"Acknowledge"}`, true},
		{"the sender clarifies with terminal escapes", `{"action":"Withdraw","reason":` + jsonString(control) + `}`, true},
		{"the sender with the planted value", `{"action":"Withdraw","reason":"x","expectedState":"` + secretValue + `"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, path := p.vnOfficer, officerPath
			if tc.sender {
				cl, path = p.frAtVN, senderPath
			}
			status, body := cl.mustCall(http.MethodPost, path, []byte(tc.body))
			if status < 400 || status >= 500 {
				t.Fatalf("%d %s", status, truncateText(string(body), 200))
			}
			if strings.Contains(string(body), secretValue) || strings.Contains(string(body), "\x1b") {
				t.Fatalf("the refusal repeats the input: %s", body)
			}
		})
	}
	// At the bound a reason is taken, whole.
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.RequestClarification, Reason: strings.Repeat("é", cases.MaxReasonBytes/2)})
	mustStatus(t, "a reason at the bound", status, body, http.StatusCreated, "")
	if h, _ := p.vnHistory(t, vnID); len(h) != 1 || h[0].Action != cases.RequestClarification {
		t.Fatalf("VN's history: %+v", h)
	}
	p.checkLogsClean(t, "\x1b", "é")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAdversaryCaseActionsRace: Viet Nam's officers take every action at once on
// one request while France's officers clarify it, withdraw it and read it.
// Exactly one action wins each number; every answer 201 is a transition in the
// history, which holds together, on both sides. France's steps go through its
// officers, as France's gateway sends nothing else: a Clarify sent to Viet Nam
// with France's channel certificate alone is a step none of France's officers
// asked for, which France refuses to take into its view of the case (its status
// updates stop there), so France could not agree.
func TestAdversaryCaseActionsRace(t *testing.T) {
	p := newAdversaryCasePair(t, func(s *Server) { s.PerPeerConcurrency = 64 })
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	officerActions := []wire.CaseAction{
		{Action: cases.Acknowledge}, {Action: cases.Start}, {Action: cases.Execute},
		{Action: cases.RequestClarification, Reason: "Which account?"},
		{Action: cases.Refuse, Reason: "Not an offence here.", Grounds: []cases.Ground{cases.GroundDualCriminality}},
		{Action: cases.Start, ExpectedState: cases.Acknowledged},
	}
	type answer struct {
		status int
		body   []byte
	}
	const rounds = 4
	answers := make(chan answer, rounds*(len(officerActions)+2))
	var wg sync.WaitGroup
	for range rounds {
		for _, a := range officerActions {
			wg.Go(func() {
				status, body := p.vnAct(t, vnID, a)
				answers <- answer{status, body}
			})
		}
		wg.Go(func() {
			status, out := p.frAct(t, frID, wire.CaseAction{Action: cases.Clarify, Reason: "The first account."})
			answers <- answer{status, out}
		})
		wg.Go(func() {
			status, out := p.frAct(t, frID, wire.CaseAction{Action: cases.Withdraw, Reason: "No longer needed."})
			answers <- answer{status, out}
		})
		wg.Go(func() { p.frAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+vnID, nil) })
	}
	wg.Wait()
	close(answers)
	won := map[int]cases.Transition{}
	for a := range answers {
		switch a.status {
		case http.StatusCreated:
			var cu wire.CaseUpdate
			if err := json.Unmarshal(a.body, &cu); err != nil || cu.Transition == nil {
				t.Fatalf("a 201 without a transition: %s", a.body)
			}
			if other, ok := won[cu.Transition.Sequence]; ok {
				t.Fatalf("transition %d answered twice: %s and %s", cu.Transition.Sequence, other.Action, cu.Transition.Action)
			}
			won[cu.Transition.Sequence] = *cu.Transition
		case http.StatusConflict, http.StatusBadRequest:
		default:
			t.Errorf("an answer %d %s", a.status, a.body)
		}
	}
	h, updates := p.vnHistory(t, vnID)
	if err := cases.CheckHistory(h); err != nil {
		t.Fatalf("VN's history does not hold together: %v", err)
	}
	if len(h) != len(won) || len(updates) != len(h) {
		t.Fatalf("%d transitions won, %d recorded, %d signed", len(won), len(h), len(updates))
	}
	for _, tr := range h {
		if w := won[tr.Sequence]; w.Action != tr.Action || !w.Time.Equal(tr.Time) {
			t.Fatalf("transition %d recorded as %s, answered as %s", tr.Sequence, tr.Action, w.Action)
		}
	}
	if !h.State().Terminal() {
		t.Fatalf("after every action the request is %s", h.State())
	}
	// France, reading the case, fetches what it missed and agrees.
	fc := getCase(t, p.frOfficer, "/outbound/VN/"+frID)
	if len(fc.Transitions) != len(h) || fc.State != h.State() {
		t.Fatalf("France sees %s after %d transitions, Viet Nam %s after %d", fc.State, len(fc.Transitions), h.State(), len(h))
	}
	t.Logf("%d transitions, ending %s", len(h), h.State())
	p.checkLogsClean(t, "Which account?", "No longer needed.")
}

// TestAdversaryCaseVaultStopsMidTransition: Viet Nam's vault stops while its
// officers act on many requests at once. Every action answered 201 has its
// transition and its signed update in the vault; after the vault is back, a
// transition recorded without its update (the gateway stopped between the two)
// is signed when the request is next read, and both States' histories hold
// together.
func TestAdversaryCaseVaultStopsMidTransition(t *testing.T) {
	const total = 12
	p := newAdversaryCasePair(t, func(s *Server) { s.PerPeerConcurrency = 4 * total })
	type request struct {
		frID, vnID string
		status     int
		body       []byte
	}
	reqs := make([]request, total)
	for i := range reqs {
		reqs[i].frID, reqs[i].vnID = p.send(t, example(t, "Preservation", map[string]any{"/reference": fmt.Sprintf("%s-%d", reference(t), i)}))
	}
	answered := make(chan struct{}, total)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			defer func() { answered <- struct{}{} }()
			reqs[i].status, reqs[i].body = p.vnAct(t, reqs[i].vnID, wire.CaseAction{Action: cases.RequestClarification, Reason: "Which account? " + secretValue})
		})
	}
	<-answered
	p.vnVault.stop()
	wg.Wait()
	p.vnVault.start()

	acked := 0
	for i, r := range reqs {
		switch r.status {
		case http.StatusCreated:
			acked++
			var cu wire.CaseUpdate
			if err := json.Unmarshal(r.body, &cu); err != nil {
				t.Fatal(err)
			}
			if !holds(t, p.vn.vault, []byte(cu.Update)) {
				t.Errorf("request %d: answered 201 but the vault does not hold the signed update", i)
			}
			doc, _ := cu.Transition.Canonical()
			if !holds(t, p.vn.vault, doc) {
				t.Errorf("request %d: answered 201 but the vault does not hold the transition", i)
			}
		case http.StatusServiceUnavailable:
			if strings.Contains(string(r.body), secretValue) {
				t.Errorf("request %d: the refusal repeats the reason: %s", i, r.body)
			}
		default:
			t.Errorf("request %d: %d %s", i, r.status, r.body)
		}
	}
	t.Logf("%d of %d answered 201 around the stop", acked, total)

	// The sender reads each request: a transition without its update is signed
	// now; what it is given verifies and holds together.
	for i, r := range reqs {
		status, body := p.frAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+r.vnID, nil)
		var rs wire.RequestState
		if status != http.StatusOK || json.Unmarshal(body, &rs) != nil {
			t.Fatalf("request %d's state: %d %s", i, status, body)
		}
		var h cases.History
		for _, compact := range rs.Updates {
			u, _, err := receipt.VerifyUpdate(compact, p.vn.trustPool(), p.vn.serverName(), time.Now())
			if err != nil {
				t.Fatalf("request %d: an update does not verify: %v", i, err)
			}
			h = append(h, u.Transition)
		}
		if err := cases.CheckHistory(h); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if r.status == http.StatusCreated && len(h) != 1 {
			t.Fatalf("request %d was answered 201, its history has %d transitions", i, len(h))
		}
		// Nothing recorded is left unsigned.
		st := p.vn.gw.current.Load()
		held, err := st.vault.ObjectsByCase(t.Context(), transitionCase("inbound/FR/"+r.vnID, len(h)+1))
		if err != nil || len(held) != 0 {
			t.Fatalf("request %d: transition %d recorded but not in the state given: %v", i, len(h)+1, err)
		}
		// The officers' retry finds where the request stands.
		status, body = p.vnAct(t, r.vnID, wire.CaseAction{Action: cases.RequestClarification, Reason: "Which account?", ExpectedState: cases.Received})
		if (len(h) == 0 && status != http.StatusCreated) || (len(h) == 1 && status != http.StatusConflict) {
			t.Fatalf("request %d retried with %d transitions: %d %s", i, len(h), status, body)
		}
		fc := getCase(t, p.frOfficer, "/outbound/VN/"+r.frID)
		if fc.State != cases.ClarificationRequested || len(fc.Transitions) != 1 {
			t.Fatalf("France sees request %d %s with %d transitions", i, fc.State, len(fc.Transitions))
		}
	}
	rep, err := p.vn.vault.Verify(context.Background(), vault.SystemIdentity)
	if err != nil || !rep.OK() {
		t.Errorf("the vault does not verify: %v %+v", err, rep)
	}
	p.checkLogsClean(t, "Which account?")
}

// TestAdversaryCaseTransitionWithoutUpdate: a transition recorded without its
// signed update (the gateway stopped between the two ingests) is signed when
// the request is next read or moved, and numbered where it is; one that does
// not follow the history (written by a faulty replica) is not signed.
func TestAdversaryCaseTransitionWithoutUpdate(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	_, badID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-bad"}))
	s, st := p.vn.gw, p.vn.gw.current.Load()
	record := func(id string, tr cases.Transition) {
		doc, err := tr.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		caseRef := transitionCase("inbound/FR/"+id, tr.Sequence)
		keep := retainUntil(s.Now(), 365)
		if _, err := s.ingest(t.Context(), st, vault.Metadata{CaseReference: caseRef, LegalBasis: "test", AuthorisationReference: accessReference(caseRef),
			AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep, Exclusive: true, OwnerOnly: true}, doc); err != nil {
			t.Fatal(err)
		}
	}
	now := p.clock.Now().UTC()
	record(vnID, cases.Transition{RequestID: vnID, Sequence: 1, Action: cases.Acknowledge, By: cases.Requested, From: cases.Received, To: cases.Acknowledged, Time: now})
	// The officers' view shows what is signed.
	if c := getCase(t, p.vnOfficer, "/inbound/FR/"+vnID); c.State != cases.Received {
		t.Fatalf("the unsigned transition shown: %s", c.State)
	}
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Start, ExpectedState: cases.Acknowledged})
	mustStatus(t, "start after the unsigned acknowledgement", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	if err := json.Unmarshal(body, &cu); err != nil || cu.Transition.Sequence != 2 {
		t.Fatalf("the start: %s", body)
	}
	fc := getCase(t, p.frOfficer, "/outbound/VN/"+frID)
	if len(fc.Transitions) != 2 || fc.State != cases.InProgress {
		t.Fatalf("France after the repair: %s with %d transitions", fc.State, len(fc.Transitions))
	}

	// A transition that leaves a state the request was never in.
	record(badID, cases.Transition{RequestID: badID, Sequence: 1, Action: cases.Execute, By: cases.Requested, From: cases.InProgress, To: cases.Executed, Time: now})
	status, body = p.frAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+badID, nil)
	if status == http.StatusOK {
		var rs wire.RequestState
		_ = json.Unmarshal(body, &rs)
		if len(rs.Updates) != 0 || rs.State != cases.Received {
			t.Fatalf("a transition that does not follow was signed: %s with %d updates", rs.State, len(rs.Updates))
		}
	}
	if held, _ := st.vault.ObjectsByCase(t.Context(), signedCase("inbound/FR/"+badID, 1)); len(held) != 0 {
		t.Fatal("a transition that does not follow the history was signed")
	}
}

// TestAdversaryCaseStatisticsQuery: periods that are not periods, injected
// text and a peer's certificate. None is echoed; none is a server error.
func TestAdversaryCaseStatisticsQuery(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	for _, q := range []string{
		"from=" + secretValue,
		"from=2026-01-01T00:00:00Z%0A" + secretValue,
		"to=2026-13-01T00:00:00Z",
		"from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
		"from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
		"from=2026-01-01&to=2027-01-01",
		"from=0000-01-01T00:00:00%2B23:59",
		"from=0000-01-01T00:00:00%2B23:59&to=9999-12-31T23:59:59-23:59",
		"to=9999-12-31T23:59:59-23:59",
		"from=2026-01-01T00:00:00Z&from=" + secretValue,
		"format=csv&from=" + secretValue,
		"format=CSV%00",
	} {
		status, body := p.vnOfficer.mustCall(http.MethodGet, wire.PathStatistics+"?"+q, nil)
		if status >= 500 || strings.Contains(string(body), secretValue) {
			t.Errorf("?%s: %d %s", q, status, body)
		}
	}
	for _, path := range []string{wire.PathStatistics, wire.PathCases + "?state=" + secretValue, wire.PathCases + "?direction=%00"} {
		if status, body := p.frAtVN.mustCall(http.MethodGet, path, nil); status != http.StatusForbidden {
			t.Errorf("the peer's GET %s: %d %s", path, status, body)
		}
		if status, body := p.vnOfficer.mustCall(http.MethodGet, path, nil); status != http.StatusOK || strings.Contains(string(body), secretValue) {
			t.Errorf("the officer's GET %s: %d %s", path, status, body)
		}
	}
	p.checkLogsClean(t)
}

// TestAdversaryCaseBodies: on the new POST endpoints, a body over the bound, a
// body cut off after a complete action, and a body trickled slower than the
// read timeout move nothing.
func TestAdversaryCaseBodies(t *testing.T) {
	p := newAdversaryCasePair(t, func(s *Server) { s.Timeouts.Read = time.Second })
	_, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	withdraw := []byte(`{"action":"Withdraw","reason":"no longer needed"}`)
	acknowledge := []byte(`{"action":"Acknowledge"}`)
	targets := []struct {
		name   string
		c      *country
		cert   tls.Certificate
		path   string
		action []byte
	}{
		{"the sender's action", p.vn, p.fr.channelCert(p.frToVN), wire.PathRequests + "/" + vnID + "/transitions", withdraw},
		{"the officer's action", p.vn, p.vn.officer, wire.PathCases + "/inbound/FR/" + vnID + "/transitions", acknowledge},
		{"a pushed update", p.fr, p.vn.channelCert(p.vnToFR), wire.PathUpdates, []byte(`{"update":"a.b.c"}`)},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			cl := tg.c.clientFor(tg.cert, tg.c.trustPool())
			status, body, err := cl.call(http.MethodPost, tg.path, padTo(t, tg.action, wire.MaxRequestBody+1))
			if err == nil && status != http.StatusRequestEntityTooLarge {
				t.Errorf("oversized: %d %s", status, body)
			}
			head := func(n int) string {
				return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", tg.path, tg.c.serverName(), n)
			}
			// Cut off: the whole action, then less padding than declared.
			conn := dialGateway(t, tg.c, tg.cert)
			defer conn.Close()
			if _, err := io.WriteString(conn, head(len(tg.action)+50)+string(tg.action)+"  "); err != nil {
				t.Fatal(err)
			}
			_ = conn.CloseWrite()
			if resp, body, err := readAnswer(conn, 10*time.Second); err == nil && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("cut off: %d %s", resp.StatusCode, body)
			}
			// Slow: half the action, then nothing; the read timeout ends it.
			slow := dialGateway(t, tg.c, tg.cert)
			defer slow.Close()
			if _, err := io.WriteString(slow, head(len(tg.action))+string(tg.action[:len(tg.action)/2])); err != nil {
				t.Fatal(err)
			}
			resp, body, err := readAnswer(slow, 10*time.Second)
			if err == nil && resp.StatusCode < 400 {
				t.Errorf("slow: %d %s", resp.StatusCode, body)
			}
		})
	}
	if h, _ := p.vnHistory(t, vnID); len(h) != 0 {
		t.Fatalf("the request moved: %+v", h)
	}
}

// TestAdversaryCasePeerAnswersAnotherAction: France's officer withdraws a
// request, and Viet Nam's gateway answers with a genuine update of another
// action (its own officer's acknowledgement). France keeps the update, which
// is Viet Nam's to sign, but does not tell its officer the withdrawal was done.
func TestAdversaryCasePeerAnswersAnotherAction(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	serving := p.vn.issue("", pkiServerSpec(p.vn.serverName()))
	fake := httptestTLS(t, serving, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions") {
			update := p.vnActQuietly(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
			writeJSON(w, http.StatusCreated, wire.CaseUpdate{Update: update})
			return
		}
		status, answer := p.frAtVN.mustCall(r.Method, r.URL.Path, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(answer)
	}))
	p.fr.channels.Channels[0].Endpoint = fake
	p.fr.writeChannels()

	status, body := p.frAct(t, frID, wire.CaseAction{Action: cases.Withdraw, Reason: "No longer needed."})
	if status == http.StatusCreated {
		t.Fatalf("France's officer told the withdrawal was done: %s", truncateText(string(body), 300))
	}
	if r := refusalOf(t, body); r.Reason != wire.ReasonUpdateInvalid {
		t.Fatalf("the refusal: %+v", r)
	}
	if h := p.frUpdates(t, frID); len(h) != 1 || h[0].Action != cases.Acknowledge {
		t.Fatalf("France holds %+v", h)
	}
}

func pkiServerSpec(name string) pki.LeafSpec {
	return pki.LeafSpec{CommonName: name, DNSNames: []string{name}, Usages: []pki.Usage{pki.UsageServer}}
}

// httptestTLS serves h over TLS 1.3 with serving and returns its URL.
func httptestTLS(t *testing.T, serving tls.Certificate, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAdversaryOfficerClientTargets: the officers' client sends only exact
// targets (no dot segments, queries or escapes ride along), and prints a
// refusal relayed from a peer without its control characters.
func TestAdversaryOfficerClientTargets(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	c, err := officer.New(p.vn.url, p.vn.serverName(), p.vn.officer, p.vn.trustPool())
	if err != nil {
		t.Fatal(err)
	}
	zeros := strings.Repeat("0", 32)
	for _, target := range []string{"inbound/../rq-" + zeros, "inbound/FR/rq-" + zeros + "?format=csv", "inbound/fr/rq-" + zeros,
		"inbound/FR/rq-" + strings.ToUpper(zeros[:31]) + "A", "inbound/FR/rq-" + zeros + "%2F..", "inbound/FR/rq-" + zeros + "\n"} {
		if _, err := c.Show(t.Context(), target); err == nil || !strings.Contains(err.Error(), "a request is named") {
			t.Errorf("%q: %v", target, err)
		}
	}
	relayed := &officer.Error{Status: http.StatusConflict, Refusal: wire.Refusal{Reason: "TransitionNotAllowed",
		Error: "VN refused the action: \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\u202eok\u009b2J"}}
	if msg := relayed.Error(); strings.ContainsAny(msg, "\x1b\x07\u202e\u009b") || !strings.Contains(msg, "click") {
		t.Fatalf("printed: %q", msg)
	}
}

// TestAdversaryCaseFilesEditedWhileStopped: while Viet Nam's vault is stopped,
// the stored signed update of a transition is edited on disk. Once it is back,
// the gateway (its memory of records cleared, as after a restart) neither
// serves the edited update nor moves the request on top of it.
func TestAdversaryCaseFilesEditedWhileStopped(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	_, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
	mustStatus(t, "acknowledge", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	_ = json.Unmarshal(body, &cu)
	sum := sha256.Sum256([]byte(cu.Update))
	file := filepath.Join(p.vnVault.cfg.Dir, "objects", "sha256", hex.EncodeToString(sum[:]))

	p.vnVault.stop()
	stored, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the signed update's object: %v", err)
	}
	stored[len(stored)/2] ^= 0x20
	if err := os.WriteFile(file, stored, 0o600); err != nil {
		t.Fatal(err)
	}
	p.vnVault.start()
	p.vn.gw.receipts.mu.Lock()
	p.vn.gw.receipts.entries = nil
	p.vn.gw.receipts.mu.Unlock()

	status, body = p.frAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+vnID, nil)
	if status == http.StatusOK {
		var rs wire.RequestState
		_ = json.Unmarshal(body, &rs)
		for _, u := range rs.Updates {
			if u != cu.Update {
				t.Fatalf("an edited update was served")
			}
		}
	} else if status != http.StatusServiceUnavailable {
		t.Fatalf("reading the request: %d %s", status, body)
	}
	read := status
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Start})
	if status == http.StatusCreated {
		h, _ := p.vnHistory(t, vnID)
		if err := cases.CheckHistory(h); err != nil || len(h) != 2 {
			t.Fatalf("moved on top of an edited record: %v, %+v", err, h)
		}
	} else if status != http.StatusServiceUnavailable {
		t.Fatalf("moving the request: %d %s", status, body)
	}
	t.Logf("read: %d, moved: %d", read, status)
	p.checkLogsClean(t)
}

// TestAdversaryCaseHoldFromAnotherState: Germany sends Viet Nam an extension
// and an assistance request naming France's preservation by its reference, to
// keep France's preserved data held (or to learn whether it exists). A
// preservation is extended and held only by requests over its own channel.
func TestAdversaryCaseHoldFromAnotherState(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation", "MutualLegalAssistance")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	ref := reference(t)
	_, preservation := p.send(t, example(t, "Preservation", map[string]any{"/reference": ref}))
	for name, doc := range map[string][]byte{
		"an extension":          example(t, "Preservation", map[string]any{"/reference": ref + "-de-ext", "/kind": "Extension", "/extends": ref}),
		"an assistance request": example(t, "MutualLegalAssistance", map[string]any{"/reference": ref + "-de-mla", "/preservationReferences": []string{ref}}),
	} {
		status, body := deAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
		if status != http.StatusCreated {
			t.Fatalf("DE's %s: %d %s", name, status, body)
		}
		if strings.Contains(string(body), preservation) {
			t.Fatalf("DE's %s is told of France's request: %s", name, body)
		}
	}
	status, body := p.vnAct(t, preservation, wire.CaseAction{Action: cases.Start})
	mustStatus(t, "start", status, body, http.StatusCreated, "")
	status, body = p.vnAct(t, preservation, wire.CaseAction{Action: cases.Execute})
	mustStatus(t, "execute", status, body, http.StatusCreated, "")
	c := getCase(t, p.vnOfficer, "/inbound/FR/"+preservation)
	if c.Preservation == nil || len(c.Preservation.Extensions) != 0 || len(c.Preservation.HeldFor) != 0 {
		t.Fatalf("Germany's requests reach France's preservation: %+v", c.Preservation)
	}
}

// TestAdversaryCaseClockBehind: one officer acts on a replica whose clock is two
// minutes ahead, the next on one whose clock is right (or a clock stepped
// back). The second transition is not earlier than the first, so the sender,
// which refuses a history that goes back in time, keeps both.
func TestAdversaryCaseClockBehind(t *testing.T) {
	p := newAdversaryCasePair(t, nil)
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	p.clock.advanceTo(2 * time.Minute)
	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
	mustStatus(t, "acknowledge, two minutes ahead", status, body, http.StatusCreated, "")
	p.clock.advanceTo(0)
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Start})
	mustStatus(t, "start, on time", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	if err := json.Unmarshal(body, &cu); err != nil || cu.Delivered == nil || !*cu.Delivered {
		t.Fatalf("the start was not delivered to France: %s", truncateText(string(body), 300))
	}
	if h := p.frUpdates(t, frID); len(h) != 2 {
		t.Fatalf("France holds %d updates, want 2", len(h))
	}
	h, _ := p.vnHistory(t, vnID)
	if err := cases.CheckHistory(h); err != nil {
		t.Fatalf("Viet Nam's history: %v", err)
	}
}
