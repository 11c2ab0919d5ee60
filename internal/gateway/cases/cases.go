// Package cases is the lifecycle of a request between States, once its receipt
// has been issued: the states a request moves through, who may move it where,
// its deadline, how long a preservation lasts, and the statistics States report.
// It is pure: the gateway records each transition in the vault (a custody entry
// with actor, time and reason) and signs it for the sender; this package decides
// whether a transition is allowed and what a history means.
package cases

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// State is where a request stands.
type State string

const (
	// Received: recorded in the vault and acknowledged with a receipt.
	Received State = "Received"
	// Acknowledged: an officer of the requested side has taken the request on.
	Acknowledged State = "Acknowledged"
	// InProgress: the requested side is executing it.
	InProgress State = "InProgress"
	// ClarificationRequested: the requested side asked the sender for more; the
	// sender answers through the same request, which then resumes where it was.
	ClarificationRequested State = "ClarificationRequested"
	// Contested: a service provider contests the request (unclear, overbroad,
	// improper, conflict of laws); the authority clarifies or withdraws it.
	Contested State = "Contested"
	// Executed: done in full.
	Executed State = "Executed"
	// PartiallyExecuted: done in part; the reason says what was not.
	PartiallyExecuted State = "PartiallyExecuted"
	// Refused: refused, with grounds.
	Refused State = "Refused"
	// Withdrawn: the sender withdrew it.
	Withdrawn State = "Withdrawn"
)

// States lists every state, in lifecycle order.
var States = []State{Received, Acknowledged, InProgress, ClarificationRequested, Contested, Executed, PartiallyExecuted, Refused, Withdrawn}

// Terminal reports whether nothing follows s: the request is decided.
func (s State) Terminal() bool {
	switch s {
	case Executed, PartiallyExecuted, Refused, Withdrawn:
		return true
	}
	return false
}

// waiting reports whether the request waits on the sender in s: its deadline
// does not run then.
func (s State) waiting() bool { return s == ClarificationRequested || s == Contested }

// Party is a side of a request.
type Party string

const (
	// Requested is the side that received the request (its officers, or a
	// service provider).
	Requested Party = "Requested"
	// Requester is the side that sent it.
	Requester Party = "Requester"
)

// Action is what a party does to a request.
type Action string

const (
	Acknowledge          Action = "Acknowledge"
	Start                Action = "Start"
	Execute              Action = "Execute"
	ExecutePartially     Action = "ExecutePartially"
	Refuse               Action = "Refuse"
	RequestClarification Action = "RequestClarification"
	// Contest is a service provider's: see Contested.
	Contest Action = "Contest"
	// Clarify is the sender's answer to a clarification request or a contest;
	// the request resumes in the state it was in before.
	Clarify  Action = "Clarify"
	Withdraw Action = "Withdraw"
)

// Actions lists every action.
var Actions = []Action{Acknowledge, Start, Execute, ExecutePartially, Refuse, RequestClarification, Contest, Clarify, Withdraw}

// Ground is a ground for refusing assistance, as the convention's article 40
// (paragraphs 8, 21 and 22) and article 42(5) list them.
type Ground string

const (
	// GroundNotInAccordance: the request does not comply with article 40.
	GroundNotInAccordance Ground = "NotInAccordanceWithArticle40"
	// GroundSovereignty: execution is likely to prejudice sovereignty, security,
	// public order or other essential interests (40(21)(b)).
	GroundSovereignty Ground = "EssentialInterests"
	// GroundDomesticLaw: the requested State's authorities would be prohibited by
	// its domestic law from taking the action for a similar offence (40(21)(c)).
	GroundDomesticLaw Ground = "ProhibitedByDomesticLaw"
	// GroundLegalSystem: granting it would be contrary to the requested State's
	// legal system relating to mutual legal assistance (40(21)(d)).
	GroundLegalSystem Ground = "ContraryToLegalSystem"
	// GroundDiscrimination: substantial grounds to believe the request was made
	// to prosecute or punish a person on account of sex, race, language,
	// religion, nationality, ethnic origin or political opinions (40(22)).
	GroundDiscrimination Ground = "Discrimination"
	// GroundDualCriminality: the conduct is not an offence in the requested
	// State, where it requires dual criminality (40(8), 42(4)).
	GroundDualCriminality Ground = "AbsenceOfDualCriminality"
	// GroundPoliticalOffence: the offence is regarded as a political offence
	// (42(5) for preservation).
	GroundPoliticalOffence Ground = "PoliticalOffence"
	// GroundDataProtection: the data-protection conditions (article 36) cannot
	// be met.
	GroundDataProtection Ground = "DataProtection"
	// GroundOther: another ground, which the reason states.
	GroundOther Ground = "Other"
)

