package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/officer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// shiftedClock is the wall clock moved forward by a settable offset: the
// gateways' and vaults' time in tests that span months.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) advanceTo(d time.Duration) { c.offset.Store(int64(d)) }

// casePair is Viet Nam and France: France sends, Viet Nam's officers decide.
// VN's channel permits FR Preservation, MutualLegalAssistance and
// SubscriberInformation requests and keeps received requests the minimum 60 days.
type casePair struct {
	vn, fr         *country
	vnVault        *vaultProcess
	frToVN, vnToFR string
	vnOfficer      *client
	frOfficer      *client
	clock          *shiftedClock
}

func newCasePair(t *testing.T) *casePair {
	t.Helper()
	p := &casePair{clock: &shiftedClock{}}
	withClock := func(s *Server) { s.Now = p.clock.Now; s.Log = testr.New(t) }
	var frVault *vaultProcess
	p.vn, p.vnVault = startCountry(t, "VN", withClock)
	p.fr, frVault = startCountry(t, "FR", withClock)
	for _, vp := range []*vaultProcess{p.vnVault, frVault} {
		vp.stop()
		vp.cfg.Clock = p.clock
		vp.cfg.Grants[vault.RoleExpire] = vp.cfg.Grants[vault.RoleRelay]
		vp.start()
	}
	p.vnToFR = p.vn.connect(p.fr, "Preservation", "MutualLegalAssistance", "SubscriberInformation")
	p.vn.channels.Channels[0].RetentionDays = 60
	p.vn.writeChannels()
	p.frToVN = p.fr.connect(p.vn, "Preservation")
	p.vnOfficer = p.vn.clientFor(p.vn.officer, p.vn.trustPool())
	p.frOfficer = p.fr.clientFor(p.fr.officer, p.fr.trustPool())
	return p
}

// send is an FR officer's request to VN; it returns FR's id and VN's id of it.
func (p *casePair) send(t *testing.T, doc []byte) (frID, vnID string) {
	t.Helper()
	status, body := p.frOfficer.mustCall(http.MethodPost, wire.PathOutbound+p.frToVN+"/requests", doc)
	if status != http.StatusCreated {
		t.Fatalf("sending: %d %s", status, body)
	}
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Reference string `json:"reference"`
	}
	_ = json.Unmarshal(doc, &ref)
	d := direction{name: "outbound", from: "FR", to: "VN"}
	return requestID(d, ref.Reference), acc.RequestID
}

// vnAct is a VN officer's action on a request FR sent.
func (p *casePair) vnAct(t *testing.T, vnID string, a wire.CaseAction) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(a)
	return p.vnOfficer.mustCall(http.MethodPost, wire.PathCases+"/inbound/FR/"+vnID+"/transitions", body)
}

// frAct is an FR officer's action (Clarify, Withdraw) on a request FR sent.
func (p *casePair) frAct(t *testing.T, frID string, a wire.CaseAction) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(a)
	return p.frOfficer.mustCall(http.MethodPost, wire.PathCases+"/outbound/VN/"+frID+"/transitions", body)
}

func getCase(t *testing.T, officer *client, path string) wire.Case {
	t.Helper()
	status, body := officer.mustCall(http.MethodGet, wire.PathCases+path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var c wire.Case
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustStatus(t *testing.T, what string, status int, body []byte, want int, reason string) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: %d %s, want %d", what, status, body, want)
	}
	if reason != "" {
		if r := refusalOf(t, body); r.Reason != reason {
			t.Fatalf("%s: reason %s (%s), want %s", what, r.Reason, r.Error, reason)
		}
	}
}

