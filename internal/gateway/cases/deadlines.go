package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deadlines are how long the requested side has to decide a request, by
// request type, counted from its receipt while the request does not wait on the
// sender (a clarification request or a contest stops the clock).
type Deadlines map[string]time.Duration

// DefaultDeadlines: hours for an emergency, days for expedited measures, months
// for mutual legal assistance through the central authority. A channel can set
// its own (spec.deadlines); a type without one takes these.
var DefaultDeadlines = Deadlines{
	"EmergencyDisclosure":   8 * time.Hour,
	"Preservation":          72 * time.Hour,
	"TrafficDataDisclosure": 5 * 24 * time.Hour,
	"SubscriberInformation": 30 * 24 * time.Hour,
	"ContentRemoval":        72 * time.Hour,
	"AssetFreezing":         72 * time.Hour,
	"AssetTracing":          30 * 24 * time.Hour,
	"StoredDataAccess":      60 * 24 * time.Hour,
	"RealTimeTrafficData":   30 * 24 * time.Hour,
	"Interception":          30 * 24 * time.Hour,
	"MutualLegalAssistance": 90 * 24 * time.Hour,
}

// fallbackDeadline is a type's deadline when neither the channel nor the
// defaults name it.
const fallbackDeadline = 30 * 24 * time.Hour

// For is the deadline of a request type: the channel's own, else the default.
func (d Deadlines) For(requestType string) time.Duration {
	if v, ok := d[requestType]; ok && v > 0 {
		return v
	}
	if v, ok := DefaultDeadlines[requestType]; ok {
		return v
	}
	return fallbackDeadline
}

// Due is when a request received at received must be decided, given its history:
// the deadline plus the time it waited on the sender. For a request still
// waiting, the wait so far (until now) counts.
func Due(received time.Time, h History, deadline time.Duration, now time.Time) time.Time {
	due := received.Add(deadline)
	var waitStart time.Time
	for _, t := range h {
		switch {
		case t.To.waiting() && waitStart.IsZero():
			waitStart = t.Time
		case !t.To.waiting() && !waitStart.IsZero():
			due = due.Add(t.Time.Sub(waitStart))
			waitStart = time.Time{}
		}
	}
	if !waitStart.IsZero() && now.After(waitStart) {
		due = due.Add(now.Sub(waitStart))
	}
	return due
}

// Overdue reports whether an undecided request is past its due time at now.
func Overdue(received time.Time, h History, deadline time.Duration, now time.Time) bool {
	if h.State().Terminal() || h.State().waiting() {
		return false
	}
	return now.After(Due(received, h, deadline, now))
}

// Decided is when the request was decided (its terminal transition), zero if
// it is not.
func (h History) Decided() time.Time {
	if len(h) == 0 || !h.State().Terminal() {
		return time.Time{}
	}
	return h[len(h)-1].Time
}

// MinimumPreservation is how long preserved data is kept at least: 60 days
// from the request (article 42(6) of the convention; Budapest article 29(7)).
const MinimumPreservation = 60 * 24 * time.Hour

// Preservation is what holds the data a Preservation request preserves.
type Preservation struct {
	// Until is when the preservation period ends: 60 days after the request,
	// moved by each extension to 60 days after the extension.
	Until time.Time `json:"until"`
	// Extensions are the requests (ids) that extended it.
	Extensions []string `json:"extensions,omitempty"`
	// HeldFor lists the open requests (ids) that keep the data held past Until:
	// mutual legal assistance requests that reference the preservation and are
	// not decided yet.
	HeldFor []string `json:"heldFor,omitempty"`
	// Held says whether the data is held at the time this was computed.
	Held bool `json:"held"`
	// Why says so in words.
	Why string `json:"why"`
}

// Linked is another request that refers to a preservation: an extension (a
// Preservation of kind Extension whose extends is the preservation's
// reference) or a follow-up (a MutualLegalAssistance request naming it).
type Linked struct {
	RequestID string
	Extension bool
	Received  time.Time
	State     State
}

// Preserve computes a preservation's hold at now: held until 60 days after
// the request or its latest extension, and past that for as long as a linked
// assistance request is open. A refused or withdrawn preservation holds
// nothing; a timer never releases data while a linked request is open.
func Preserve(received time.Time, state State, links []Linked, now time.Time) Preservation {
	p := Preservation{Until: received.Add(MinimumPreservation).UTC()}
	for _, l := range links {
		if l.Extension {
			if l.State == Refused || l.State == Withdrawn {
				continue
			}
			p.Extensions = append(p.Extensions, l.RequestID)
			if until := l.Received.Add(MinimumPreservation).UTC(); until.After(p.Until) {
				p.Until = until
			}
			continue
		}
		if !l.State.Terminal() {
			p.HeldFor = append(p.HeldFor, l.RequestID)
		}
	}
	slices.Sort(p.Extensions)
	slices.Sort(p.HeldFor)
	switch {
	case state == Refused || state == Withdrawn:
		p.Why = fmt.Sprintf("the preservation was %s: nothing is held for it", strings.ToLower(string(state)))
		p.HeldFor = nil
	case len(p.HeldFor) > 0:
		p.Held = true
		p.Why = fmt.Sprintf("held while %s, which refers to it, is not decided", strings.Join(p.HeldFor, ", "))
	case now.Before(p.Until):
		p.Held = true
		p.Why = fmt.Sprintf("held until %s (60 days after the request or its latest extension)", p.Until.Format(time.RFC3339))
	default:
		p.Why = fmt.Sprintf("the preservation period ended at %s and no assistance request referring to it is open", p.Until.Format(time.RFC3339))
	}
	return p
}
