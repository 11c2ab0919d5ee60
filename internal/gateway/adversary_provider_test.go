package gateway

// Adversarial tests of service providers (articles 25 to 27): a provider's
// gateway in provider mode, and a State's gateway facing one. Tests named
// TestAdversaryProvider... document a defence that held when they were written;
// tests named TestAdversaryFixed... reproduce a defect the adversarial pass found,
// fixed since: each failed before its fix.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// order sends the provider an order of type typ from VN's officer and returns
// the provider's id of it and VN's own.
func (p *providerPair) order(t *testing.T, typ string) (spID, vnID string) {
	t.Helper()
	ref := reference(t) + "-" + typ
	status, body := p.send(t, example(t, typ, map[string]any{"/reference": ref}))
	mustStatus(t, "send an order", status, body, http.StatusCreated, "")
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.RequestID, requestID(direction{name: "outbound", from: "VN", to: testProvider}, ref)
}

// forger is a rogue operator of a requested side's gateway: it records and signs
// whatever transition it likes on a request it received (its own key, its own
// vault, so the update verifies), and pushes it to the sender.
type forger struct {
	t       *testing.T
	c       *country // the requested side
	channel string   // its channel to the sender
	sender  string   // the sender's party
	id      string   // the requested side's id of the request
}

func (f forger) ref() string {
	return caseOf(direction{name: "inbound", from: f.sender, to: f.c.party()}, f.sender, f.id)
}

func (f forger) state() (*state, *receipt.Receipt, cases.History) {
	f.t.Helper()
	st := f.c.gw.current.Load()
	compact, err := f.c.gw.storedReceipt(f.t.Context(), st, f.ref())
	if err != nil || compact == "" {
		f.t.Fatalf("the receipt of %s: %q, %v", f.ref(), compact, err)
	}
	rc, err := receipt.Peek(compact)
	if err != nil {
		f.t.Fatal(err)
	}
	h, _, err := f.c.gw.inboundHistory(f.t.Context(), st, liveLocator(st), f.ref(), rc, false)
	if err != nil {
		f.t.Fatal(err)
	}
	return st, rc, h
}

// next builds the transition that follows the history held, as the forger wants it.
func (f forger) next(action cases.Action, by cases.Party, to cases.State, at time.Time, reason string, grounds ...cases.Ground) cases.Transition {
	_, _, h := f.state()
	return cases.Transition{RequestID: f.id, Sequence: len(h) + 1, Action: action, By: by, From: h.State(), To: to,
		Time: at.UTC(), Reason: reason, Grounds: grounds}
}

// record records and signs tr at the requested side, bypassing its lifecycle.
func (f forger) record(tr cases.Transition) string {
	f.t.Helper()
	st, rc, _ := f.state()
	ch := st.channels[f.channel]
	update, taken, err := f.c.gw.recordTransition(f.t.Context(), st, f.ref(), rc, tr, rogueIdentity(f.t, f.c), ch.LegalBasis, retainUntil(time.Now(), 365))
	if err != nil || taken {
		f.t.Fatalf("recording transition %d: taken %v, %v", tr.Sequence, taken, err)
	}
	return update
}

// push hands an update to the sender's gateway over the channel.
func (f forger) push(update string) error {
	return f.c.gw.current.Load().channels[f.channel].client.Push(f.t.Context(), update)
}

// rogueIdentity is the actor of what a rogue gateway records: its own officer.
func rogueIdentity(t *testing.T, c *country) vault.Identity {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.officer.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return vault.IdentityFromCertificate(leaf)
}

func (p *providerPair) forger(t *testing.T, spID string) forger {
	return forger{t: t, c: p.sp, channel: p.spToVN, sender: "VN", id: spID}
}

// rogueServer serves h with c's serving certificate, as c's gateway would if its
// operator replaced it; the returned URL goes into a channel's endpoint.
func rogueServer(t *testing.T, c *country, h http.Handler) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.paths.TLSDir, "tls.crt"), filepath.Join(c.paths.TLSDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// pointChannel makes c's channel name call endpoint.
func (c *country) pointChannel(name, endpoint string) {
	c.t.Helper()
	for i := range c.channels.Channels {
		if c.channels.Channels[i].Name == name {
			c.channels.Channels[i].Endpoint = endpoint
		}
	}
	c.writeChannels()
}

func pushRefused(t *testing.T, what string, err error) {
	t.Helper()
	var pe *peer.Error
	if !errors.As(err, &pe) || pe.Status/100 != 4 {
		t.Fatalf("%s: the push was not refused: %v", what, err)
	}
}

// --- defences that hold ----------------------------------------------------

// TestAdversaryProviderModeTypeConfusion: a provider's gateway takes no type it
// must not, however the document names it: a type listed on the channel but not
// a provider's, duplicate "type" members in either order, case variants and
// escapes. Nothing refused reaches the provider's vault.
func TestAdversaryProviderModeTypeConfusion(t *testing.T) {
	p := newProviderPair(t)
	asVN := p.sp.clientFor(p.vn.channelCert(p.vnToSP), p.sp.trustPool())
	mla := example(t, "MutualLegalAssistance", map[string]any{"/reference": reference(t) + "-mla"})
	pres := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-pres"})
	withType := func(doc []byte, raw string) []byte {
		return append(append([]byte{}, doc[:len(doc)-1]...), []byte(`,"type":`+raw+`}`)...)
	}
	retyped := func(doc []byte, raw string) []byte {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		m["type"] = json.RawMessage(raw)
		out, _ := json.Marshal(m)
		return out
	}
	docs := map[string]struct {
		doc    []byte
		status int
		reason string
	}{
		"assistance listed on the channel":   {mla, http.StatusForbidden, wire.ReasonProviderMode},
		"emergency disclosure":               {retyped(mla, `"EmergencyDisclosure"`), http.StatusForbidden, wire.ReasonProviderMode},
		"interception":                       {retyped(mla, `"Interception"`), http.StatusForbidden, wire.ReasonProviderMode},
		"asset freezing":                     {retyped(mla, `"AssetFreezing"`), http.StatusForbidden, wire.ReasonProviderMode},
		"assistance escaped":                 {retyped(mla, `"\u004dutualLegalAssistance"`), http.StatusForbidden, wire.ReasonProviderMode},
		"preservation, then assistance":      {withType(pres, `"MutualLegalAssistance"`), http.StatusForbidden, wire.ReasonProviderMode},
		"assistance, then preservation":      {withType(mla, `"Preservation"`), http.StatusBadRequest, wire.ReasonMalformedRequest},
		"assistance in lower case":           {retyped(mla, `"mutuallegalassistance"`), http.StatusBadRequest, wire.ReasonMalformedRequest},
		"preservation in lower case":         {retyped(pres, `"preservation"`), http.StatusBadRequest, wire.ReasonMalformedRequest},
		"assistance with a trailing space":   {retyped(mla, `"MutualLegalAssistance "`), http.StatusBadRequest, wire.ReasonMalformedRequest},
		"assistance with a zero-width joint": {retyped(mla, `"Mutual\u200dLegalAssistance"`), http.StatusBadRequest, wire.ReasonMalformedRequest},
		"type as an array":                   {retyped(mla, `["MutualLegalAssistance"]`), http.StatusBadRequest, wire.ReasonMalformedRequest},
	}
	before := p.sp.vault.Status().Objects
	for name, tc := range docs {
		status, body := asVN.mustCall(http.MethodPost, wire.PathRequests, tc.doc)
		if status != tc.status || refusalOf(t, body).Reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", name, status, body, tc.status, tc.reason)
		}
	}
	if after := p.sp.vault.Status().Objects; after != before {
		t.Fatalf("refused documents left %d objects in the provider's vault", after-before)
	}
	// The same channel still takes a provider's order: the refusals above are
	// the type's, not the channel's.
	status, body := asVN.mustCall(http.MethodPost, wire.PathRequests, pres)
	mustStatus(t, "a preservation order", status, body, http.StatusCreated, "")
}

