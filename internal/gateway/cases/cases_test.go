package cases

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// historyTo builds a valid history that leaves the request in state s.
func historyTo(t *testing.T, s State) History {
	t.Helper()
	steps := map[State][]Action{
		Received:               nil,
		Acknowledged:           {Acknowledge},
		InProgress:             {Acknowledge, Start},
		ClarificationRequested: {Acknowledge, RequestClarification},
		Contested:              {Contest},
		Executed:               {Acknowledge, Start, Execute},
		PartiallyExecuted:      {Start, ExecutePartially},
		Refused:                {Refuse},
		Withdrawn:              {Withdraw},
	}
	var h History
	for i, a := range steps[s] {
		tr, err := Next("rq-1", h, a, rules[a].by, "because", groundsFor(a), a == Contest, t0.Add(time.Duration(i+1)*time.Hour))
		if err != nil {
			t.Fatalf("building a history to %s: %s: %v", s, a, err)
		}
		h = append(h, tr)
	}
	return h
}

func groundsFor(a Action) []Ground {
	switch a {
	case Refuse:
		return []Ground{GroundDualCriminality}
	case Contest:
		return []Ground{GroundOverbroad}
	}
	return nil
}

// TestLifecycleTable: every action from every state, by the party whose action it
// is: allowed exactly where the lifecycle says, and then leading where it says.
func TestLifecycleTable(t *testing.T) {
	want := map[Action]map[State]State{
		Acknowledge:          {Received: Acknowledged},
		Start:                {Received: InProgress, Acknowledged: InProgress},
		Execute:              {Acknowledged: Executed, InProgress: Executed},
		ExecutePartially:     {Acknowledged: PartiallyExecuted, InProgress: PartiallyExecuted},
		Refuse:               {Received: Refused, Acknowledged: Refused, InProgress: Refused, ClarificationRequested: Refused},
		RequestClarification: {Received: ClarificationRequested, Acknowledged: ClarificationRequested, InProgress: ClarificationRequested},
		Contest:              {Received: Contested, Acknowledged: Contested, InProgress: Contested},
		Clarify:              {ClarificationRequested: Acknowledged, Contested: Received},
		Withdraw:             {Received: Withdrawn, Acknowledged: Withdrawn, InProgress: Withdrawn, ClarificationRequested: Withdrawn, Contested: Withdrawn},
	}
	for _, action := range Actions {
		for _, from := range States {
			h := historyTo(t, from)
			provider := action == Contest || from == Contested
			got, err := Next("rq-1", h, action, rules[action].by, "because", groundsFor(action), provider, t0.Add(24*time.Hour))
			to, allowed := want[action][from]
			if action == Refuse && from == Contested {
				allowed = false // a provider's request: providers contest, they do not refuse
			}
			switch {
			case allowed && err != nil:
				t.Errorf("%s from %s: refused (%v), want it to lead to %s", action, from, err, to)
			case allowed && got.To != to:
				t.Errorf("%s from %s leads to %s, want %s", action, from, got.To, to)
			case allowed && got.Sequence != len(h)+1:
				t.Errorf("%s from %s: sequence %d, want %d", action, from, got.Sequence, len(h)+1)
			case !allowed && err == nil:
				t.Errorf("%s from %s: allowed (to %s), want it refused", action, from, got.To)
			case !allowed && action != Contest && (action != Refuse || from != Contested) && !errors.Is(err, ErrNotAllowed):
				t.Errorf("%s from %s: refused with %v, want ErrNotAllowed", action, from, err)
			}
			if allowed {
				if err := CheckHistory(append(h, got)); err != nil {
					t.Errorf("%s from %s: the history does not check: %v", action, from, err)
				}
			}
		}
	}
}