// Grounds lists every ground.
var Grounds = []Ground{GroundNotInAccordance, GroundSovereignty, GroundDomesticLaw, GroundLegalSystem, GroundDiscrimination,
	GroundDualCriminality, GroundPoliticalOffence, GroundDataProtection, GroundOther}

// The grounds a service provider contests an order on (the convention's
// articles 25 to 27 leave the order's form to domestic law; these are the
// objections providers raise in practice, as in the EU e-Evidence
// Regulation's article 10(5) and 16).
const (
	// GroundUnclear: the order is incomplete or unclear: the provider cannot
	// tell what is asked, of whom, or over which period.
	GroundUnclear Ground = "Unclear"
	// GroundOverbroad: the order asks for more than the offence or the
	// period justifies.
	GroundOverbroad Ground = "Overbroad"
	// GroundImproper: the order was not issued or validated by a competent
	// authority, or is not a provider's to answer (it does not hold the data).
	GroundImproper Ground = "Improper"
	// GroundConflictOfLaws: complying would breach the law of another State
	// that governs the data or the provider.
	GroundConflictOfLaws Ground = "ConflictOfLaws"
)

// ContestGrounds lists the grounds a provider contests on; GroundOther is one
// of them too.
var ContestGrounds = []Ground{GroundUnclear, GroundOverbroad, GroundImproper, GroundConflictOfLaws, GroundOther}

// MaxTransitions bounds a request's history: a request that has gone back and
// forth a hundred times needs people to talk, not another step, and the whole
// history, signed, must fit the answer a peer reads (GET /v1/requests/{id}, at
// most 1 MiB: a signed update with its inclusion proof is under 8 KiB).
const MaxTransitions = 100

// loops reports whether an action can send a request back to an earlier
// state: the exchanges a history's bound stops. Every other action moves it
// towards a decision, so at most three follow the bound.
func loops(a Action) bool { return a == RequestClarification || a == Contest || a == Clarify }

// CheckParties checks a transition against who the requested side is: only a
// service provider contests, and a provider does not refuse (Next enforces the
// same on the side that takes the step; the sender checks what it is sent).
func CheckParties(t Transition, providerRequested bool) error {
	switch {
	case t.Action == Contest && !providerRequested:
		return fmt.Errorf("transition %d: a State contested; only a service provider contests a request", t.Sequence)
	case t.Action == Refuse && providerRequested:
		return fmt.Errorf("transition %d: a service provider refused; a provider contests a request, and the authority decides", t.Sequence)
	}
	return nil
}

// MaxReasonBytes bounds a transition's reason: a few paragraphs for people. It
// is not the place for evidence, which travels through the vault.
const MaxReasonBytes = 4096

