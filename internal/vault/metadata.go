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
}

func (e *FieldError) Error() string { return e.Field + " " + e.Problem }

// Unwrap makes every FieldError an ErrInvalidMetadata.
func (e *FieldError) Unwrap() error { return ErrInvalidMetadata }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Metadata is what the requesting authority states about an object when it
// is ingested. It is recorded verbatim in the object's ingest entry of the
// custody log, which is the only place it is stored.
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

var metadataFields = []string{"caseReference", "legalBasis", "authorisationReference", "authorisationExpiry", "retentionUntil", "hold"}

// ParseMetadata decodes and validates metadata sent by a client. Every key
// must be one of the field names, spelt exactly and given once: encoding/json
// would otherwise take the last of two "retentionUntil" keys, or a
// "RETENTIONUNTIL", silently.
func ParseMetadata(data []byte, now time.Time, p Policy) (Metadata, error) {
	if len(data) > MaxMetadataBytes {
		return Metadata{}, fmt.Errorf("%w: %d bytes exceeds the limit of %d bytes", ErrInvalidMetadata, len(data), MaxMetadataBytes)
	}
	var m Metadata
	if err := decodeStrictJSON(data, &m, metadataFields); err != nil {
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

// decodeStrictJSON decodes one flat JSON object into v, refusing unknown,
// duplicate and differently cased keys, nested objects and trailing data.
func decodeStrictJSON(data []byte, v any, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: expected one JSON object", ErrInvalidMetadata)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: not valid JSON: %w", ErrInvalidMetadata, err)
		}
		key, _ := tok.(string)
		known := false
		for _, f := range fields {
			if key == f {
				known = true
			} else if strings.EqualFold(key, f) {
				return fieldErr(truncateForError(key), "is not a known field; did you mean %q? (names are case-sensitive)", f)
			}
		}
		if !known {
			return fieldErr(truncateForError(key), "is not a known field (expected one of %s)", strings.Join(fields, ", "))
		}
		if seen[key] {
			return fieldErr(key, "is given twice; each field may appear once")
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fieldErr(key, "is not valid JSON: %v", err)
		}
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			return fieldErr(key, "must be a string, time or boolean, not an object or list")
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: not valid JSON: %w", ErrInvalidMetadata, err)
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