// TestAdversaryProviderNamesOnLoad: lookalike, mixed-case and country-shaped
// identifiers are refused when a channel or the configuration is read, so no
// provider is ever taken for a State (or another provider) by its name.
func TestAdversaryProviderNamesOnLoad(t *testing.T) {
	dir := t.TempDir() // holds no channel files: a name that passes fails on its trust file
	nameRefused := func(c Channel, self string) error {
		_, err := loadChannel(dir, c, self)
		if err == nil || strings.Contains(err.Error(), "peer trust") {
			return fmt.Errorf("channel %+v of %s was not refused by its names: %w", c, self, err)
		}
		return nil
	}
	for _, id := range []string{"VN", "vn", "v", "vn-", "-vn", "HOPTHU-MAIL", "Hopthu-mail", "hopthu_mail", "hopthu.mail",
		"hopthu\u2010mail", "hopthu-mai\u0131", "\uff48opthu-mail", "hopthu-mail\n", " hopthu-mail", strings.Repeat("a", 64)} {
		if err := nameRefused(Channel{Name: "to-x", Provider: id}, "VN"); err != nil {
			t.Error(err)
		}
	}
	for _, cc := range []string{"vn", "Vn", "VNM", "V", "\u0412N", "V\u0143", "", "1N"} {
		if err := nameRefused(Channel{Name: "to-x", Country: cc}, "VN"); err != nil {
			t.Error(err)
		}
	}
	if err := nameRefused(Channel{Name: "to-x", Country: "VN", Provider: testProvider}, "IE"); err != nil {
		t.Error(err)
	}
	if err := nameRefused(Channel{Name: "to-x", Provider: "other-mail"}, testProvider); err != nil {
		t.Error(err)
	}
	// Names that are fine get as far as their files.
	for _, id := range []string{"v-n", "hopthu--mail", "xn--hopthu-mail", "123", "kept", "outbound", "receipt"} {
		if _, err := loadChannel(dir, Channel{Name: "to-x", Provider: id}, "VN"); err == nil || !strings.Contains(err.Error(), "peer trust") {
			t.Errorf("provider %q: %v", id, err)
		}
	}

	// A provider's configuration with a country-shaped or lookalike id.
	for _, id := range []string{"VN", "vn", "IE", "Hopthu-mail", "hopthu-mail-", "hopthu\u2011mail", ""} {
		path := filepath.Join(t.TempDir(), ConfigFile)
		body, _ := json.Marshal(Config{Country: "IE", Provider: &Provider{ID: id, Name: "x"}})
		writeFile(t, path, body)
		if _, err := LoadConfig(path); err == nil {
			t.Errorf("a provider configuration with id %q was loaded", id)
		}
	}
}

