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

// MaxBodyBytes is the largest request body Parse reads. The schemas bound
// every string and list, and no valid document comes near it; the gateway
// should refuse longer bodies with 413 before reading them.
const MaxBodyBytes = 1 << 20

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
	// request documents carry personal data.
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
}

// Parse checks a request body: one JSON object (no trailing data, no repeated
// member names, nesting at most MaxDepth, numbers that canonical form keeps
// exact), whose "type" is one of Types, valid against that type's schema; an
// intrusive type's authorisation must not have expired at now.
//
// On a document that is not valid it returns a nil Request and every field
// error found, sorted by path and without duplicates. The error is only for
// a body that is not one JSON text (or is longer than MaxBodyBytes); its
// message names a byte offset, never the content.
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
	authRef, authExpiry := authorisation(doc)
	if Intrusive(t) && !authExpiry.IsZero() && !now.Before(authExpiry) {
		problems = append(problems, FieldError{Path: "/authorisation/expiry", Message: "has passed: the authorisation must still be in force when the request is received"})
	}
	if len(problems) > 0 {
		return nil, sortFieldErrors(problems), nil
	}
	canonical, err := jcs.Transform(body)
	if err != nil {
		// The strict decoder already refused what else jcs refuses; what is
		// left is a string with an unpaired UTF-16 surrogate escape, which
		// encoding/json would have turned into U+FFFD.
		return nil, []FieldError{{Path: "", Message: "has no RFC 8785 canonical form: a string holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"}}, nil
	}
	ref, _ := doc["reference"].(string)
	return &Request{
		Type:                   t,
		Reference:              ref,
		Canonical:              canonical,
		Digest:                 sha256.Sum256(canonical),
		AuthorisationReference: authRef,
		AuthorisationExpiry:    authExpiry,
	}, nil, nil
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

// authorisation returns authorisation.reference and authorisation.expiry when
// they are present and well formed (the schema reports them otherwise).
func authorisation(doc map[string]any) (string, time.Time) {
	auth, _ := doc["authorisation"].(map[string]any)
	ref, _ := auth["reference"].(string)
	expiryText, _ := auth["expiry"].(string)
	expiry, err := time.Parse(time.RFC3339, expiryText)
	if err != nil {
		expiry = time.Time{}
	}
	return ref, expiry
}

// sortFieldErrors sorts by path, then message, and drops repeats.
func sortFieldErrors(errs []FieldError) []FieldError {
	slices.SortFunc(errs, func(a, b FieldError) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(errs)
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
