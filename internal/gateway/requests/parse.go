package requests

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxBodyBytes is the largest request body Parse reads. Real requests are a
// few kilobytes; the schemas' bounds on strings and lists would in theory let
// a document reach several megabytes, which no request needs. The gateway
// should refuse longer bodies with 413 before reading them (and Parse costs
// at most about half a second of CPU on a body of this size).
const MaxBodyBytes = 1 << 20

// MaxFieldErrors bounds the field errors Parse returns for one document, so
// that a body of a hundred thousand unknown members cannot become a hundred
// thousand errors in a response or a log. A real document's mistakes fit well
// within it; past it, an entry at path "" (so sorted first) counts the ones
// left out.
const MaxFieldErrors = 100

// ErrBodyTooLarge is returned (wrapped) by Parse for a body longer than
// MaxBodyBytes.
var ErrBodyTooLarge = errors.New("request body is larger than 1 MiB")

// FieldError is one thing wrong with a request document.
type FieldError struct {
	// Path is the JSON Pointer (RFC 6901) of the bad field, "" for the whole
	// document. For a missing property it is the pointer the property would
	// have, e.g. "/requestingAuthority/email".
	Path string `json:"path"`
	// Message says what is expected. It never repeats the submitted value:
	// request documents carry personal data. Paths do contain member names,
	// which for a member that is not a field are the sender's.
	Message string `json:"message"`
}

func (e FieldError) String() string {
	if e.Path == "" {
		return "document: " + e.Message
	}
	return e.Path + ": " + e.Message
}

// Request is a validated request document.
type Request struct {
	Type      Type
	Reference string
	// Canonical is the RFC 8785 canonical JSON of the document: what is
	// digested, signed in receipts and stored.
	Canonical []byte
	// Digest is the SHA-256 of Canonical.
	Digest [32]byte
	// AuthorisationReference is authorisation.reference, "" when absent.
	AuthorisationReference string
	// AuthorisationExpiry is authorisation.expiry, zero when absent.
	AuthorisationExpiry time.Time
	// OrderReference is order.reference, the domestic order an AssetTracing
	// or AssetFreezing request rests on; "" for the other types.
	OrderReference string
	// OrderExpiry is order.expiry, zero when absent (never for AssetFreezing).
	OrderExpiry time.Time
}

// Parse checks a request body: one JSON object (no trailing data, no repeated
// member names, nesting at most MaxDepth, numbers that canonical form keeps
// exact), whose "type" is one of Types, valid against that type's schema; an
// intrusive type's authorisation must not have expired at now, real-time
// collection and interception must not outlast it, the order an asset-tracing
// or asset-freezing request rests on must not have expired, and no period may
// end before it starts (the checks on times that JSON Schema cannot express).
//
// On a document that is not valid it returns a nil Request and every field
// error found (up to MaxFieldErrors), sorted by path and without duplicates.
// The error is only for a body that is not one JSON text (or is longer than
// MaxBodyBytes); its message names a byte offset, never the content.
func Parse(body []byte, now time.Time) (*Request, []FieldError, error) {
	if len(body) > MaxBodyBytes {
		return nil, nil, fmt.Errorf("%w (%d bytes)", ErrBodyTooLarge, len(body))
	}
	d, err := strictDecode(body)
	if err != nil {
		return nil, nil, err
	}
	problems := d.problems
	doc, ok := d.root.(map[string]any)
	if !ok {
		return nil, sortFieldErrors(append(problems, FieldError{Path: "", Message: "must be a JSON object: one request document"})), nil
	}
	t, problem := requestType(doc)
	if problem != nil {
		return nil, sortFieldErrors(append(problems, *problem)), nil
	}
	if err := schemas.compiled[t].Validate(doc); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			// Validate returns only validation errors for decoded JSON; if
			// that ever changes, fail closed without echoing anything.
			problems = append(problems, FieldError{Path: "", Message: "could not be validated against the " + string(t) + " schema"})
		} else {
			problems = append(problems, fieldErrors(t, verr)...)
		}
	}
	authRef, authExpiry, expiryUnread := referenceAndExpiry(doc, "authorisation")
	orderRef, orderExpiry, orderExpiryUnread := referenceAndExpiry(doc, "order")
	// The schema's date-time format and parseInstant disagree: refuse rather
	// than let an unread expiry pass as none.
	if expiryUnread && Intrusive(t) {
		problems = unreadExpiry(problems, expiryPath)
	}
	if orderExpiryUnread && restsOnOrder(t) {
		problems = unreadExpiry(problems, orderExpiryPath)
	}
	problems = append(problems, timeProblems(t, doc, authExpiry, orderExpiry, now)...)
	if len(problems) > 0 {
		return nil, sortFieldErrors(problems), nil
	}
	canonical, err := jcs.Transform(body)
	if err != nil {
		// The strict decoder refuses everything else jcs refuses, with a
		// path; this is the backstop: never record what has no canonical form.
		return nil, []FieldError{{Path: "", Message: "has no RFC 8785 canonical form"}}, nil //nolint:nilerr // a field error, not a failure
	}
	ref, _ := doc["reference"].(string)
	return &Request{
		Type:                   t,
		Reference:              ref,
		Canonical:              canonical,
		Digest:                 sha256.Sum256(canonical),
		AuthorisationReference: authRef,
		AuthorisationExpiry:    authExpiry,
		OrderReference:         orderRef,
		OrderExpiry:            orderExpiry,
	}, nil, nil
}

// unreadExpiry adds a problem at path, unless the schema already reported
// one there.
func unreadExpiry(problems []FieldError, path string) []FieldError {
	if slices.ContainsFunc(problems, func(p FieldError) bool { return p.Path == path }) {
		return problems
	}
	return append(problems, FieldError{Path: path, Message: "is a date-time this gateway cannot read; write it like 2026-11-22T09:30:00Z"})
}