func TestRequestLifecycleSeenByBothStates(t *testing.T) {
	p := newCasePair(t)
	frID, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))

	c := getCase(t, p.vnOfficer, "/inbound/FR/"+vnID)
	if c.State != cases.Received || c.Type != "Preservation" || !c.Due.Equal(c.Received.Add(72*time.Hour)) || c.Overdue {
		t.Fatalf("VN's new case: %+v", c)
	}
	if c.Preservation == nil || !c.Preservation.Held || !c.Preservation.Until.Equal(c.Received.Add(cases.MinimumPreservation)) {
		t.Fatalf("a new preservation's hold: %+v", c.Preservation)
	}

	status, body := p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
	mustStatus(t, "acknowledge", status, body, http.StatusCreated, "")
	var cu wire.CaseUpdate
	if err := json.Unmarshal(body, &cu); err != nil || cu.Delivered == nil || !*cu.Delivered {
		t.Fatalf("the acknowledgement was not pushed to FR: %s", body)
	}
	// FR can prove, with its trust in VN alone, that VN recorded the step.
	u, _, err := receipt.VerifyUpdate(cu.Update, p.vn.trustPool(), p.vn.serverName(), time.Now())
	if err != nil || u.Transition.To != cases.Acknowledged || u.From != "FR" || u.To != "VN" || u.RequestID != vnID {
		t.Fatalf("the signed update: %+v, %v", u, err)
	}

	// FR's officer sees it, from FR's own vault.
	fc := getCase(t, p.frOfficer, "/outbound/VN/"+frID)
	if fc.State != cases.Acknowledged || len(fc.Transitions) != 1 || fc.PeerRequestID != vnID {
		t.Fatalf("FR's view after the push: %+v", fc)
	}

	// VN asks a question; FR answers through the same request; it resumes.
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.RequestClarification, Reason: "Which of the two accounts is meant?"})
	mustStatus(t, "ask", status, body, http.StatusCreated, "")
	if fc = getCase(t, p.frOfficer, "/outbound/VN/"+frID); fc.State != cases.ClarificationRequested {
		t.Fatalf("FR sees %s, want ClarificationRequested", fc.State)
	}
	status, body = p.frAct(t, frID, wire.CaseAction{Action: cases.Clarify, Reason: "The first: hoangtu.giaima@hopthu.example."})
	mustStatus(t, "answer", status, body, http.StatusCreated, "")
	if c = getCase(t, p.vnOfficer, "/inbound/FR/"+vnID); c.State != cases.Acknowledged || len(c.Transitions) != 3 {
		t.Fatalf("VN after the answer: %s with %d transitions", c.State, len(c.Transitions))
	}
	if c.Transitions[2].By != cases.Requester || c.Transitions[2].Reason != "The first: hoangtu.giaima@hopthu.example." {
		t.Fatalf("the answer as recorded: %+v", c.Transitions[2])
	}

	// A refusal needs grounds; the answer names the field.
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Refuse, Reason: "Not an offence here."})
	mustStatus(t, "refuse without grounds", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)
	if r := refusalOf(t, body); !strings.Contains(r.Error, "grounds:") {
		t.Fatalf("the refusal does not name grounds: %s", r.Error)
	}
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Refuse, Reason: "Not an offence here.",
		Grounds: []cases.Ground{cases.GroundDualCriminality}, ExpectedState: cases.Acknowledged})
	mustStatus(t, "refuse", status, body, http.StatusCreated, "")
	fc = getCase(t, p.frOfficer, "/outbound/VN/"+frID)
	if fc.State != cases.Refused || len(fc.Transitions) != 4 || fc.Transitions[3].Grounds[0] != cases.GroundDualCriminality {
		t.Fatalf("FR's view of the refusal: %+v", fc)
	}
	// Decided: nothing moves it any more.
	status, body = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Execute})
	mustStatus(t, "execute a refused request", status, body, http.StatusConflict, wire.ReasonTransitionNotAllowed)
	status, body = p.frAct(t, frID, wire.CaseAction{Action: cases.Withdraw, Reason: "no longer needed"})
	mustStatus(t, "withdraw a refused request", status, body, http.StatusConflict, wire.ReasonTransitionNotAllowed)

	// The sender reads the state of its request over the peer API, with every update.
	frChannel := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	status, body = frChannel.mustCall(http.MethodGet, wire.PathRequests+"/"+vnID, nil)
	var rs wire.RequestState
	if status != http.StatusOK || json.Unmarshal(body, &rs) != nil || rs.State != cases.Refused || len(rs.Updates) != 4 {
		t.Fatalf("GET the request's state: %d %s", status, body)
	}

	// A second request: FR withdraws it.
	frID2, vnID2 := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-2"}))
	status, body = p.frAct(t, frID2, wire.CaseAction{Action: cases.Withdraw, Reason: "The suspect was identified otherwise."})
	mustStatus(t, "withdraw", status, body, http.StatusCreated, "")
	if c = getCase(t, p.vnOfficer, "/inbound/FR/"+vnID2); c.State != cases.Withdrawn || c.Preservation.Held {
		t.Fatalf("VN's view of the withdrawal: %+v", c)
	}

	// Statistics from the custody records, on both sides.
	report := func(officer *client) cases.Report {
		status, body := officer.mustCall(http.MethodGet, wire.PathStatistics, nil)
		var r cases.Report
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
			t.Fatalf("statistics: %d %s", status, body)
		}
		return r
	}
	vr, fr := report(p.vnOfficer), report(p.frOfficer)
	if vr.Totals != (cases.Totals{Received: 2}) || fr.Totals != (cases.Totals{Sent: 2}) {
		t.Fatalf("totals: VN %+v, FR %+v", vr.Totals, fr.Totals)
	}
	want := map[cases.State]int{cases.Refused: 1, cases.Withdrawn: 1}
	for _, r := range []cases.Report{vr, fr} {
		for _, c := range r.Counts {
			if c.Type != "Preservation" || want[c.Outcome] != c.Requests {
				t.Errorf("%s's count %+v", r.Country, c)
			}
		}
		if len(r.Counts) != 2 || len(r.ResponseTimes) != 1 || r.ResponseTimes[0].Decided != 2 {
			t.Errorf("%s's report: %+v", r.Country, r)
		}
	}
	status, body = p.vnOfficer.mustCall(http.MethodGet, wire.PathStatistics+"?format=csv", nil)
	if status != http.StatusOK || !strings.Contains(string(body), "VN,") || !strings.Contains(string(body), ",count,Received,FR,Preservation,Refused,1,") {
		t.Fatalf("CSV: %d %s", status, body)
	}

	// The same statistics as metrics, from the custody records at each scan; a
	// third request is refused two hours after it came.
	_, vnID3 := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-3"}))
	p.clock.advanceTo(2 * time.Hour)
	status, body = p.vnAct(t, vnID3, wire.CaseAction{Action: cases.Refuse, Reason: "Outside our jurisdiction.", Grounds: []cases.Ground{cases.GroundOther}})
	mustStatus(t, "refuse the third", status, body, http.StatusCreated, "")
	p.vn.gw.scanOnce(t.Context(), p.vn.gw.current.Load(), nil)
	m := p.vn.gw.metrics
	for outcome, want := range map[cases.State]float64{cases.Refused: 2, cases.Withdrawn: 1, cases.Executed: 0} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues("received", "FR", "Preservation", string(outcome))); got != want {
			t.Errorf("cybercoop_gateway_requests{received, FR, Preservation, %s} = %v, want %v", outcome, got, want)
		}
	}
	slowest := testutil.ToFloat64(m.responseTime.WithLabelValues("received", "Preservation", "1"))
	median := testutil.ToFloat64(m.responseTime.WithLabelValues("received", "Preservation", "0.5"))
	if slowest < 7200 || slowest > 7300 || median > 60 || testutil.CollectAndCount(m.responseTime) != 4 {
		t.Errorf("response times: median %v s, slowest %v s, %d series", median, slowest, testutil.CollectAndCount(m.responseTime))
	}
}

