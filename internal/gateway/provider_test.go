package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// providerPair is Viet Nam's authority and a service provider established in
// Ireland, "hopthu-mail", whose gateway runs in provider mode. VN sends the
// provider orders; the provider's compliance team answers or contests them.
type providerPair struct {
	vn, sp           *country
	vnToSP, spToVN   string
	vnOfficer, spOff *client
}

const testProvider = "hopthu-mail"

func newProviderPair(t *testing.T) *providerPair {
	t.Helper()
	withLog := func(s *Server) { s.Log = testr.New(t) }
	p := &providerPair{}
	p.vn, _ = startCountry(t, "VN", withLog)
	p.sp, _ = startCountry(t, "IE", withLog)
	p.sp.provider = testProvider
	p.sp.writeConfig()
	p.sp.reload()
	// The provider's channel to VN lists MutualLegalAssistance too, as a
	// mistaken channel might: provider mode refuses it whatever the list says.
	p.spToVN = p.sp.connect(p.vn, "Preservation", "SubscriberInformation", "ContentRemoval", "MutualLegalAssistance")
	p.vnToSP = p.vn.connect(p.sp, "Preservation")
	p.vnOfficer = p.vn.clientFor(p.vn.officer, p.vn.trustPool())
	p.spOff = p.sp.clientFor(p.sp.officer, p.sp.trustPool())
	return p
}

func (p *providerPair) send(t *testing.T, doc []byte) (int, []byte) {
	t.Helper()
	return p.vnOfficer.mustCall(http.MethodPost, wire.PathOutbound+p.vnToSP+"/requests", doc)
}

func TestProviderContestsAndTheAuthoritySeesIt(t *testing.T) {
	p := newProviderPair(t)
	if got := p.sp.gw.Self(); got != testProvider {
		t.Fatalf("the provider's gateway serves %q, want %q", got, testProvider)
	}

	// An order the provider receives: accepted, and VN verifies a receipt from
	// the provider, not from a State.
	doc := example(t, "SubscriberInformation", map[string]any{"/reference": reference(t)})
	status, body := p.send(t, doc)
	mustStatus(t, "send a production order", status, body, http.StatusCreated, "")
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil {
		t.Fatal(err)
	}
	rc, _, err := receipt.Verify(acc.Receipt, p.sp.trustPool(), p.sp.serverName(), time.Now())
	if err != nil || rc.From != "VN" || rc.To != testProvider || rc.Channel != "VN-"+testProvider {
		t.Fatalf("the provider's receipt: %+v, %v", rc, err)
	}
	spID := acc.RequestID
	var ref struct {
		Reference string `json:"reference"`
	}
	_ = json.Unmarshal(doc, &ref)
	vnID := requestID(direction{name: "outbound", from: "VN", to: testProvider}, ref.Reference)

	// An assistance request is between States: the provider's gateway refuses
	// it, though its channel lists the type, and VN's officer is told why.
	status, body = p.send(t, example(t, "MutualLegalAssistance", map[string]any{"/reference": reference(t) + "-mla"}))
	mustStatus(t, "send an assistance request to a provider", status, body, http.StatusForbidden, wire.ReasonPeerRefused)
	if r := refusalOf(t, body); !strings.Contains(r.Error, wire.ReasonProviderMode) || !strings.Contains(r.Error, "not MutualLegalAssistance requests") {
		t.Fatalf("the refusal does not say a provider receives no assistance request: %s", r.Error)
	}

	act := func(c *client, path string, a wire.CaseAction) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(a)
		return c.mustCall(http.MethodPost, wire.PathCases+path+"/transitions", b)
	}
	inbound, outbound := "/inbound/VN/"+spID, "/outbound/"+testProvider+"/"+vnID

	// A provider does not refuse: it contests, with grounds of its own.
	status, body = act(p.spOff, inbound, wire.CaseAction{Action: cases.Refuse, Reason: "no", Grounds: []cases.Ground{cases.GroundOther}})
	mustStatus(t, "a provider refuses", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)
	status, body = act(p.spOff, inbound, wire.CaseAction{Action: cases.Contest, Reason: "Which period?"})
	mustStatus(t, "a contest without grounds", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)
	status, body = act(p.spOff, inbound, wire.CaseAction{Action: cases.Contest,
		Reason:  "The order asks for every account created from the address range over five years; the investigation concerns one week.",
		Grounds: []cases.Ground{cases.GroundOverbroad}})
	mustStatus(t, "contest", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	if err := json.Unmarshal(body, &cu); err != nil || cu.Delivered == nil || !*cu.Delivered {
		t.Fatalf("the contest was not pushed to VN: %s", body)
	}

	// The authority sees the contest, its grounds and reason, from its own vault.
	c := getCase(t, p.vnOfficer, outbound)
	if c.State != cases.Contested || len(c.Transitions) != 1 || c.Transitions[0].Grounds[0] != cases.GroundOverbroad || c.PeerRequestID != spID {
		t.Fatalf("VN's view of the contest: %+v", c)
	}
	if c.Peer != testProvider {
		t.Fatalf("VN's case names the peer %q, want %q", c.Peer, testProvider)
	}
	// A State does not contest, even at the authority's side of the same case.
	status, body = act(p.vnOfficer, outbound, wire.CaseAction{Action: cases.Contest, Reason: "x", Grounds: []cases.Ground{cases.GroundOther}})
	mustStatus(t, "the authority contests", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)

	// The authority narrows the order; the provider resumes and executes it.
	status, body = act(p.vnOfficer, outbound, wire.CaseAction{Action: cases.Clarify, Reason: "Accounts created from 2026-11-02 to 2026-11-09 only."})
	mustStatus(t, "clarify", status, body, http.StatusCreated, "")
	if c := getCase(t, p.spOff, inbound); c.State != cases.Received || len(c.Transitions) != 2 {
		t.Fatalf("the provider after the answer: %s with %d transitions", c.State, len(c.Transitions))
	}
	status, body = act(p.spOff, inbound, wire.CaseAction{Action: cases.Start})
	mustStatus(t, "start", status, body, http.StatusCreated, "")
	status, body = act(p.spOff, inbound, wire.CaseAction{Action: cases.Execute})
	mustStatus(t, "execute", status, body, http.StatusCreated, "")
	if c := getCase(t, p.vnOfficer, outbound); c.State != cases.Executed || len(c.Transitions) != 4 {
		t.Fatalf("VN's view at the end: %s with %d transitions", c.State, len(c.Transitions))
	}

	// A provider's gateway sends no orders of its own.
	status, body = p.spOff.mustCall(http.MethodPost, wire.PathOutbound+p.spToVN+"/requests", example(t, "Preservation", map[string]any{"/reference": reference(t) + "-out"}))
	mustStatus(t, "a provider sends a request", status, body, http.StatusForbidden, wire.ReasonProviderMode)

	// Both sides count the order in their statistics, under each other's name.
	report := func(officer *client) cases.Report {
		status, body := officer.mustCall(http.MethodGet, wire.PathStatistics+"?format=json", nil)
		var r cases.Report
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
			t.Fatalf("statistics: %d %s", status, body)
		}
		return r
	}
	sr, vr := report(p.spOff), report(p.vnOfficer)
	if sr.Country != testProvider || sr.Totals != (cases.Totals{Received: 1}) || vr.Totals != (cases.Totals{Sent: 1}) {
		t.Fatalf("totals: provider %s %+v, VN %+v", sr.Country, sr.Totals, vr.Totals)
	}
	if len(vr.Counts) != 1 || vr.Counts[0].Partner != testProvider || vr.Counts[0].Outcome != cases.Executed {
		t.Fatalf("VN's counts: %+v", vr.Counts)
	}
}