func TestNextRefusals(t *testing.T) {
	received := History{}
	cases := []struct {
		name     string
		h        History
		action   Action
		by       Party
		reason   string
		grounds  []Ground
		provider bool
		want     string
	}{
		{"unknown action", received, "Approve", Requested, "x", nil, false, `action: the 7-byte value is not one of`},
		{"the sender acknowledges", received, Acknowledge, Requester, "", nil, false, "only the requested side may Acknowledge"},
		{"the requested side withdraws", received, Withdraw, Requested, "x", nil, false, "only the requester side may Withdraw"},
		{"a State contests", received, Contest, Requested, "overbroad", []Ground{GroundOverbroad}, false, "only a service provider contests"},
		{"contest without grounds", received, Contest, Requested, "too wide", nil, true, "grounds: a contest states at least one ground, of Unclear, Overbroad, Improper, ConflictOfLaws, Other"},
		{"contest on a refusal's ground", received, Contest, Requested, "sovereign", []Ground{GroundSovereignty}, true, "grounds[0]: the 18-byte value is not one of Unclear, Overbroad, Improper, ConflictOfLaws, Other"},
		{"refusal on a contest's ground", received, Refuse, Requested, "unclear", []Ground{GroundUnclear}, false, "grounds[0]: the 7-byte value is not one of NotInAccordanceWithArticle40"},
		{"contest without reason", received, Contest, Requested, "", []Ground{GroundUnclear}, true, "reason: required for Contest (why the request is contested)"},
		{"a provider refuses", received, Refuse, Requested, "no", []Ground{GroundOther}, true, "does not refuse"},
		{"refusal without grounds", received, Refuse, Requested, "no", nil, false, "grounds: a refusal states at least one ground"},
		{"refusal without reason", received, Refuse, Requested, " ", []Ground{GroundOther}, false, "reason: required for Refuse"},
		{"unknown ground", received, Refuse, Requested, "no", []Ground{"Whim"}, false, `grounds[0]: the 4-byte value is not one of`},
		{"ground twice", received, Refuse, Requested, "no", []Ground{GroundOther, GroundOther}, false, "grounds[1]: Other is given twice"},
		{"grounds on an execution", historyTo(t, InProgress), Execute, Requested, "", []Ground{GroundOther}, false, "only a refusal or a contest has grounds, not Execute"},
		{"clarification without question", received, RequestClarification, Requested, "", nil, false, "reason: required for RequestClarification (the question for the sender)"},
		{"partial without reason", historyTo(t, InProgress), ExecutePartially, Requested, "", nil, false, "reason: required for ExecutePartially"},
		{"a terminal escape in the reason", received, RequestClarification, Requested, "which\x1b[2J one", nil, false, "reason: a control or direction-override character (U+001B) at byte 5"},
		{"a lone carriage return in the reason", received, RequestClarification, Requested, "real\rfake", nil, false, "(U+000D) at byte 4"},
		{"a C1 control in the reason", received, RequestClarification, Requested, "a\u009bb", nil, false, "(U+009B) at byte 1"},
		{"a right-to-left override in the reason", received, RequestClarification, Requested, "abc\u202edef", nil, false, "(U+202E) at byte 3"},
		{"over-long reason", received, RequestClarification, Requested, strings.Repeat("a", MaxReasonBytes+1), nil, false, "reason: 4097 bytes; at most 4096"},
		{"invalid UTF-8", received, RequestClarification, Requested, "\xff", nil, false, "not valid UTF-8"},
		{"a decided request moves", historyTo(t, Executed), Refuse, Requested, "no", []Ground{GroundOther}, false, "a Executed request cannot be moved by Refuse"},
		{"clarify without a question", historyTo(t, InProgress), Clarify, Requester, "here", nil, false, "a InProgress request cannot be moved by Clarify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Next("rq-1", c.h, c.action, c.by, c.reason, c.grounds, c.provider, t0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestClarifyResumesTheStateBeforeTheWait(t *testing.T) {
	h := historyTo(t, InProgress)
	ask, err := Next("rq-1", h, RequestClarification, Requested, "which account?", nil, false, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, ask)
	answer, err := Next("rq-1", h, Clarify, Requester, "the second one", nil, false, t0.Add(6*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if answer.From != ClarificationRequested || answer.To != InProgress {
		t.Errorf("the answer leads from %s to %s, want ClarificationRequested to InProgress", answer.From, answer.To)
	}
	h = append(h, answer)
	// A forged answer that resumes elsewhere does not check.
	forged := append(History{}, h...)
	forged[len(forged)-1].To = Acknowledged
	if err := CheckHistory(forged); err == nil || !strings.Contains(err.Error(), "resumes Acknowledged, but the request was InProgress") {
		t.Errorf("a forged resumption: %v", err)
	}
	if err := CheckHistory(h); err != nil {
		t.Error(err)
	}
}

func TestCheckHistoryRefusesGapsAndDisorder(t *testing.T) {
	h := historyTo(t, Executed)
	gap := append(History{}, h[0], h[2])
	if err := CheckHistory(gap); err == nil {
		t.Error("a history with a missing transition checks")
	}
	back := append(History{}, h...)
	back[2].Time = back[0].Time.Add(-time.Minute)
	if err := CheckHistory(back); err == nil || !strings.Contains(err.Error(), "earlier") {
		t.Errorf("a history going back in time: %v", err)
	}
	other := append(History{}, h...)
	other[1].RequestID = "rq-2"
	if err := CheckHistory(other); err == nil || !strings.Contains(err.Error(), "of request rq-2") {
		t.Errorf("a history mixing requests: %v", err)
	}
}

func TestDueStopsWhileWaitingOnTheSender(t *testing.T) {
	deadline := 72 * time.Hour
	h := historyTo(t, Acknowledged) // acknowledged at t0+1h
	if due := Due(t0, h, deadline, t0.Add(100*time.Hour)); !due.Equal(t0.Add(72 * time.Hour)) {
		t.Errorf("due %s, want t0+72h", due)
	}
	if !Overdue(t0, h, deadline, t0.Add(73*time.Hour)) || Overdue(t0, h, deadline, t0.Add(71*time.Hour)) {
		t.Error("overdue is not exactly after the deadline")
	}
	ask, _ := Next("rq-1", h, RequestClarification, Requested, "?", nil, false, t0.Add(10*time.Hour))
	h = append(h, ask)
	if Overdue(t0, h, deadline, t0.Add(500*time.Hour)) {
		t.Error("a request waiting on the sender is overdue")
	}
	answer, _ := Next("rq-1", h, Clarify, Requester, "!", nil, false, t0.Add(40*time.Hour)) // waited 30h
	h = append(h, answer)
	if due := Due(t0, h, deadline, t0.Add(50*time.Hour)); !due.Equal(t0.Add(102 * time.Hour)) {
		t.Errorf("due %s after a 30h wait, want t0+102h", due.Sub(t0))
	}
	if Overdue(t0, h, deadline, t0.Add(101*time.Hour)) || !Overdue(t0, h, deadline, t0.Add(103*time.Hour)) {
		t.Error("the wait is not added to the deadline")
	}
	done, _ := Next("rq-1", h, Execute, Requested, "", nil, false, t0.Add(200*time.Hour))
	h = append(h, done)
	if Overdue(t0, h, deadline, t0.Add(300*time.Hour)) {
		t.Error("a decided request is overdue")
	}
	if !h.Decided().Equal(t0.Add(200 * time.Hour)) {
		t.Errorf("decided %s", h.Decided())
	}
}

func TestDeadlinesFor(t *testing.T) {
	d := Deadlines{"Preservation": 24 * time.Hour}
	if d.For("Preservation") != 24*time.Hour || d.For("EmergencyDisclosure") != 8*time.Hour || d.For("Unknown") != fallbackDeadline {
		t.Errorf("For: %v %v %v", d.For("Preservation"), d.For("EmergencyDisclosure"), d.For("Unknown"))
	}
}

func TestPreserve(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name     string
		state    State
		links    []Linked
		now      time.Time
		until    time.Time
		held     bool
		heldFor  []string
		contains string
	}{
		{"within 60 days", Acknowledged, nil, t0.Add(59 * day), t0.Add(60 * day), true, nil, "held until"},
		{"after 60 days", Executed, nil, t0.Add(61 * day), t0.Add(60 * day), false, nil, "period ended"},
		{"extended on day 50", Executed, []Linked{{RequestID: "rq-ext", Extension: true, Received: t0.Add(50 * day), State: Executed}},
			t0.Add(100 * day), t0.Add(110 * day), true, nil, "held until"},
		{"a refused extension moves nothing", Executed, []Linked{{RequestID: "rq-ext", Extension: true, Received: t0.Add(50 * day), State: Refused}},
			t0.Add(61 * day), t0.Add(60 * day), false, nil, "period ended"},
		{"an open assistance request holds past the period", Executed, []Linked{
			{RequestID: "rq-ext", Extension: true, Received: t0.Add(50 * day), State: Executed},
			{RequestID: "rq-mla", Received: t0.Add(100 * day), State: InProgress}},
			t0.Add(400 * day), t0.Add(110 * day), true, []string{"rq-mla"}, "rq-mla, which refers to it, is not decided"},
		{"a decided assistance request holds no longer", Executed, []Linked{{RequestID: "rq-mla", Received: t0.Add(10 * day), State: Refused}},
			t0.Add(61 * day), t0.Add(60 * day), false, nil, "period ended"},
		{"a withdrawn preservation holds nothing", Withdrawn, []Linked{{RequestID: "rq-mla", Received: t0.Add(10 * day), State: InProgress}},
			t0.Add(day), t0.Add(60 * day), false, nil, "withdrawn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Preserve(t0, c.state, c.links, c.now)
			if !p.Until.Equal(c.until) || p.Held != c.held || strings.Join(p.HeldFor, ",") != strings.Join(c.heldFor, ",") || !strings.Contains(p.Why, c.contains) {
				t.Errorf("got %+v; want until %s held %v heldFor %v, why containing %q", p, c.until, c.held, c.heldFor, c.contains)
			}
		})
	}
}

func TestComputeReport(t *testing.T) {
	h := func(n int) time.Duration { return time.Duration(n) * time.Hour }
	records := []Record{
		{Direction: Sent, Partner: "FR", Type: "Preservation", Received: t0, State: Executed, Decided: t0.Add(h(10))},
		{Direction: Sent, Partner: "FR", Type: "Preservation", Received: t0.Add(h(1)), State: Executed, Decided: t0.Add(h(21))},
		{Direction: Sent, Partner: "FR", Type: "Preservation", Received: t0.Add(h(2)), State: Refused, Decided: t0.Add(h(32))},
		{Direction: Sent, Partner: "FR", Type: "Preservation", Received: t0.Add(h(3)), State: InProgress, Overdue: true},
		{Direction: ReceivedFrom, Partner: "KE", Type: "EmergencyDisclosure", Received: t0, State: Executed, Decided: t0.Add(h(2))},
		{Direction: ReceivedFrom, Partner: "KE", Type: "EmergencyDisclosure", Received: t0.Add(-h(1)), State: Executed, Decided: t0}, // before the period
	}
	r := Compute("VN", records, t0, t0.Add(h(24)), t0.Add(h(48)))
	if r.Totals != (Totals{Sent: 4, Received: 1, Open: 1, Overdue: 1}) {
		t.Errorf("totals %+v", r.Totals)
	}
	wantCounts := []Count{
		{ReceivedFrom, "KE", "EmergencyDisclosure", Executed, 1},
		{Sent, "FR", "Preservation", InProgress, 1},
		{Sent, "FR", "Preservation", Executed, 2},
		{Sent, "FR", "Preservation", Refused, 1},
	}
	if len(r.Counts) != len(wantCounts) {
		t.Fatalf("counts %+v", r.Counts)
	}
	for i := range wantCounts {
		if r.Counts[i] != wantCounts[i] {
			t.Errorf("count %d: %+v, want %+v", i, r.Counts[i], wantCounts[i])
		}
	}
	// Decided preservations took 10, 20 and 30 hours: nearest-rank p50 20, p90 and p99 30.
	var pres ResponseTime
	for _, rt := range r.ResponseTimes {
		if rt.Direction == Sent && rt.Type == "Preservation" {
			pres = rt
		}
	}
	if pres.Decided != 3 || pres.P50Hours != 20 || pres.P90Hours != 30 || pres.P99Hours != 30 || pres.MaxHours != 30 {
		t.Errorf("preservation response times %+v", pres)
	}
	csv := string(r.CSV())
	for _, want := range []string{
		"country,from,to,table,direction,partner,type,outcome,requests,decided,p50Hours,p90Hours,p99Hours,maxHours\n",
		"VN,2026-11-30T09:00:00Z,2026-12-01T09:00:00Z,count,Sent,FR,Preservation,Executed,2,,,,,\n",
		"VN,2026-11-30T09:00:00Z,2026-12-01T09:00:00Z,responseTime,Sent,,Preservation,,,3,20.00,30.00,30.00,30.00\n",
	} {
		if !strings.Contains(csv, want) {
			t.Errorf("the CSV lacks %q:\n%s", want, csv)
		}
	}
}

// TestReasonKeepsLinesAndTabs: the characters refused in a reason are only the
// hidden ones; paragraphs typed on any system, tabs and non-Latin text stay.
func TestReasonKeepsLinesAndTabs(t *testing.T) {
	reason := "Điều 40:\r\n\tWhich account?\nالحساب الأول — 第一个账户"
	tr, err := Next("rq-1", nil, RequestClarification, Requested, reason, nil, false, time.Now())
	if err != nil || tr.Reason != reason {
		t.Fatalf("%+v, %v", tr, err)
	}
}

// TestNextNeverGoesBackInTime: the next transition taken on a clock behind the
// last one's takes the last one's time, so the history still holds together.
func TestNextNeverGoesBackInTime(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	first, err := Next("rq-1", nil, Acknowledge, Requested, "", nil, false, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Next("rq-1", History{first}, Start, Requested, "", nil, false, now)
	if err != nil || !second.Time.Equal(first.Time) {
		t.Fatalf("%+v, %v", second, err)
	}
	if err := CheckHistory(History{first, second}); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryBounded: after MaxTransitions steps only a decision or a
// withdrawal may follow, so a history always fits the answer a peer reads.
func TestHistoryBounded(t *testing.T) {
	var h History
	step := func(a Action, by Party, reason string) error {
		tr, err := Next("rq-1", h, a, by, reason, nil, false, t0.Add(time.Duration(len(h)+1)*time.Minute))
		if err == nil {
			h = append(h, tr)
		}
		return err
	}
	if err := step(Acknowledge, Requested, ""); err != nil {
		t.Fatal(err)
	}
	for len(h) < MaxTransitions {
		a, by, reason := RequestClarification, Requested, "which account?"
		if h.State() == ClarificationRequested {
			a, by, reason = Clarify, Requester, "the first"
		}
		if err := step(a, by, reason); err != nil {
			t.Fatalf("step %d: %v", len(h)+1, err)
		}
	}
	if h.State() != ClarificationRequested {
		t.Fatalf("after %d steps the request is %s", len(h), h.State())
	}
	err := step(Clarify, Requester, "the second")
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "the most a request may have") {
		t.Fatalf("step %d: %v", MaxTransitions+1, err)
	}
	if err := step(Withdraw, Requester, "we will call"); err != nil {
		t.Fatalf("a withdrawal after %d steps: %v", MaxTransitions, err)
	}
	if err := CheckHistory(h); err != nil {
		t.Fatal(err)
	}
}

// TestProviderAtTheBound: a provider's order contested and clarified up to the
// bound still reaches a decision, and a history with an exchange past the bound
// does not check.
func TestProviderAtTheBound(t *testing.T) {
	var h History
	step := func(a Action, by Party, reason string, grounds []Ground) error {
		tr, err := Next("rq-1", h, a, by, reason, grounds, true, t0.Add(time.Duration(len(h)+1)*time.Minute))
		if err == nil {
			h = append(h, tr)
		}
		return err
	}
	for len(h) < MaxTransitions {
		var err error
		if h.State() == Contested {
			err = step(Clarify, Requester, "narrower", nil)
		} else {
			err = step(Contest, Requested, "too wide", []Ground{GroundOverbroad})
		}
		if err != nil {
			t.Fatalf("step %d: %v", len(h)+1, err)
		}
	}
	if h.State() != Received {
		t.Fatalf("after %d steps: %s", len(h), h.State())
	}
	if err := step(Contest, Requested, "still too wide", []Ground{GroundOverbroad}); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("a contest past the bound: %v", err)
	}
	for _, a := range []Action{Start, Execute} {
		if err := step(a, Requested, "", nil); err != nil {
			t.Fatalf("%s past the bound: %v", a, err)
		}
	}
	if err := CheckHistory(h); err != nil {
		t.Fatal(err)
	}
	forged := append(History{}, h[:MaxTransitions]...)
	forged = append(forged, Transition{RequestID: "rq-1", Sequence: MaxTransitions + 1, Action: Contest, By: Requested,
		From: Received, To: Contested, Time: h[MaxTransitions-1].Time, Reason: "again", Grounds: []Ground{GroundUnclear}})
	if err := CheckHistory(forged); err == nil || !strings.Contains(err.Error(), "after the 100 a request may have") {
		t.Fatalf("a contest past the bound checks: %v", err)
	}
	if err := CheckParties(h[0], false); err == nil {
		t.Fatal("a State's contest passes")
	}
	if err := CheckParties(Transition{Sequence: 1, Action: Refuse}, true); err == nil {
		t.Fatal("a provider's refusal passes")
	}
}