func TestLifecycleRefusesWhatIsNotTheCallers(t *testing.T) {
	p := newCasePair(t)
	_, vnID := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	frChannel := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	acknowledge, _ := json.Marshal(wire.CaseAction{Action: cases.Acknowledge})

	// The peer is not an officer of VN.
	status, body := frChannel.mustCall(http.MethodGet, wire.PathCases, nil)
	mustStatus(t, "the peer lists VN's cases", status, body, http.StatusForbidden, wire.ReasonNotAnOfficer)
	status, body = frChannel.mustCall(http.MethodPost, wire.PathCases+"/inbound/FR/"+vnID+"/transitions", acknowledge)
	mustStatus(t, "the peer acts as VN's officer", status, body, http.StatusForbidden, wire.ReasonNotAnOfficer)
	// Over the peer API the sender takes only the sender's actions.
	status, body = frChannel.mustCall(http.MethodPost, wire.PathRequests+"/"+vnID+"/transitions", acknowledge)
	mustStatus(t, "the sender acknowledges its own request", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)
	// A request that is not the caller's is not found, like one that does not exist.
	status, body = frChannel.mustCall(http.MethodPost, wire.PathRequests+"/rq-"+strings.Repeat("0", 32)+"/transitions",
		[]byte(`{"action":"Withdraw","reason":"x"}`))
	mustStatus(t, "an unknown request", status, body, http.StatusNotFound, wire.ReasonNotFound)
	// Unknown fields and other bodies are refused without being echoed.
	status, body = p.vnOfficer.mustCall(http.MethodPost, wire.PathCases+"/inbound/FR/"+vnID+"/transitions", []byte(`{"action":"Acknowledge","state":"Executed"}`))
	mustStatus(t, "an unknown field", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)
	if r := refusalOf(t, body); !strings.Contains(r.Error, `unknown field "state"`) {
		t.Fatalf("the refusal: %s", r.Error)
	}
	status, body = p.vnOfficer.mustCall(http.MethodPost, wire.PathCases+"/inbound/FR/"+vnID+"/transitions", []byte(`{"action":"Acknowledge"} {}`))
	mustStatus(t, "two objects", status, body, http.StatusBadRequest, wire.ReasonInvalidTransition)

	// A status update VN did not sign is refused by FR, and so is one for a request FR never sent.
	status, body = p.fr.clientFor(p.vn.channelCert(p.vnToFR), p.fr.trustPool()).mustCall(http.MethodPost, wire.PathUpdates, []byte(`{"update":"a.b.c"}`))
	mustStatus(t, "a malformed update", status, body, http.StatusBadRequest, wire.ReasonUpdateInvalid)

	// Two officers acknowledging at once: one wins, the other is told it moved.
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = p.vnAct(t, vnID, wire.CaseAction{Action: cases.Acknowledge})
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("a concurrent acknowledgement answered %d", s)
		}
	}
	c := getCase(t, p.vnOfficer, "/inbound/FR/"+vnID)
	if created != 1 || len(c.Transitions) != 1 {
		t.Fatalf("%d acknowledgements succeeded, %d transitions recorded; want 1 and 1", created, len(c.Transitions))
	}
}