// TestAdversaryProviderBundleLookalikes: the provider's signed trust bundle is
// taken for its own identifier only, not for a lookalike, a State or its State of
// establishment.
func TestAdversaryProviderBundleLookalikes(t *testing.T) {
	p := newProviderPair(t)
	st := p.sp.gw.current.Load()
	compact, err := st.signer.SignTrustBundle(trustBundleOf(st, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for _, expected := range []string{"hopthu--mail", "hopthu-mai1", "HOPTHU-MAIL", "hopthu", "IE", "VN", "hopthu-mail ", "xn--hopthu-mail"} {
		if _, _, err := receipt.VerifyTrustBundle(compact, p.sp.trustPool(), expected, p.sp.serverName(), time.Now(), time.Hour); err == nil {
			t.Errorf("the provider's bundle was taken as %q's", expected)
		}
	}
	if _, _, err := receipt.VerifyTrustBundle(compact, p.sp.trustPool(), testProvider, p.sp.serverName(), time.Now(), time.Hour); err != nil {
		t.Fatalf("the provider's bundle for itself: %v", err)
	}
	// A State's bundle is not a provider's, though the provider is established there.
	vnSt := p.vn.gw.current.Load()
	vnBundle, err := vnSt.signer.SignTrustBundle(trustBundleOf(vnSt, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := receipt.VerifyTrustBundle(vnBundle, p.vn.trustPool(), "vn-mail", p.vn.serverName(), time.Now(), time.Hour); err == nil {
		t.Fatal("a State's bundle was taken for a provider's")
	}
}

// TestAdversaryProviderReceiptNamesAnotherParty: a provider whose gateway signs
// a genuine receipt (its key, its vault's custody proof) that names another
// party as the receiver, or another sender, is not believed by the authority,
// and nothing is stored on the authority's side.
func TestAdversaryProviderReceiptNamesAnotherParty(t *testing.T) {
	p := newProviderPair(t)
	for _, d := range []direction{
		{name: "inbound", from: "VN", to: "IE"},           // the provider's State of establishment
		{name: "inbound", from: "VN", to: "hopthu--mail"}, // a lookalike provider
		{name: "inbound", from: "FR", to: testProvider},   // another sender
		{name: "inbound", from: "VN", to: "VN"},           // the sender itself
	} {
		ref := reference(t) + "-" + d.from + "-" + d.to
		doc := example(t, "SubscriberInformation", map[string]any{"/reference": ref})
		req, fields, err := requests.Parse(doc, time.Now())
		if err != nil || len(fields) > 0 {
			t.Fatalf("%v %v", fields, err)
		}
		st := p.sp.gw.current.Load()
		acc, _, f := p.sp.gw.record(t.Context(), st, d.from, d, "rogue", 365, rogueIdentity(t, p.sp), req)
		if f != nil {
			t.Fatalf("recording the rogue receipt: %+v", f.body)
		}
		endpoint := rogueServer(t, p.sp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, acc)
		}))
		p.vn.pointChannel(p.vnToSP, endpoint)
		before := p.vn.vault.Status().Objects
		status, body := p.send(t, doc)
		mustStatus(t, fmt.Sprintf("a receipt from %s to %s", d.from, d.to), status, body, http.StatusBadGateway, wire.ReasonReceiptInvalid)
		if after := p.vn.vault.Status().Objects; after != before {
			t.Fatalf("a rogue receipt from %s to %s left %d objects in VN's vault", d.from, d.to, after-before)
		}
	}
}

// TestAdversaryProviderUpdatesForStrangers: a provider pushes (or calls with its
// channel's certificate) what is not its to push: an update of a request VN
// never sent, one dated ahead of VN's clock, the sender's own endpoints on VN's
// gateway. Each is refused and nothing is kept.
func TestAdversaryProviderUpdatesForStrangers(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "SubscriberInformation")
	asProvider := p.vn.clientFor(p.sp.channelCert(p.spToVN), p.vn.trustPool())
	before := p.vn.vault.Status().Objects

	// A request the provider says VN sent, which VN never did.
	ref := reference(t) + "-never-sent"
	req, fields, err := requests.Parse(example(t, "SubscriberInformation", map[string]any{"/reference": ref}), time.Now())
	if err != nil || len(fields) > 0 {
		t.Fatalf("%v %v", fields, err)
	}
	st := p.sp.gw.current.Load()
	acc, _, f := p.sp.gw.record(t.Context(), st, "VN", direction{name: "inbound", from: "VN", to: testProvider}, "rogue", 365, rogueIdentity(t, p.sp), req)
	if f != nil {
		t.Fatalf("%+v", f.body)
	}
	stranger := p.forger(t, acc.RequestID)
	u := stranger.record(stranger.next(cases.Acknowledge, cases.Requested, cases.Acknowledged, time.Now(), ""))
	pushRefused(t, "an update of a request VN never sent", stranger.push(u))

	// An update dated ahead of VN's clock.
	genuine := p.forger(t, spID)
	u = genuine.record(genuine.next(cases.Acknowledge, cases.Requested, cases.Acknowledged, time.Now().Add(10*time.Minute), ""))
	pushRefused(t, "an update dated ten minutes ahead", genuine.push(u))

	// The update of one request presented under another's: the body is the
	// signed update, whose own ids decide; a tampered payload does not verify.
	parts := strings.Split(u, ".")
	payload, _ := json.Marshal(map[string]any{"requestId": vnID})
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	body, _ := json.Marshal(wire.CaseUpdate{Update: tampered})
	status, answer := asProvider.mustCall(http.MethodPost, wire.PathUpdates, body)
	if status/100 != 4 {
		t.Fatalf("a tampered update: %d %s", status, answer)
	}

	// The sender's endpoints: the provider has no request of its own at VN.
	for _, id := range []string{vnID, spID} {
		status, answer = asProvider.mustCall(http.MethodGet, wire.PathRequests+"/"+id, nil)
		mustStatus(t, "the provider reads a request at VN", status, answer, http.StatusNotFound, wire.ReasonNotFound)
		a, _ := json.Marshal(wire.CaseAction{Action: cases.Withdraw, Reason: "the provider withdraws VN's order"})
		status, answer = asProvider.mustCall(http.MethodPost, wire.PathRequests+"/"+id+"/transitions", a)
		mustStatus(t, "the provider acts as a sender at VN", status, answer, http.StatusNotFound, wire.ReasonNotFound)
	}
	// The cases API is VN's officers', not the provider's (neither its channel
	// certificate nor its own officer's).
	for _, cert := range []tls.Certificate{p.sp.channelCert(p.spToVN), p.sp.officer} {
		cl := p.vn.clientFor(cert, p.vn.trustPool())
		status, answer = cl.mustCall(http.MethodGet, wire.PathCases+"/outbound/"+testProvider+"/"+vnID, nil)
		mustStatus(t, "the provider reads VN's case", status, answer, http.StatusForbidden, wire.ReasonNotAnOfficer)
		a, _ := json.Marshal(wire.CaseAction{Action: cases.Clarify, Reason: "x"})
		status, answer = cl.mustCall(http.MethodPost, wire.PathCases+"/outbound/"+testProvider+"/"+vnID+"/transitions", a)
		mustStatus(t, "the provider acts on VN's case", status, answer, http.StatusForbidden, wire.ReasonNotAnOfficer)
	}
	if after := p.vn.vault.Status().Objects; after != before {
		t.Fatalf("refused updates left %d objects in VN's vault", after-before)
	}
	if c := getCase(t, p.vnOfficer, "/outbound/"+testProvider+"/"+vnID); c.State != cases.Received || len(c.Transitions) != 0 {
		// VN's view fetches the provider's history first: the update dated
		// ahead is still refused there.
		t.Fatalf("VN's case after the refused updates: %s with %d transitions", c.State, len(c.Transitions))
	}
}

