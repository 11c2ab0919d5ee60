package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// MaxMetadataBytes bounds the encoded metadata of one object. Metadata is
	// copied into every ingest entry of the custody log, so it must stay small.
	MaxMetadataBytes = 16 << 10
	// MaxReferenceLength bounds case, request, authorisation and hold references.
	MaxReferenceLength = 256
	// MaxLegalBasisLength bounds the legal-basis text.
	MaxLegalBasisLength = 1024
	// DefaultMinRetention is the shortest retention an ingest may ask for
	// unless the vault is configured otherwise.
	DefaultMinRetention = 60 * 24 * time.Hour
)

// ErrInvalidMetadata wraps every metadata and request validation failure.
var ErrInvalidMetadata = errors.New("invalid metadata")

// FieldError says which request field is wrong and what is expected. It
// wraps ErrInvalidMetadata, so callers answer it with 400.
type FieldError struct {
	// Field is the JSON name of the field, e.g. "retentionUntil".
	Field string
	// Problem says what is wrong and what is expected.
	Problem string
	// kind is what the error is besides naming a field; nil means
	// ErrInvalidMetadata.
	kind error
}

func (e *FieldError) Error() string { return e.Field + " " + e.Problem }

// Unwrap makes a FieldError an ErrInvalidMetadata, or what it was made as
// (fieldRefusal: ErrNotAuthorised).
func (e *FieldError) Unwrap() error {
	if e.kind != nil {
		return e.kind
	}
	return ErrInvalidMetadata
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// fieldRefusal is a FieldError for a field the client may not send
// (ErrNotAuthorised, answered 403 naming the field).
func fieldRefusal(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...), kind: ErrNotAuthorised}
}

// Metadata is what the requesting authority states about an object when it
// is ingested. It is recorded verbatim in the object's ingest entry of the
// custody log, which is the only place it is stored; OnBehalfOf is recorded
// there as the entry's actor and cert instead, and DeclineDefaultHold in its
// detail.
type Metadata struct {
	// CaseReference is the case or mutual-assistance request the evidence belongs to.
	CaseReference string `json:"caseReference"`
	// LegalBasis cites the provision the collection relies on, e.g. "UNCC art. 28".
	LegalBasis string `json:"legalBasis"`
	// AuthorisationReference identifies the warrant or order; readers must present it.
	AuthorisationReference string `json:"authorisationReference"`
	// AuthorisationExpiry is when the authorisation lapses; reads and exports
	// are refused from then on, though the object is still retained.
	AuthorisationExpiry time.Time `json:"authorisationExpiry"`
	// RetentionUntil is the earliest time the object may be expired.
	RetentionUntil time.Time `json:"retentionUntil"`
	// Hold places a legal hold under CaseReference at ingest.
	Hold bool `json:"hold,omitempty"`
	// Exclusive makes CaseReference name this object only: an ingest of
	// other content under a case reference that names a live object ingested
	// with Exclusive (or, for an exclusive ingest, any live object) is
	// refused with ErrCaseTaken; the same content again is a duplicate. It
	// is recorded in the ingest entry.
	Exclusive bool `json:"exclusive,omitempty"`
	// OwnerOnly makes the case readable only by the client that ingested (or
	// relayed) it and by holders of the list role: another client presenting
	// its authorisation reference is refused as if it had presented none. A
	// gateway sets it on peers' requests and receipts, whose custody entries
	// (and so their authorisation references) travel in receipts. It is
	// recorded in the ingest entry.
	OwnerOnly bool `json:"ownerOnly,omitempty"`
	// OnBehalfOf is the party a client holding the relay role ingests for,
	// as that party's certificate identifies it (subject and fingerprint
	// required). The ingest entry records it as the actor (Entry.Actor and
	// Entry.Cert) and the relaying client as Entry.Via; it is not repeated
	// in the recorded metadata.
	OnBehalfOf *Identity `json:"onBehalfOf,omitempty"`
	// DeclineDefaultHold is set when the client sent "hold": false: a vault
	// that holds every object by default (Policy.LegalHoldDefault) then
	// places no hold. It is not part of the recorded metadata; the ingest
	// entry's detail says the default hold was declined.
	DeclineDefaultHold bool `json:"-"`
}