// Transition is one step of a request's lifecycle. The gateway stores it in the
// vault (canonical JSON) as a custody entry of its own; the entry names the
// actor, the vault's clock the time.
type Transition struct {
	// RequestID is the receiving gateway's id of the request.
	RequestID string `json:"requestId"`
	// Sequence numbers the transitions of a request from 1; the receipt is 0.
	Sequence int       `json:"sequence"`
	Action   Action    `json:"action"`
	By       Party     `json:"by"`
	From     State     `json:"from"`
	To       State     `json:"to"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
	Grounds  []Ground  `json:"grounds,omitempty"`
}

// History is a request's transitions in order.
type History []Transition

// State is where the history leaves the request.
func (h History) State() State {
	if len(h) == 0 {
		return Received
	}
	return h[len(h)-1].To
}

// resumes is the state the request returns to when the sender clarifies: the
// one before the latest clarification request or contest.
func (h History) resumes() State {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].To.waiting() {
			return h[i].From
		}
	}
	return Received
}

// rule is who may take an action and from which states.
type rule struct {
	by   Party
	from []State
	to   State // "" for Clarify: the state before the wait
}

var open = []State{Received, Acknowledged, InProgress}

var rules = map[Action]rule{
	Acknowledge:          {Requested, []State{Received}, Acknowledged},
	Start:                {Requested, []State{Received, Acknowledged}, InProgress},
	Execute:              {Requested, []State{Acknowledged, InProgress}, Executed},
	ExecutePartially:     {Requested, []State{Acknowledged, InProgress}, PartiallyExecuted},
	Refuse:               {Requested, []State{Received, Acknowledged, InProgress, ClarificationRequested, Contested}, Refused},
	RequestClarification: {Requested, open, ClarificationRequested},
	Contest:              {Requested, open, Contested},
	Clarify:              {Requester, []State{ClarificationRequested, Contested}, ""},
	Withdraw:             {Requester, []State{Received, Acknowledged, InProgress, ClarificationRequested, Contested}, Withdrawn},
}

// ErrNotAllowed marks a transition the lifecycle does not allow from the
// request's state (a conflict: the state may have moved since it was read).
var ErrNotAllowed = errors.New("not allowed")

// Next returns the transition of request requestID that taking action leads to, or why it cannot be
// taken: ErrNotAllowed (wrapped) when the state does not allow it, another error
// when the action, the party, the reason or the grounds are wrong. provider says
// whether the requested side is a service provider: only a provider contests,
// and a provider does not refuse (it contests; the authority decides).
func Next(requestID string, h History, action Action, by Party, reason string, grounds []Ground, provider bool, now time.Time) (Transition, error) {
	r, ok := rules[action]
	if !ok {
		return Transition{}, fmt.Errorf("action: %s", notOneOf(string(action), joinActions()))
	}
	if r.by != by {
		return Transition{}, fmt.Errorf("only the %s side may %s", strings.ToLower(string(r.by)), action)
	}
	if action == Contest && !provider {
		return Transition{}, fmt.Errorf("only a service provider contests a request; a State requests clarification or refuses")
	}
	if action == Refuse && provider {
		return Transition{}, fmt.Errorf("a service provider does not refuse a request; it contests it, and the authority decides")
	}
	from := h.State()
	if len(h) >= MaxTransitions && loops(action) {
		return Transition{}, fmt.Errorf("%w: the request has %d transitions, the most a request may have; no more questions, answers or contests: only steps towards a decision (Acknowledge, Start, Execute, ExecutePartially, Refuse) or a withdrawal may follow", ErrNotAllowed, len(h))
	}
	if !slices.Contains(r.from, from) {
		return Transition{}, fmt.Errorf("%w: a %s request cannot be moved by %s (allowed from %s)", ErrNotAllowed, from, action, joinStates(r.from))
	}
	to := r.to
	if action == Clarify {
		to = h.resumes()
	}
	// A transition is never earlier than the one before (CheckHistory, and the
	// sender, refuse a history that goes back): a replica whose clock is behind
	// the one that took the last step, or a clock stepped back, takes that
	// step's time instead.
	at := now.UTC()
	if n := len(h); n > 0 && at.Before(h[n-1].Time) {
		at = h[n-1].Time.UTC()
	}
	t := Transition{RequestID: requestID, Sequence: len(h) + 1, Action: action, By: by, From: from, To: to, Time: at, Reason: reason, Grounds: grounds}
	if err := t.Check(); err != nil {
		return Transition{}, err
	}
	return t, nil
}

// Check validates a transition on its own: known action, states and grounds, a
// reason where the action needs one, grounds for a refusal and only then.
func (t Transition) Check() error {
	r, ok := rules[t.Action]
	if !ok {
		return fmt.Errorf("action: %s", notOneOf(string(t.Action), joinActions()))
	}
	if t.By != r.by {
		return fmt.Errorf("%s is the %s side's action, not the %s side's", t.Action, strings.ToLower(string(r.by)), strings.ToLower(string(t.By)))
	}
	if !slices.Contains(r.from, t.From) || (r.to != "" && t.To != r.to) || (r.to == "" && !slices.Contains(open, t.To)) {
		return fmt.Errorf("%s does not lead from %s to %s", t.Action, t.From, t.To)
	}
	if t.Sequence < 1 {
		return fmt.Errorf("sequence %d: transitions are numbered from 1", t.Sequence)
	}
	if len(t.Reason) > MaxReasonBytes {
		return fmt.Errorf("reason: %d bytes; at most %d (evidence goes through the vault, not here)", len(t.Reason), MaxReasonBytes)
	}
	if !utf8.ValidString(t.Reason) {
		return errors.New("reason: not valid UTF-8")
	}
	if i := strings.IndexFunc(strings.ReplaceAll(t.Reason, "\r\n", "\n\n"), hidden); i >= 0 {
		// The reason is shown to the other State's officers, on terminals
		// (cybercoop cases) among others: an escape sequence or a
		// direction override would make it read otherwise than it was signed.
		return fmt.Errorf("reason: a control or direction-override character (U+%04X) at byte %d; only text, line breaks and tabs", []rune(t.Reason[i:])[0], i)
	}
	needsReason := map[Action]string{
		Refuse:               "the refusal's explanation",
		ExecutePartially:     "what was not executed, and why",
		RequestClarification: "the question for the sender",
		Contest:              "why the request is contested",
		Clarify:              "the answer",
		Withdraw:             "why it is withdrawn",
	}
	if what, ok := needsReason[t.Action]; ok && strings.TrimSpace(t.Reason) == "" {
		return fmt.Errorf("reason: required for %s (%s)", t.Action, what)
	}
	allowed, what := Grounds, "a refusal"
	if t.Action == Contest {
		allowed, what = ContestGrounds, "a contest"
	}
	switch {
	case (t.Action == Refuse || t.Action == Contest) && len(t.Grounds) == 0:
		return fmt.Errorf("grounds: %s states at least one ground, of %s", what, joinGroundsOf(allowed))
	case t.Action != Refuse && t.Action != Contest && len(t.Grounds) > 0:
		return fmt.Errorf("grounds: only a refusal or a contest has grounds, not %s", t.Action)
	}
	for i, g := range t.Grounds {
		if !slices.Contains(allowed, g) {
			return fmt.Errorf("grounds[%d]: %s", i, notOneOf(string(g), joinGroundsOf(allowed)))
		}
		if slices.Index(t.Grounds, g) != i {
			return fmt.Errorf("grounds[%d]: %s is given twice", i, g)
		}
	}
	return nil
}

// CheckHistory validates a whole history: each transition valid, numbered in
// order, following from the one before, in time order.
func CheckHistory(h History) error {
	var prev History
	for i, t := range h {
		if err := t.Check(); err != nil {
			return fmt.Errorf("transition %d: %w", i+1, err)
		}
		if t.Sequence != i+1 {
			return fmt.Errorf("transition %d is numbered %d", i+1, t.Sequence)
		}
		if t.From != prev.State() {
			return fmt.Errorf("transition %d leaves %s, but the request was %s", i+1, t.From, prev.State())
		}
		if t.Sequence > MaxTransitions && loops(t.Action) {
			return fmt.Errorf("transition %d is a %s after the %d a request may have", i+1, t.Action, MaxTransitions)
		}
		if t.Action == Clarify && t.To != prev.resumes() {
			return fmt.Errorf("transition %d resumes %s, but the request was %s before the wait", i+1, t.To, prev.resumes())
		}
		if i > 0 && t.Time.Before(h[i-1].Time) {
			return fmt.Errorf("transition %d is earlier than the one before", i+1)
		}
		if i > 0 && t.RequestID != h[0].RequestID {
			return fmt.Errorf("transition %d is of request %s, not %s", i+1, t.RequestID, h[0].RequestID)
		}
		prev = h[:i+1]
	}
	return nil
}

// hidden reports the runes a reason may not carry: control characters other
// than line feed and tab (C0, a carriage return not before a line feed, DEL,
// C1: terminal escapes among them), and the bidirectional embeddings, overrides and isolates that reorder
// what a reader sees.
func hidden(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// notOneOf says that a value is not in a closed list without repeating the
// value: it came from the caller, and a refusal does not carry input back (a
// mistyped field may hold anything). Its length and the list are enough to
// find the mistake.
func notOneOf(value, list string) string {
	return fmt.Sprintf("the %d-byte value is not one of %s (names are exact: case, spaces and lookalike letters count)", len(value), list)
}

func joinActions() string {
	s := make([]string, len(Actions))
	for i, a := range Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func joinStates(states []State) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

func joinGroundsOf(grounds []Ground) string {
	s := make([]string, len(grounds))
	for i, g := range grounds {
		s[i] = string(g)
	}
	return strings.Join(s, ", ")
}

// Canonical is the transition as it is stored and digested: its RFC 8785
// canonical JSON.
func (t Transition) Canonical() ([]byte, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(raw)
}