// TestAdversaryProviderOfficerPaths: the provider's officers reach only the
// provider's own cases, by exact names; path tricks, lower-case or lookalike
// peers and the provider's own name find nothing, and VN's officer is no officer
// at the provider's gateway.
func TestAdversaryProviderOfficerPaths(t *testing.T) {
	p := newProviderPair(t)
	spID, _ := p.order(t, "Preservation")
	if c := getCase(t, p.spOff, "/inbound/VN/"+spID); c.Peer != "VN" {
		t.Fatalf("the provider's case: %+v", c)
	}
	action, _ := json.Marshal(wire.CaseAction{Action: cases.Acknowledge})
	for _, path := range []string{
		"/inbound/vn/" + spID,
		"/inbound/Vn/" + spID,
		"/inbound/" + testProvider + "/" + spID,
		"/outbound/VN/" + spID,
		"/inbound/to-vn/" + spID,
		"/inbound/VN/" + strings.ToUpper(spID),
		"/inbound/VN/" + spID + "%2Ftransitions%2F0001",
		"/inbound/VN%2F..%2F..%2Fkept/" + spID,
		"/kept/VN/" + spID,
		"/joint/VN/" + spID,
	} {
		status, body := p.spOff.mustCall(http.MethodGet, wire.PathCases+path, nil)
		if status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
		status, body = p.spOff.mustCall(http.MethodPost, wire.PathCases+path+"/transitions", action)
		if status/100 == 2 {
			t.Errorf("POST %s/transitions: %d %s", path, status, body)
		}
	}
	// VN's officer and VN's channel certificate are VN's, at the provider's
	// gateway: no officer there.
	for _, cert := range []tls.Certificate{p.vn.officer, p.vn.channelCert(p.vnToSP)} {
		cl := p.sp.clientFor(cert, p.sp.trustPool())
		status, body := cl.mustCall(http.MethodPost, wire.PathCases+"/inbound/VN/"+spID+"/transitions", action)
		mustStatus(t, "VN acts as the provider's officer", status, body, http.StatusForbidden, wire.ReasonNotAnOfficer)
		status, body = cl.mustCall(http.MethodGet, wire.PathStatistics, nil)
		mustStatus(t, "VN reads the provider's statistics", status, body, http.StatusForbidden, wire.ReasonNotAnOfficer)
	}
	if c := getCase(t, p.spOff, "/inbound/VN/"+spID); c.State != cases.Received {
		t.Fatalf("the case moved: %s", c.State)
	}
}

// TestAdversaryProviderTransitionCapRace: at 98 transitions, officers contesting
// and the authority clarifying at once do not take a request past 100: the
// sequence numbers are exclusive and each writer re-decides on the history. A
// withdrawal still follows.
func TestAdversaryProviderTransitionCapRace(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "Preservation")
	f := p.forger(t, spID)
	for len(f.history()) < cases.MaxTransitions-2 {
		if f.history().State() == cases.Received {
			f.record(f.next(cases.Contest, cases.Requested, cases.Contested, time.Now(), "which accounts?", cases.GroundUnclear))
		} else {
			f.record(f.next(cases.Clarify, cases.Requester, cases.Received, time.Now(), "these"))
		}
	}
	asVN := p.sp.clientFor(p.vn.channelCert(p.vnToSP), p.sp.trustPool())
	contest, _ := json.Marshal(wire.CaseAction{Action: cases.Contest, Reason: "still unclear", Grounds: []cases.Ground{cases.GroundUnclear}})
	clarify, _ := json.Marshal(wire.CaseAction{Action: cases.Clarify, Reason: "once more"})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, _ = p.spOff.call(http.MethodPost, wire.PathCases+"/inbound/VN/"+spID+"/transitions", contest)
		}()
		go func() {
			defer wg.Done()
			_, _, _ = asVN.call(http.MethodPost, wire.PathRequests+"/"+spID+"/transitions", clarify)
		}()
	}
	wg.Wait()
	h := f.history()
	if len(h) > cases.MaxTransitions {
		t.Fatalf("concurrent actions took the request to %d transitions", len(h))
	}
	if err := cases.CheckHistory(h); err != nil {
		t.Fatalf("the history after the race: %v", err)
	}
	// Fill to the cap if the race left room, then only a decision or a withdrawal.
	for len(h) < cases.MaxTransitions {
		if h.State() == cases.Received {
			f.record(f.next(cases.Contest, cases.Requested, cases.Contested, time.Now(), "x", cases.GroundUnclear))
		} else {
			f.record(f.next(cases.Clarify, cases.Requester, cases.Received, time.Now(), "y"))
		}
		h = f.history()
	}
	if h.State() == cases.Received {
		status, body := p.spOff.mustCall(http.MethodPost, wire.PathCases+"/inbound/VN/"+spID+"/transitions", contest)
		mustStatus(t, "a contest past the cap", status, body, http.StatusConflict, wire.ReasonTransitionNotAllowed)
	} else {
		status, body := asVN.mustCall(http.MethodPost, wire.PathRequests+"/"+spID+"/transitions", clarify)
		mustStatus(t, "a clarification past the cap", status, body, http.StatusConflict, wire.ReasonTransitionNotAllowed)
	}
	withdraw, _ := json.Marshal(wire.CaseAction{Action: cases.Withdraw, Reason: "enough"})
	status, body := asVN.mustCall(http.MethodPost, wire.PathRequests+"/"+spID+"/transitions", withdraw)
	mustStatus(t, "the authority withdraws at the cap", status, body, http.StatusCreated, "")
	if h := f.history(); h.State() != cases.Withdrawn || len(h) != cases.MaxTransitions+1 {
		t.Fatalf("the provider's history: %s with %d transitions", h.State(), len(h))
	}
	// The Clarify steps above were taken with VN's channel certificate at the
	// provider, not by VN's officers through VN's gateway: VN's gateway keeps
	// none of them (no mandate of its officers asked for them).
	status, body = p.vnOfficer.mustCall(http.MethodGet, wire.PathCases+"/outbound/"+testProvider+"/"+vnID, nil)
	var c wire.Case
	if status != http.StatusOK || json.Unmarshal(body, &c) != nil || len(c.Transitions) > 1 {
		t.Fatalf("VN kept steps its officers never asked for: %d %s", status, body)
	}
}