// Policy holds the vault's rules for metadata that do not depend on the
// request: today the shortest retention accepted.
type Policy struct {
	// MinRetention is the shortest retention (RetentionUntil - now) an ingest
	// may ask for; zero means DefaultMinRetention.
	MinRetention time.Duration
	// LegalHoldDefault places a legal hold on every ingested object whose
	// metadata does not say "hold": false (see placeDefaultHold).
	LegalHoldDefault bool
}

func (p Policy) minRetention() time.Duration {
	if p.MinRetention <= 0 {
		return DefaultMinRetention
	}
	return p.MinRetention
}

var metadataFields = []string{"caseReference", "legalBasis", "authorisationReference", "authorisationExpiry", "retentionUntil", "hold", "exclusive", "ownerOnly", "onBehalfOf"}

// identityFields are the keys of an Identity object (onBehalfOf).
var identityFields = []string{"subject", "uri", "issuer", "serial", "fingerprint"}

// metadataShape is the shape ParseMetadata accepts: flat, but for onBehalfOf.
var metadataShape = strictShape{fields: metadataFields, objects: map[string]strictShape{"onBehalfOf": {fields: identityFields}}}

// ParseMetadata decodes and validates metadata sent by a client. Every key
// must be one of the field names, spelt exactly and given once: encoding/json
// would otherwise take the last of two "retentionUntil" keys, or a
// "RETENTIONUNTIL", silently.
func ParseMetadata(data []byte, now time.Time, p Policy) (Metadata, error) {
	if len(data) > MaxMetadataBytes {
		return Metadata{}, fmt.Errorf("%w: %d bytes exceeds the limit of %d bytes", ErrInvalidMetadata, len(data), MaxMetadataBytes)
	}
	var m Metadata
	if err := decodeStrict(data, &m, metadataShape); err != nil {
		return Metadata{}, err
	}
	var hold struct {
		Hold *bool `json:"hold"`
	}
	if err := json.Unmarshal(data, &hold); err == nil && hold.Hold != nil && !*hold.Hold {
		m.DeclineDefaultHold = true
	}
	return m, m.Validate(now, p)
}

// strictShape says which keys a JSON object may have, and which of them
// hold objects with keys of their own.
type strictShape struct {
	fields  []string
	objects map[string]strictShape
}

// decodeStrictJSON decodes one flat JSON object into v, refusing unknown,
// duplicate and differently cased keys, nested objects and trailing data.
func decodeStrictJSON(data []byte, v any, fields []string) error {
	return decodeStrict(data, v, strictShape{fields: fields})
}

// decodeStrict decodes one JSON object of the given shape into v, refusing
// unknown, duplicate and differently cased keys (at every level), objects
// or lists where the shape has none, and trailing data.
func decodeStrict(data []byte, v any, shape strictShape) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkStrictKeys(dec, "", shape); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidMetadata)
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fieldErr(te.Field, "has the wrong type (%s); expected %s", te.Value, te.Type)
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: a time is not in RFC 3339 form (e.g. 2031-03-01T09:00:00Z): %q", ErrInvalidMetadata, truncateForError(pe.Value))
		}
		return fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	return nil
}

// checkStrictKeys reads one JSON object from dec and checks its keys against
// shape; prefix ("onBehalfOf.") names the object in errors.
func checkStrictKeys(dec *json.Decoder, prefix string, shape strictShape) error {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		if prefix == "" {
			return fmt.Errorf("%w: expected one JSON object", ErrInvalidMetadata)
		}
		return fieldErr(strings.TrimSuffix(prefix, "."), "must be a JSON object with the keys %s", strings.Join(shape.fields, ", "))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: not valid JSON: %w", ErrInvalidMetadata, err)
		}
		key, _ := tok.(string)
		known := false
		for _, f := range shape.fields {
			if key == f {
				known = true
			} else if strings.EqualFold(key, f) {
				return fieldErr(prefix+truncateForError(key), "is not a known field; did you mean %q? (names are case-sensitive)", f)
			}
		}
		if !known {
			return fieldErr(prefix+truncateForError(key), "is not a known field (expected one of %s)", strings.Join(shape.fields, ", "))
		}
		if seen[key] {
			return fieldErr(prefix+key, "is given twice; each field may appear once")
		}
		seen[key] = true
		if sub, ok := shape.objects[key]; ok {
			if err := checkStrictKeys(dec, prefix+key+".", sub); err != nil {
				return err
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fieldErr(prefix+key, "is not valid JSON: %v", err)
		}
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			return fieldErr(prefix+key, "must be a string, time or boolean, not an object or list")
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: not valid JSON: %w", ErrInvalidMetadata, err)
	}
	return nil
}