// timeProblems checks what JSON Schema cannot say about times: an intrusive
// type's authorisation must be in force at now, and the measure must not
// outlast it; the order an asset request rests on must be in force at now; no
// period may end before it starts. Values the schema refuses are skipped here:
// the schema's error says what is wrong with them.
func timeProblems(t Type, doc map[string]any, authExpiry, orderExpiry, now time.Time) []FieldError {
	var problems []FieldError
	if Intrusive(t) && !authExpiry.IsZero() {
		if !now.Before(authExpiry) {
			problems = append(problems, FieldError{Path: expiryPath, Message: "has passed: the authorisation must still be in force when the request is received"})
		}
		if realTime(t) {
			if _, to, ok := period(doc["period"]); ok && to.After(authExpiry) {
				problems = append(problems, FieldError{Path: "/period/to", Message: "is after the authorisation's expiry: the measure must end when the authorisation does, or before"})
			}
		}
	}
	if restsOnOrder(t) && !orderExpiry.IsZero() && !now.Before(orderExpiry) {
		problems = append(problems, FieldError{Path: orderExpiryPath, Message: "has passed: the order must still be in force when the request is received"})
	}
	walkPeriods("", doc, func(pointer string, from, to time.Time) {
		if to.Before(from) {
			problems = append(problems, FieldError{Path: pointer + "/to", Message: "is before from: a period must not end before it starts"})
		}
	})
	return problems
}

// realTime reports whether t's period is when a measure runs (collection or
// interception), rather than the time the data sought covers.
func realTime(t Type) bool { return t == RealTimeTrafficData || t == Interception }

// walkPeriods calls f for every period in v: every object whose members
// "from" and "to" are both RFC 3339 times. In the v1 schemas only
// common.schema.json#/$defs/period has those members (a test checks it).
func walkPeriods(pointer string, v any, f func(pointer string, from, to time.Time)) {
	switch v := v.(type) {
	case map[string]any:
		if from, to, ok := period(v); ok {
			f(pointer, from, to)
			return
		}
		for name, child := range v {
			walkPeriods(pointer+"/"+escapePointerToken(name), child, f)
		}
	case []any:
		for i, child := range v {
			walkPeriods(fmt.Sprintf("%s/%d", pointer, i), child, f)
		}
	}
}

func period(v any) (from, to time.Time, ok bool) {
	p, _ := v.(map[string]any)
	fromText, ok1 := p["from"].(string)
	toText, ok2 := p["to"].(string)
	if !ok1 || !ok2 {
		return time.Time{}, time.Time{}, false
	}
	from, ok1 = parseInstant(fromText)
	to, ok2 = parseInstant(toText)
	return from, to, ok1 && ok2
}

// parseInstant reads an RFC 3339 date-time as the schema's date-time format
// accepts it, which includes what time.Parse refuses: a lower-case t or z,
// and a leap second (23:59:60, read as the next second).
func parseInstant(s string) (time.Time, bool) {
	s = strings.ToUpper(s)
	leap := len(s) > 19 && s[16] == ':' && s[17:19] == "60"
	if leap {
		s = s[:17] + "59" + s[19:]
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false
	}
	if leap {
		t = t.Add(time.Second)
	}
	return t, true
}

// requestType reads the document's "type", or says what is wrong with it.
func requestType(doc map[string]any) (Type, *FieldError) {
	v, present := doc["type"]
	if !present {
		return "", &FieldError{Path: "/type", Message: "is required: the request type, one of " + typeList()}
	}
	s, _ := v.(string)
	if t := Type(s); known(t) {
		return t, nil
	}
	return "", &FieldError{Path: "/type", Message: "must be one of " + typeList()}
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

const (
	expiryPath      = "/authorisation/expiry"
	orderExpiryPath = "/order/expiry"
)

// referenceAndExpiry returns the reference and expiry of the authorisation
// or order in the document's member field, "" and zero when absent, and
// whether an expiry is present but unreadable.
func referenceAndExpiry(doc map[string]any, field string) (ref string, expiry time.Time, unread bool) {
	obj, _ := doc[field].(map[string]any)
	ref, _ = obj["reference"].(string)
	expiryText, present := obj["expiry"].(string)
	if !present {
		return ref, time.Time{}, false
	}
	expiry, ok := parseInstant(expiryText)
	return ref, expiry, !ok
}

// sortFieldErrors sorts by path, then message, drops repeats and keeps at
// most MaxFieldErrors, the first of them counting the ones left out.
func sortFieldErrors(errs []FieldError) []FieldError {
	byPath := func(a, b FieldError) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	}
	slices.SortFunc(errs, byPath)
	errs = slices.Compact(errs)
	if len(errs) > MaxFieldErrors {
		kept := errs[:MaxFieldErrors-1]
		omitted := FieldError{Path: "", Message: fmt.Sprintf("has %d more errors than the %d listed; correct these first", len(errs)-len(kept), len(kept))}
		errs = append([]FieldError{omitted}, kept...)
		slices.SortFunc(errs, byPath)
	}
	return errs
}

// Canonical returns the RFC 8785 canonical form of a JSON document. Its error
// does not quote the document.
func Canonical(doc []byte) ([]byte, error) {
	if doc == nil {
		doc = []byte{}
	}
	out, err := jcs.Transform(doc)
	if err != nil {
		return nil, errors.New("document has no RFC 8785 canonical form: it is not one JSON value with unique member names, well-formed strings and numbers in the range of IEEE 754 double precision")
	}
	return out, nil
}