// history is the requested side's history of the forger's request.
func (f forger) history() cases.History {
	_, _, h := f.state()
	return h
}

// TestAdversaryProviderPartyNamesAsPathSegments: providers named like the
// segments of case names ("kept", "outbound", "receipt", "transitions") are
// cases like any other: each order is one case under the provider's name, and
// the retention scan keeps their records without confusing one for another.
func TestAdversaryProviderPartyNamesAsPathSegments(t *testing.T) {
	vn, _ := startCountry(t, "VN", nil)
	officer := vn.clientFor(vn.officer, vn.trustPool())
	names := []string{"kept", "outbound", "receipt", "transitions"}
	for _, name := range names {
		sp, _ := startCountry(t, "IE", nil)
		sp.provider = name
		sp.writeConfig()
		sp.reload()
		sp.connect(vn, "SubscriberInformation")
		ch := vn.connect(sp, "SubscriberInformation")
		status, body := officer.mustCall(http.MethodPost, wire.PathOutbound+ch+"/requests",
			example(t, "SubscriberInformation", map[string]any{"/reference": reference(t) + "-" + name}))
		mustStatus(t, "an order to "+name, status, body, http.StatusCreated, "")
	}
	status, body := officer.mustCall(http.MethodGet, wire.PathCases, nil)
	var all []wire.Case
	if status != http.StatusOK || json.Unmarshal(body, &all) != nil {
		t.Fatalf("cases: %d %s", status, body)
	}
	seen := map[string]int{}
	for _, c := range all {
		seen[c.Direction+"/"+c.Peer]++
	}
	for _, name := range names {
		if seen["outbound/"+name] != 1 {
			t.Errorf("cases: %v", seen)
		}
	}
	if len(all) != len(names) {
		t.Fatalf("%d cases for %d orders: %v", len(all), len(names), seen)
	}
	// Every record of every order is kept once, under its own case.
	st := vn.gw.current.Load()
	objects, err := st.vault.Objects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vn.gw.keepCaseFiles(t.Context(), st, all, objects); err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		for _, ci := range o.Cases {
			if r := requestOf("kept/" + ci.Metadata.CaseReference + "/20260101T000000Z"); r != "" {
				t.Errorf("a kept record's case %q reads as request %q", ci.Metadata.CaseReference, r)
			}
		}
	}
}

// --- bugs ----------------------------------------------------------------

// TestAdversaryFixedAuthorityTakesProviderSignedWithdrawal: the provider signs a Withdraw
// "by the requester" that VN's officers never asked for, and pushes it. VN's
// gateway keeps it: VN's case reads Withdrawn, its deadline is gone and VN's
// statistics count the order as withdrawn by VN.
func TestAdversaryFixedAuthorityTakesProviderSignedWithdrawal(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "Preservation")
	f := p.forger(t, spID)
	u := f.record(f.next(cases.Withdraw, cases.Requester, cases.Withdrawn, time.Now(), "withdrawn by the authority (not really)"))
	err := f.push(u)
	c := getCase(t, p.vnOfficer, "/outbound/"+testProvider+"/"+vnID)
	if err == nil || c.State == cases.Withdrawn {
		t.Fatalf("VN took the provider's word for its own withdrawal: push %v; VN's case is %s", err, c.State)
	}
}

// TestAdversaryFixedAuthorityTakesRefusalFromProvider: a provider does not refuse (its
// gateway's lifecycle says so), but a provider that signs a Refuse and pushes
// it has it kept by the authority, which then counts the order as Refused.
func TestAdversaryFixedAuthorityTakesRefusalFromProvider(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "SubscriberInformation")
	f := p.forger(t, spID)
	u := f.record(f.next(cases.Refuse, cases.Requested, cases.Refused, time.Now(), "we do not answer", cases.GroundOther))
	err := f.push(u)
	c := getCase(t, p.vnOfficer, "/outbound/"+testProvider+"/"+vnID)
	if err == nil || c.State == cases.Refused {
		t.Fatalf("VN kept a provider's refusal: push %v; VN's case is %s", err, c.State)
	}
}