// Validate checks every field and says which one is wrong and what is expected.
func (m Metadata) Validate(now time.Time, p Policy) error {
	if err := ValidateReference("caseReference", m.CaseReference); err != nil {
		return err
	}
	if err := ValidateReference("authorisationReference", m.AuthorisationReference); err != nil {
		return err
	}
	if err := validateText("legalBasis", m.LegalBasis, MaxLegalBasisLength); err != nil {
		return err
	}
	if m.AuthorisationExpiry.IsZero() {
		return fieldErr("authorisationExpiry", "is required (RFC 3339 time)")
	}
	if m.RetentionUntil.IsZero() {
		return fieldErr("retentionUntil", "is required (RFC 3339 time)")
	}
	if y := m.RetentionUntil.Year(); y > 9999 {
		return fieldErr("retentionUntil", "year %d is beyond 9999", y)
	}
	if y := m.AuthorisationExpiry.Year(); y > 9999 || y < 1 {
		return fieldErr("authorisationExpiry", "year %d is outside 1…9999", y)
	}
	if !m.AuthorisationExpiry.After(now) {
		return fieldErr("authorisationExpiry", "%s is not in the future (now %s): the object could never be read",
			m.AuthorisationExpiry.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if minimum := p.minRetention(); m.RetentionUntil.Sub(now) < minimum {
		return fieldErr("retentionUntil", "%s is less than the minimum retention of %s from now (earliest accepted: %s)",
			m.RetentionUntil.UTC().Format(time.RFC3339), formatDays(minimum), now.Add(minimum).Format(time.RFC3339))
	}
	if m.OnBehalfOf != nil {
		return m.OnBehalfOf.validateRelayed("onBehalfOf")
	}
	return nil
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// ValidateReference accepts identifiers such as "CASE/2026/0042" and rejects
// anything that could act as a path trick if a reference ever names a file
// or key (here or in an S3 backend): empty segments, "." and ".." segments,
// absolute paths, backslashes; and anything that makes two references look
// alike while differing (see validateText).
func ValidateReference(field, ref string) error {
	if err := validateText(field, ref, MaxReferenceLength); err != nil {
		return err
	}
	for _, r := range ref {
		if unicode.IsSpace(r) && r != ' ' {
			return fieldErr(field, "contains the space character %U; only the plain space U+0020 is allowed in references", r)
		}
	}
	if strings.HasPrefix(ref, "/") {
		return fieldErr(field, "is an absolute path; use a relative identifier such as CASE/2026/0042")
	}
	if strings.ContainsRune(ref, '\\') {
		return fieldErr(field, "contains a backslash; use / to separate parts")
	}
	for i, seg := range strings.Split(ref, "/") {
		switch seg {
		case "":
			return fieldErr(field, "has an empty part %d (leading, trailing or doubled /)", i)
		case ".", "..":
			return fieldErr(field, "contains a %q part; path navigation is not allowed in references", seg)
		}
	}
	return nil
}

// validateText accepts printable text. It refuses what makes two values
// look the same while differing: leading or trailing spaces, control
// characters, invisible format characters (bidirectional overrides and
// isolates, zero-width spaces and joiners, byte-order marks), and text not in
// Unicode NFC form (the same letter composed two ways). Errors never repeat
// the value: it may belong to someone else.
func validateText(field, s string, maxLen int) error {
	if strings.TrimSpace(s) == "" {
		return fieldErr(field, "is required")
	}
	if len(s) > maxLen {
		return fieldErr(field, "is %d bytes; the limit is %d", len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	if strings.TrimSpace(s) != s {
		return fieldErr(field, "has leading or trailing white space")
	}
	for i, r := range s {
		switch {
		case unicode.IsControl(r) || r == utf8.RuneError:
			return fieldErr(field, "has control character %U at byte %d; references and legal bases must be printable text", r, i)
		case unicode.Is(unicode.Cf, r):
			return fieldErr(field, "has invisible format character %U at byte %d (bidirectional control, zero-width or similar); it would make lookalike values", r, i)
		}
	}
	if !norm.NFC.IsNormalString(s) {
		return fieldErr(field, "is not in Unicode NFC form; send the composed form so equal-looking values are equal")
	}
	return nil
}