// TestProviderTrustBundle: a provider's gateway publishes a trust bundle that
// names it; a channel expecting a State of the same establishment refuses it,
// and one expecting the provider takes it.
func TestProviderTrustBundle(t *testing.T) {
	p := newProviderPair(t)
	ch := p.vn.gw.current.Load().channels[p.vnToSP]
	probed, err := ch.client.Probe(t.Context(), time.Now())
	if err != nil || probed.Bundle.Provider != testProvider || probed.Bundle.Country != "IE" {
		t.Fatalf("the provider's trust bundle: %+v, %v", probed, err)
	}
	st := p.sp.gw.current.Load()
	compact, err := st.signer.SignTrustBundle(trustBundleOf(st, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := receipt.VerifyTrustBundle(compact, p.sp.trustPool(), "IE", p.sp.serverName(), time.Now(), time.Hour); err == nil ||
		!strings.Contains(err.Error(), "published by the service provider") {
		t.Fatalf("a provider's bundle taken for its State's: %v", err)
	}
	if _, _, err := receipt.VerifyTrustBundle(compact, p.sp.trustPool(), "other-mail", p.sp.serverName(), time.Now(), time.Hour); err == nil ||
		!strings.Contains(err.Error(), `provider is "hopthu-mail", expected "other-mail"`) {
		t.Fatalf("a provider's bundle taken for another provider's: %v", err)
	}
}

// TestProviderSendsNothingToTheAuthority: at the authority's gateway, the
// channel to a provider lists what the authority sends it; the provider's own
// certificate sends nothing over it, and is no party to a joint investigation
// even if the channels file names its channel.
func TestProviderSendsNothingToTheAuthority(t *testing.T) {
	p := newProviderPair(t)
	asProvider := p.vn.clientFor(p.sp.channelCert(p.spToVN), p.vn.trustPool())
	before := p.vn.vault.Status().Objects
	status, body := asProvider.mustCall(http.MethodPost, wire.PathRequests, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	mustStatus(t, "a provider sends the authority a request", status, body, http.StatusForbidden, wire.ReasonProviderMode)
	if after := p.vn.vault.Status().Objects; after != before {
		t.Fatalf("the refused request left %d objects in VN's vault", after-before)
	}

	const caseID = "JIT-2026-MAIL-01"
	p.vn.channels.JointInvestigations = []JointInvestigation{{CaseID: caseID, Agreement: "mistaken", Parties: []string{p.vnToSP}, EndDate: time.Now().Add(time.Hour)}}
	p.vn.writeChannels()
	status, body = p.vnOfficer.mustCall(http.MethodPost, wire.PathJoint+caseID+"/evidence", []byte("an item"))
	mustStatus(t, "share an item", status, body, http.StatusCreated, "")
	status, body = asProvider.mustCall(http.MethodGet, wire.PathJoint+caseID+"/evidence", nil)
	mustStatus(t, "a provider lists a joint investigation's items", status, body, http.StatusNotFound, wire.ReasonNotFound)
}