// TestAdversaryFixedAuthorityTakesContestFromState: only a provider contests; a State that
// signs a Contest (which stops the sender's deadline clock as a wait on the
// sender) has it kept by the sending State.
func TestAdversaryFixedAuthorityTakesContestFromState(t *testing.T) {
	vn, _ := startCountry(t, "VN", nil)
	fr, _ := startCountry(t, "FR", nil)
	vnToFR := vn.connect(fr, "Preservation")
	frToVN := fr.connect(vn, "Preservation")
	frOfficer := fr.clientFor(fr.officer, fr.trustPool())
	ref := reference(t)
	status, body := frOfficer.mustCall(http.MethodPost, wire.PathOutbound+frToVN+"/requests", example(t, "Preservation", map[string]any{"/reference": ref}))
	mustStatus(t, "FR sends VN a preservation", status, body, http.StatusCreated, "")
	var acc wire.Accepted
	_ = json.Unmarshal(body, &acc)
	f := forger{t: t, c: vn, channel: vnToFR, sender: "FR", id: acc.RequestID}
	u := f.record(f.next(cases.Contest, cases.Requested, cases.Contested, time.Now(), "contested by a State", cases.GroundOverbroad))
	err := f.push(u)
	frID := requestID(direction{name: "outbound", from: "FR", to: "VN"}, ref)
	c := getCase(t, frOfficer, "/outbound/VN/"+frID)
	if err == nil || c.State == cases.Contested {
		t.Fatalf("FR kept a State's contest: push %v; FR's case is %s", err, c.State)
	}
}

// TestAdversaryFixedAuthorityTakesHistoryPastTheCap: the provider's gateway stops at 100
// transitions, but a provider that signs a 101st (or a 500th) and pushes it has
// it kept by the authority: the cap that keeps a signed history within the 1 MiB
// a peer reads, and within what people can follow, is not the authority's.
func TestAdversaryFixedAuthorityTakesHistoryPastTheCap(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "Preservation")
	f := p.forger(t, spID)
	var last string
	for len(f.history()) <= cases.MaxTransitions {
		if f.history().State() == cases.Received {
			last = f.record(f.next(cases.Contest, cases.Requested, cases.Contested, time.Now(), "which accounts?", cases.GroundUnclear))
		} else {
			last = f.record(f.next(cases.Clarify, cases.Requester, cases.Received, time.Now(), "these"))
		}
	}
	err := f.push(last) // VN fetches the ones before it, then takes it
	c := getCase(t, p.vnOfficer, "/outbound/"+testProvider+"/"+vnID)
	if err == nil || len(c.Transitions) > cases.MaxTransitions {
		t.Fatalf("VN kept a history of %d transitions (the cap is %d); push %v", len(c.Transitions), cases.MaxTransitions, err)
	}
}

// TestAdversaryFixedAuthorityTakesUpdateDatedBeforeItsReceipt: the provider dates its
// acknowledgement and execution a month before it received the order. VN keeps
// them, and its statistics (articles 55 and 57) report a negative response time
// for the provider.
func TestAdversaryFixedAuthorityTakesUpdateDatedBeforeItsReceipt(t *testing.T) {
	p := newProviderPair(t)
	spID, vnID := p.order(t, "SubscriberInformation")
	f := p.forger(t, spID)
	past := time.Now().AddDate(0, -1, 0)
	err1 := f.push(f.record(f.next(cases.Acknowledge, cases.Requested, cases.Acknowledged, past, "")))
	err2 := f.push(f.record(f.next(cases.Execute, cases.Requested, cases.Executed, past, "")))
	c := getCase(t, p.vnOfficer, "/outbound/"+testProvider+"/"+vnID)
	status, body := p.vnOfficer.mustCall(http.MethodGet, wire.PathStatistics, nil)
	var r cases.Report
	if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("statistics: %d %s", status, body)
	}
	for _, rt := range r.ResponseTimes {
		if rt.P50Hours < 0 || rt.MaxHours < 0 {
			t.Errorf("VN reports a response time of %.2f hours for %s", rt.P50Hours, rt.Type)
		}
	}
	if err1 == nil || err2 == nil || c.State == cases.Executed {
		t.Fatalf("VN kept updates dated before the provider's receipt: pushes %v, %v; VN's case is %s, transitions at %v (received %v)",
			err1, err2, c.State, c.Transitions[len(c.Transitions)-1].Time, c.Received)
	}
}

// TestAdversaryFixedPeerChoosesMetricLabelsAndStatus: a provider (or a State) answers an
// authority officer's Clarify with a refusal whose reason it chooses. VN's
// gateway relays the reason as its own refusal's reason and as the value of the
// "reason" label of cybercoop_gateway_requests_refused_total: each answer a new
// series, of any length, for as long as the gateway runs. The peer's status is
// relayed too, a 2xx among them.
func TestAdversaryFixedPeerChoosesMetricLabelsAndStatus(t *testing.T) {
	p := newProviderPair(t)
	_, vnID := p.order(t, "Preservation")
	var n int
	var mu sync.Mutex
	endpoint := rogueServer(t, p.sp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		status := http.StatusConflict
		if i == 3 {
			status = http.StatusAccepted
		}
		writeJSON(w, status, wire.Refusal{Reason: fmt.Sprintf("Rogue%d-%s", i, strings.Repeat("x", 4096)), Error: "no"})
	}))
	p.vn.pointChannel(p.vnToSP, endpoint)
	clarify, _ := json.Marshal(wire.CaseAction{Action: cases.Clarify, Reason: "the answer"})
	var statuses []int
	for i := 0; i < 5; i++ {
		status, _ := p.vnOfficer.mustCall(http.MethodPost, wire.PathCases+"/outbound/"+testProvider+"/"+vnID+"/transitions", clarify)
		statuses = append(statuses, status)
	}
	families, err := p.vn.gw.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rogue := 0
	for _, mf := range families {
		if mf.GetName() != "cybercoop_gateway_requests_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && strings.HasPrefix(l.GetValue(), "Rogue") {
					rogue++
				}
			}
		}
	}
	var twoxx bool
	for _, s := range statuses {
		twoxx = twoxx || s/100 == 2
	}
	if rogue > 0 || twoxx {
		t.Fatalf("the peer chose %d series of VN's refusal metric (labels of 4 KiB); VN answered its officer %v", rogue, statuses)
	}
}