// TestPreservationHeldWhileAssistanceOpen: a preservation extended on day 50, then
// followed on day 80 by a mutual legal assistance request that refers to it, keeps
// its data held on day 200, past its 60 days and the extension's, while the
// assistance request is open: the vault expires nothing of it. Once the assistance
// request is decided the hold ends.
func TestPreservationHeldWhileAssistanceOpen(t *testing.T) {
	p := newCasePair(t)
	day := 24 * time.Hour
	ref := reference(t)
	_, preservation := p.send(t, example(t, "Preservation", map[string]any{"/reference": ref}))
	_, other := p.send(t, example(t, "SubscriberInformation", map[string]any{"/reference": ref + "-si"}))
	for _, a := range []cases.Action{cases.Start, cases.Execute} {
		status, body := p.vnAct(t, other, wire.CaseAction{Action: a})
		mustStatus(t, "subscriber information: "+string(a), status, body, http.StatusCreated, "")
	}
	received := getCase(t, p.vnOfficer, "/inbound/FR/"+preservation).Received
	status, body := p.vnAct(t, preservation, wire.CaseAction{Action: cases.Execute})
	mustStatus(t, "execute the preservation", status, body, http.StatusConflict, wire.ReasonTransitionNotAllowed)
	for _, a := range []cases.Action{cases.Start, cases.Execute} {
		status, body = p.vnAct(t, preservation, wire.CaseAction{Action: a})
		mustStatus(t, string(a), status, body, http.StatusCreated, "")
	}

	p.clock.advanceTo(50 * day)
	_, extension := p.send(t, example(t, "Preservation", map[string]any{"/reference": ref + "-ext", "/kind": "Extension", "/extends": ref}))
	p.clock.advanceTo(80 * day)
	_, assistance := p.send(t, example(t, "MutualLegalAssistance", map[string]any{"/reference": ref + "-mla", "/preservationReferences": []string{ref}}))

	p.clock.advanceTo(200 * day)
	c := getCase(t, p.vnOfficer, "/inbound/FR/"+preservation)
	if c.Preservation == nil || !c.Preservation.Held || len(c.Preservation.HeldFor) != 1 || c.Preservation.HeldFor[0] != assistance ||
		len(c.Preservation.Extensions) != 1 || c.Preservation.Extensions[0] != extension {
		t.Fatalf("day 200, the assistance request open: %+v", c.Preservation)
	}
	if until := c.Preservation.Until.Sub(received); until < 109*day || until > 111*day {
		t.Fatalf("the extension moved the period to day %.1f, want 110", until.Hours()/24)
	}
	// The vault expires what is past its retention (60 days here) and not held:
	// the subscriber-information request decided on day 0 goes, the
	// preservation's and the assistance request's records are held, and stay.
	p.vn.gw.scanOnce(t.Context(), p.vn.gw.current.Load(), nil)
	expired, err := p.vn.vault.Expire(p.gatewayVaultIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := p.vn.vault.List(p.gatewayVaultIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, o := range objects {
		for _, ci := range o.Cases {
			kept[ci.Metadata.CaseReference] = true
		}
	}
	for _, want := range []string{"inbound/FR/" + preservation, "inbound/FR/" + preservation + "/receipt",
		"inbound/FR/" + preservation + "/transitions/0002/signed", "inbound/FR/" + extension, "inbound/FR/" + assistance + "/receipt"} {
		if !kept[want] {
			t.Errorf("day 200: %s was expired", want)
		}
	}
	if kept["inbound/FR/"+other] || len(expired) == 0 {
		t.Errorf("day 200: the subscriber-information request (decided on day 0, retention 60 days, not held) was not expired (%d objects expired)", len(expired))
	}

	// The assistance request is decided on day 201: the preservation holds no
	// longer. (France's gateway cannot verify the pushed update on day 201: the
	// test's certificates expired on day 90, and nobody renews them here.)
	p.clock.advanceTo(201 * day)
	status, body = p.vnAct(t, assistance, wire.CaseAction{Action: cases.Refuse, Reason: "Insufficient link to the offence.", Grounds: []cases.Ground{cases.GroundNotInAccordance}})
	mustStatus(t, "refuse the assistance request", status, body, http.StatusCreated, "")
	c = getCase(t, p.vnOfficer, "/inbound/FR/"+preservation)
	if c.Preservation.Held || len(c.Preservation.HeldFor) != 0 || !strings.Contains(c.Preservation.Why, "period ended") {
		t.Fatalf("day 201, the assistance request refused: %+v", c.Preservation)
	}
}

// TestOpenRequestFilesOutliveRetention: the records of a request nobody has
// decided are kept past the channel's retention, on both sides, and the
// retention runs from the decision; then they expire.
func TestOpenRequestFilesOutliveRetention(t *testing.T) {
	p := newCasePair(t)
	day := 24 * time.Hour
	frID, vnID := p.send(t, example(t, "SubscriberInformation", map[string]any{"/reference": reference(t)}))
	vnRecords := []string{"inbound/FR/" + vnID, "inbound/FR/" + vnID + "/receipt"}
	frRecords := []string{"outbound/VN/" + frID, "outbound/VN/" + frID + "/receipt"}
	holds := func(c *country, caseRefs []string) []string {
		t.Helper()
		objects, err := c.vault.List(vault.IdentityFromCertificate(c.channelCertAt(c.paths.VaultClientDir)))
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, o := range objects {
			for _, ci := range o.Cases {
				present[ci.Metadata.CaseReference] = true
			}
		}
		var missing []string
		for _, r := range caseRefs {
			if !present[r] {
				missing = append(missing, r)
			}
		}
		return missing
	}
	expire := func(c *country) {
		t.Helper()
		if _, err := c.vault.Expire(vault.IdentityFromCertificate(c.channelCertAt(c.paths.VaultClientDir))); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(c *country) { c.gw.scanOnce(t.Context(), c.gw.current.Load(), nil) }

	// Day 45: both gateways find the records of the open request within 30
	// days of their retention (day 60) and keep them for another 60 days.
	p.clock.advanceTo(45 * day)
	scan(p.vn)
	scan(p.fr)
	// Day 100: past the original retention, the request still open: nothing
	// of its file is expired, on either side.
	p.clock.advanceTo(100 * day)
	expire(p.vn)
	expire(p.fr)
	if missing := holds(p.vn, vnRecords); len(missing) > 0 {
		t.Fatalf("day 100, the request open: VN lost %v", missing)
	}
	if missing := holds(p.fr, frRecords); len(missing) > 0 {
		t.Fatalf("day 100, the request open: FR lost %v", missing)
	}
	// VN decides it on day 100: its file is kept 60 days from the decision.
	for _, a := range []cases.Action{cases.Start, cases.Execute} {
		status, body := p.vnAct(t, vnID, wire.CaseAction{Action: a})
		mustStatus(t, string(a), status, body, http.StatusCreated, "")
	}
	scan(p.vn)
	vnRecords = append(vnRecords, "inbound/FR/"+vnID+"/transitions/0001", "inbound/FR/"+vnID+"/transitions/0002/signed")
	p.clock.advanceTo(155 * day)
	expire(p.vn)
	if missing := holds(p.vn, vnRecords); len(missing) > 0 {
		t.Fatalf("day 155, decided on day 100: VN lost %v", missing)
	}
	p.clock.advanceTo(165 * day)
	scan(p.vn)
	expire(p.vn)
	if missing := holds(p.vn, vnRecords); len(missing) != len(vnRecords) {
		t.Fatalf("day 165, decided on day 100 with 60 days' retention: VN still holds %d of %d records", len(vnRecords)-len(missing), len(vnRecords))
	}
}

// gatewayVaultIdentity is the identity VN's gateway has at its vault.
func (p *casePair) gatewayVaultIdentity(t *testing.T) vault.Identity {
	t.Helper()
	cert := p.vn.channelCertAt(p.vn.paths.VaultClientDir)
	return vault.IdentityFromCertificate(cert)
}

// TestOverdueRequestsCounted: a preservation not decided within its 72 hours is
// counted overdue in the gauges and the case view; waiting on the sender stops
// the clock; a decided request counts no longer.
func TestOverdueRequestsCounted(t *testing.T) {
	p := newCasePair(t)
	_, id := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	scan := func() (open, overdue float64) {
		t.Helper()
		st := p.vn.gw.current.Load()
		objects, err := st.vault.Objects(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		all, err := p.vn.gw.collect(t.Context(), st, objects)
		if err != nil {
			t.Fatal(err)
		}
		p.vn.gw.recordScan(all, nil)
		return testutil.ToFloat64(p.vn.gw.metrics.open.WithLabelValues("FR", "Preservation")),
			testutil.ToFloat64(p.vn.gw.metrics.overdue.WithLabelValues("FR", "Preservation"))
	}
	if open, overdue := scan(); open != 1 || overdue != 0 {
		t.Fatalf("a new request: open %v overdue %v", open, overdue)
	}
	p.clock.advanceTo(73 * time.Hour)
	if open, overdue := scan(); open != 1 || overdue != 1 {
		t.Fatalf("after 73 hours: open %v overdue %v", open, overdue)
	}
	status, body := p.vnOfficer.mustCall(http.MethodGet, wire.PathCases+"?overdue=true", nil)
	var listed []wire.Case
	if status != http.StatusOK || json.Unmarshal(body, &listed) != nil || len(listed) != 1 || listed[0].RequestID != id || !listed[0].Overdue {
		t.Fatalf("GET /v1/cases?overdue=true: %d %s", status, body)
	}
	status, body = p.vnAct(t, id, wire.CaseAction{Action: cases.RequestClarification, Reason: "Which period?"})
	mustStatus(t, "ask", status, body, http.StatusCreated, "")
	if _, overdue := scan(); overdue != 0 {
		t.Fatalf("waiting on the sender: overdue %v", overdue)
	}
	status, body = p.vnAct(t, id, wire.CaseAction{Action: cases.Refuse, Reason: "No answer.", Grounds: []cases.Ground{cases.GroundOther}})
	mustStatus(t, "refuse", status, body, http.StatusCreated, "")
	if open, overdue := scan(); open != 0 || overdue != 0 {
		t.Fatalf("decided: open %v overdue %v", open, overdue)
	}
}

// TestOfficerClient: the client `cybercoop cases` is built on, with the officer's
// credentials laid out as the operator's Secret is.
func TestOfficerClient(t *testing.T) {
	p := newCasePair(t)
	_, id := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	dir := t.TempDir()
	certPEM, keyPEM := p.vn.issuePEM(pki.LeafSpec{CommonName: "duty officer", URIs: []string{p.vn.officerIdentity()}, Usages: []pki.Usage{pki.UsageClient}})
	writeFile(t, filepath.Join(dir, "tls.crt"), certPEM)
	writeFile(t, filepath.Join(dir, "tls.key"), keyPEM)
	writeFile(t, filepath.Join(dir, "ca.crt"), p.vn.trustPEM())
	cert, roots, err := officer.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := officer.New(p.vn.url, p.vn.serverName(), cert, roots)
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.List(t.Context(), officer.Filter{Direction: "inbound"})
	if err != nil || len(all) != 1 || all[0].RequestID != id {
		t.Fatalf("list: %+v, %v", all, err)
	}
	// VN's officer sends France a request through VN's gateway.
	acc, err := c.Send(t.Context(), p.vnToFR, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-out"}))
	if err != nil || !acc.Verified || acc.RequestID == "" {
		t.Fatalf("send: %+v, %v", acc, err)
	}
	if _, err := c.Send(t.Context(), "../cases", []byte("{}")); err == nil || !strings.Contains(err.Error(), "a channel is named by its CooperationChannel") {
		t.Fatalf("send over a path: %v", err)
	}
	var malformed *officer.Error
	if _, err := c.Send(t.Context(), p.vnToFR, example(t, "Preservation", map[string]any{"/reference": nil})); !errors.As(err, &malformed) ||
		malformed.Refusal.Reason != wire.ReasonMalformedRequest {
		t.Fatalf("send a request without a reference: %v", err)
	}
	target := "inbound/FR/" + id
	u, err := c.Act(t.Context(), target, wire.CaseAction{Action: cases.Start})
	if err != nil || u.Transition.To != cases.InProgress {
		t.Fatalf("act: %+v, %v", u, err)
	}
	_, err = c.Act(t.Context(), target, wire.CaseAction{Action: cases.Start})
	var refused *officer.Error
	if !errors.As(err, &refused) || refused.Status != http.StatusConflict || refused.Refusal.Reason != wire.ReasonTransitionNotAllowed {
		t.Fatalf("acting twice: %v", err)
	}
	if _, err := c.Show(t.Context(), "inbound/FR/rq-"+strings.Repeat("0", 32)); !officer.IsNotFound(err) {
		t.Fatalf("an unknown request: %v", err)
	}
	if _, err := c.Show(t.Context(), "FR/"+id); err == nil || !strings.Contains(err.Error(), "inbound|outbound/<peer country or provider>/<request id>") {
		t.Fatalf("a malformed target: %v", err)
	}
	csv, err := c.Statistics(t.Context(), time.Time{}, time.Time{}, true)
	if err != nil || !strings.Contains(string(csv), ",count,Received,FR,Preservation,InProgress,1,") {
		t.Fatalf("statistics: %s, %v", csv, err)
	}
	// The peer's channel certificate is not an officer's.
	frCert := p.fr.channelCert(p.frToVN)
	stranger, _ := officer.New(p.vn.url, p.vn.serverName(), frCert, roots)
	if _, err := stranger.List(t.Context(), officer.Filter{}); !errors.As(err, &refused) || refused.Refusal.Reason != wire.ReasonNotAnOfficer {
		t.Fatalf("the peer lists VN's cases: %v", err)
	}
}

// TestChannelDeadlines: a channel's own deadline for a type replaces the default.
func TestChannelDeadlines(t *testing.T) {
	p := newCasePair(t)
	p.vn.channels.Channels[0].Deadlines = map[string]string{"Preservation": "2h"}
	p.vn.writeChannels()
	_, id := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	c := getCase(t, p.vnOfficer, "/inbound/FR/"+id)
	if !c.Due.Equal(c.Received.Add(2 * time.Hour)) {
		t.Fatalf("due %s after receipt, want the channel's 2h", c.Due.Sub(c.Received))
	}
	_, id = p.send(t, example(t, "MutualLegalAssistance", map[string]any{"/reference": reference(t) + "-mla"}))
	if c = getCase(t, p.vnOfficer, "/inbound/FR/"+id); !c.Due.Equal(c.Received.Add(90 * 24 * time.Hour)) {
		t.Fatalf("a type without the channel's deadline: due %s after receipt, want the default 90 days", c.Due.Sub(c.Received))
	}
}

// TestCasesSummary: the operator's certificate (the State's CA, the operator
// identity) reads the open and overdue counts by channel; a peer does not.
func TestCasesSummary(t *testing.T) {
	p := newCasePair(t)
	const operatorID = "spiffe://cybercoop.io/ns/vn/focalpoint/vn-poc/operator"
	cfg, err := LoadConfig(p.vn.paths.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OperatorIdentity = operatorID
	body, _ := json.Marshal(cfg)
	writeFile(t, p.vn.paths.Config, body)
	p.vn.reload()
	operator := p.vn.clientFor(p.vn.issue("", pki.LeafSpec{CommonName: "operator", URIs: []string{operatorID}, Usages: []pki.Usage{pki.UsageClient}}), p.vn.trustPool())

	_, first := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	p.clock.advanceTo(24 * time.Hour)
	_, second := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t) + "-2"}))
	p.clock.advanceTo(90 * time.Hour) // the first is 18 hours overdue, the second not yet
	st := p.vn.gw.current.Load()
	objects, err := st.vault.Objects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := p.vn.gw.collect(t.Context(), st, objects)
	if err != nil {
		t.Fatal(err)
	}
	p.vn.gw.lastScan.Store(summarise(st, all, objects, p.clock.Now()))

	status, out := operator.mustCall(http.MethodGet, wire.PathCasesSummary, nil)
	var sum wire.CasesSummary
	if status != http.StatusOK || json.Unmarshal(out, &sum) != nil {
		t.Fatalf("the operator reads the summary: %d %s", status, out)
	}
	want := wire.ChannelSummary{Channel: p.vnToFR, Peer: "FR", Open: 2, Overdue: 1, OverdueRequests: []string{first}}
	if len(sum.Channels) != 1 || sum.Channels[0].Channel != want.Channel || sum.Channels[0].Open != 2 || sum.Channels[0].Overdue != 1 ||
		len(sum.Channels[0].OverdueRequests) != 1 || sum.Channels[0].OverdueRequests[0] != first {
		t.Fatalf("summary %+v, want %+v (second request %s)", sum, want, second)
	}
	if strings.Contains(string(out), "reference") || strings.Contains(string(out), "Preservation") {
		t.Fatalf("the summary carries more than counts and ids: %s", out)
	}
	frChannel := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	status, out = frChannel.mustCall(http.MethodGet, wire.PathCasesSummary, nil)
	mustStatus(t, "the peer reads the summary", status, out, http.StatusForbidden, wire.ReasonNotAnOfficer)
	// A certificate of the peer's CA carrying the operator identity is not the operator.
	forged := p.vn.clientFor(p.fr.issue("", pki.LeafSpec{CommonName: "operator", URIs: []string{operatorID}, Usages: []pki.Usage{pki.UsageClient}}), p.vn.trustPool())
	status, out = forged.mustCall(http.MethodGet, wire.PathCasesSummary, nil)
	mustStatus(t, "the operator identity from the peer's CA", status, out, http.StatusForbidden, wire.ReasonNotAnOfficer)
}