// TestAdversaryFixedProviderModeGatewayServesJointInvestigation: "a provider is never a
// joint investigation's party", but a provider-mode gateway whose channels file
// lists one loads it, lets the provider's officers mark evidence for it and
// serves it to the authority; and the authority's gateway fetches "joint
// evidence" from its channel to the provider into its vault, under the joint
// investigation's case, though its own side refuses a provider as a party.
func TestAdversaryFixedProviderModeGatewayServesJointInvestigation(t *testing.T) {
	p := newProviderPair(t)
	const caseID = "JIT-2026-SP-01"
	p.sp.channels.JointInvestigations = []JointInvestigation{{CaseID: caseID, Agreement: "none", Parties: []string{p.spToVN}, EndDate: time.Now().Add(time.Hour)}}
	body, _ := json.Marshal(p.sp.channels)
	writeFile(t, filepath.Join(p.sp.paths.ChannelsDir, ChannelsFile), body)
	_, loadErr := p.sp.gw.files.Reload()
	shared, answer := p.spOff.mustCall(http.MethodPost, wire.PathJoint+caseID+"/evidence", []byte("a provider's item"))
	var item wire.JointItem
	_ = json.Unmarshal(answer, &item)
	fetched, answer2 := p.vnOfficer.mustCall(http.MethodGet, wire.PathOutbound+p.vnToSP+"/joint/"+caseID+"/evidence/"+strings.TrimPrefix(item.Digest, "sha256:"), nil)
	if loadErr == nil && (shared/100 == 2 || fetched/100 == 2) {
		t.Fatalf("the provider's gateway loaded a joint investigation and shared an item (%d %s); VN fetched it over its provider channel (%d %.80s)",
			shared, answer, fetched, answer2)
	}
}

// TestAdversaryFixedSharedRecordOfOpenRequestNotKept: an authority sends the same order
// (same reference, same content) to two providers, so its vault holds the
// document once, under both requests' cases. The first provider executes its
// order; the second leaves its own open. When the document's retention nears its
// end, the retention scan looks at the object's first case only: the decided
// order's record needs no extension, and the scan stops there, so the document
// of the open order is left to expire.
func TestAdversaryFixedSharedRecordOfOpenRequestNotKept(t *testing.T) {
	var offset atomic.Int64
	vn, _ := startCountry(t, "VN", func(s *Server) {
		s.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	officer := vn.clientFor(vn.officer, vn.trustPool())
	doc := example(t, "SubscriberInformation", map[string]any{"/reference": reference(t)})
	type provider struct {
		c  *country
		id string
	}
	byName := map[string]provider{}
	for _, name := range []string{"mail-one", "mail-two"} {
		c, _ := startCountry(t, "IE", nil)
		c.provider = name
		c.writeConfig()
		c.reload()
		c.connect(vn, "SubscriberInformation")
		ch := vn.connect(c, "SubscriberInformation")
		status, body := officer.mustCall(http.MethodPost, wire.PathOutbound+ch+"/requests", doc)
		mustStatus(t, "the order to "+name, status, body, http.StatusCreated, "")
		var acc wire.Accepted
		_ = json.Unmarshal(body, &acc)
		byName[name] = provider{c, acc.RequestID}
	}
	ctx := t.Context()
	st := vn.gw.current.Load()
	sharedObject := func() vault.ObjectInfo {
		objects, err := st.vault.Objects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			n := 0
			for _, ci := range o.Cases {
				if requestCase.MatchString(ci.Metadata.CaseReference) {
					n++
				}
			}
			if n == 2 {
				return o
			}
		}
		t.Fatal("the order's document is not one object under both cases")
		return vault.ObjectInfo{}
	}
	// The provider of the object's first case executes its order.
	first := strings.Split(sharedObject().Cases[0].Metadata.CaseReference, "/")[1]
	sp := byName[first]
	spOff := sp.c.clientFor(sp.c.officer, sp.c.trustPool())
	for _, a := range []cases.Action{cases.Acknowledge, cases.Execute} {
		body, _ := json.Marshal(wire.CaseAction{Action: a})
		status, answer := spOff.mustCall(http.MethodPost, wire.PathCases+"/inbound/VN/"+sp.id+"/transitions", body)
		mustStatus(t, string(a), status, answer, http.StatusCreated, "")
	}

	// 340 days on, with a retention of 365: the other order is still open.
	offset.Store(int64(340 * 24 * time.Hour))
	objects, err := st.vault.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := vn.gw.collect(ctx, st, objects)
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for _, c := range all {
		if !c.State.Terminal() {
			open++
		}
	}
	if open != 1 || len(all) != 2 {
		t.Fatalf("%d cases, %d open; want 2 and 1", len(all), open)
	}
	if _, err := vn.gw.keepCaseFiles(ctx, st, all, objects); err != nil {
		t.Fatal(err)
	}
	now := vn.gw.Now()
	if o := sharedObject(); o.RetentionUntil.Before(now.Add(keepAhead)) {
		t.Fatalf("the open order's document is retained until %s, within %s of now (%s): the scan did not keep it",
			o.RetentionUntil.Format(time.RFC3339), keepAhead, now.Format(time.RFC3339))
	}
}

// TestAdversaryFixedProviderStuckAtTheCap: an order contested and clarified back and forth
// reaches the cap of 100 transitions in Received (the authority's Clarify
// resumes it there). Past the cap only a decision or a withdrawal may follow,
// but a provider has no decision it can take from Received: Execute needs
// Acknowledged or InProgress, which the cap forbids reaching, and a provider
// does not refuse. The order stays open, its deadline running, until the
// authority withdraws it: the provider cannot comply with it.
func TestAdversaryFixedProviderStuckAtTheCap(t *testing.T) {
	const id = "rq-00000000000000000000000000000001"
	at := time.Now()
	var h cases.History
	for len(h) < cases.MaxTransitions {
		action, by, grounds := cases.Contest, cases.Requested, []cases.Ground{cases.GroundUnclear}
		if h.State() == cases.Contested {
			action, by, grounds = cases.Clarify, cases.Requester, nil
		}
		tr, err := cases.Next(id, h, action, by, "back and forth", grounds, true, at)
		if err != nil {
			t.Fatalf("transition %d: %v", len(h)+1, err)
		}
		h = append(h, tr)
	}
	if h.State() != cases.Received {
		t.Fatalf("at the cap the order is %s", h.State())
	}
	var allowed []cases.Action
	for _, a := range []cases.Action{cases.Acknowledge, cases.Start, cases.Execute, cases.ExecutePartially, cases.Contest, cases.RequestClarification, cases.Refuse} {
		reason := ""
		if a == cases.ExecutePartially || a == cases.Contest || a == cases.RequestClarification {
			reason = "r"
		}
		var grounds []cases.Ground
		if a == cases.Contest {
			grounds = []cases.Ground{cases.GroundOther}
		}
		if _, err := cases.Next(id, h, a, cases.Requested, reason, grounds, true, at); err == nil {
			allowed = append(allowed, a)
		}
	}
	if len(allowed) == 0 {
		t.Fatal("at the cap, in Received, the provider can take no action at all: it can neither comply with the order nor decline it")
	}
}

// TestAdversaryFixedConfigCountryNotChecked: the configuration's country is checked for
// its length only. A lower-case or non-letter code loads, and the gateway then
// serves with a party it cannot sign for: every receipt and the trust bundle
// fail to sign (a State's gateway acknowledges nothing; a provider's publishes
// no bundle), where a file that does not check should be refused and the last
// good one keep serving.
func TestAdversaryFixedConfigCountryNotChecked(t *testing.T) {
	var loaded []string
	for _, cc := range []string{"ie", "I1", "..", "É"} {
		for _, provider := range []*Provider{nil, {ID: testProvider, Name: "x"}} {
			path := filepath.Join(t.TempDir(), ConfigFile)
			body, _ := json.Marshal(Config{Country: cc, Provider: provider})
			writeFile(t, path, body)
			if _, err := LoadConfig(path); err == nil {
				loaded = append(loaded, fmt.Sprintf("country %q (provider %v)", cc, provider != nil))
			}
		}
	}
	if len(loaded) > 0 {
		t.Fatalf("configurations loaded: %s", strings.Join(loaded, "; "))
	}
}

// TestAdversaryProviderPushesForAnotherProvider: VN sends the same order to two
// providers. The first signs updates naming the second (as receiver, with the
// second's request id, or both) and pushes them over its own channel: VN refuses
// each, and the second provider's case at VN does not move.
func TestAdversaryProviderPushesForAnotherProvider(t *testing.T) {
	vn, _ := startCountry(t, "VN", nil)
	officer := vn.clientFor(vn.officer, vn.trustPool())
	ref := reference(t)
	doc := example(t, "SubscriberInformation", map[string]any{"/reference": ref})
	var sps []*country
	var ids, chans []string
	for _, name := range []string{"mail-one", "mail-two"} {
		c, _ := startCountry(t, "IE", nil)
		c.provider = name
		c.writeConfig()
		c.reload()
		chans = append(chans, c.connect(vn, "SubscriberInformation"))
		ch := vn.connect(c, "SubscriberInformation")
		status, body := officer.mustCall(http.MethodPost, wire.PathOutbound+ch+"/requests", doc)
		mustStatus(t, "the order to "+name, status, body, http.StatusCreated, "")
		var acc wire.Accepted
		_ = json.Unmarshal(body, &acc)
		sps, ids = append(sps, c), append(ids, acc.RequestID)
	}
	f := forger{t: t, c: sps[0], channel: chans[0], sender: "VN", id: ids[0]}
	st, rc, _ := f.state()
	before := vn.vault.Status().Objects
	for i, edit := range []func(r *receipt.Receipt){
		func(r *receipt.Receipt) { r.To, r.Channel = "mail-two", "VN-mail-two" },
		func(r *receipt.Receipt) { r.RequestID = ids[1] },
		func(r *receipt.Receipt) { r.To, r.Channel, r.RequestID = "mail-two", "VN-mail-two", ids[1] },
	} {
		forged := *rc
		edit(&forged)
		tr := cases.Transition{RequestID: forged.RequestID, Sequence: 1, Action: cases.Acknowledge, By: cases.Requested,
			From: cases.Received, To: cases.Acknowledged, Time: time.Now().UTC().Add(time.Duration(i) * time.Millisecond)}
		update, taken, err := sps[0].gw.recordTransition(t.Context(), st, f.ref()+fmt.Sprintf("/rogue-%d", i), &forged, tr,
			rogueIdentity(t, sps[0]), "rogue", retainUntil(time.Now(), 365))
		if err != nil || taken {
			t.Fatalf("forging update %d: %v %v", i, taken, err)
		}
		err = f.push(update)
		t.Logf("forged update %d: %v", i, err)
		pushRefused(t, fmt.Sprintf("forged update %d", i), err)
	}
	if after := vn.vault.Status().Objects; after != before {
		t.Fatalf("refused updates left %d objects in VN's vault", after-before)
	}
	vnID := requestID(direction{name: "outbound", from: "VN", to: "mail-two"}, ref)
	if c := getCase(t, officer, "/outbound/mail-two/"+vnID); c.State != cases.Received || len(c.Transitions) != 0 {
		t.Fatalf("the second provider's case at VN: %s with %d transitions", c.State, len(c.Transitions))
	}
	vnOne := requestID(direction{name: "outbound", from: "VN", to: "mail-one"}, ref)
	status, body := officer.mustCall(http.MethodGet, wire.PathCases+"/outbound/mail-two/"+vnOne, nil)
	mustStatus(t, "the first provider's request under the second's name", status, body, http.StatusNotFound, wire.ReasonNotFound)
}
