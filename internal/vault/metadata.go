package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxMetadataBytes bounds the encoded metadata of one object. Metadata is
	// copied into every ingest entry of the custody log, so it must stay small.
	MaxMetadataBytes = 16 << 10
	// MaxReferenceLength bounds case, request, authorisation and hold references.
	MaxReferenceLength = 256
	// MaxLegalBasisLength bounds the legal-basis text.
	MaxLegalBasisLength = 1024
)

// ErrInvalidMetadata wraps every metadata validation failure.
var ErrInvalidMetadata = errors.New("invalid metadata")

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
}

// ParseMetadata decodes and validates metadata sent by a client. Unknown
// fields are rejected so that a misspelt field ("retentionUntill") cannot
// silently leave the retention unset.
func ParseMetadata(data []byte, now time.Time) (Metadata, error) {
	if len(data) > MaxMetadataBytes {
		return Metadata{}, fmt.Errorf("%w: %d bytes exceeds the limit of %d bytes", ErrInvalidMetadata, len(data), MaxMetadataBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Metadata
	if err := dec.Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("%w: not a JSON metadata object: %w", ErrInvalidMetadata, err)
	}
	if dec.More() {
		return Metadata{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidMetadata)
	}
	return m, m.Validate(now)
}

// Validate checks every field and says which one is wrong and what is expected.
func (m Metadata) Validate(now time.Time) error {
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
		return fmt.Errorf("%w: authorisationExpiry is required (RFC 3339 time)", ErrInvalidMetadata)
	}
	if m.RetentionUntil.IsZero() {
		return fmt.Errorf("%w: retentionUntil is required (RFC 3339 time)", ErrInvalidMetadata)
	}
	if !m.RetentionUntil.After(now) {
		return fmt.Errorf("%w: retentionUntil %s is not in the future (now %s)", ErrInvalidMetadata,
			m.RetentionUntil.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if y := m.RetentionUntil.Year(); y > 9999 {
		return fmt.Errorf("%w: retentionUntil year %d is beyond 9999", ErrInvalidMetadata, y)
	}
	if y := m.AuthorisationExpiry.Year(); y > 9999 || y < 1 {
		return fmt.Errorf("%w: authorisationExpiry year %d is outside 1…9999", ErrInvalidMetadata, y)
	}
	return nil
}

// ValidateReference accepts identifiers such as "CASE/2026/0042" and rejects
// anything that could act as a path trick if a reference ever names a file
// or key (here or in an S3 backend): empty segments, "." and ".." segments,
// absolute paths, backslashes, and control characters including NUL.
func ValidateReference(field, ref string) error {
	if err := validateText(field, ref, MaxReferenceLength); err != nil {
		return err
	}
	if strings.HasPrefix(ref, "/") {
		return fmt.Errorf("%w: %s %q is an absolute path; use a relative identifier such as CASE/2026/0042", ErrInvalidMetadata, field, truncateForError(ref))
	}
	if strings.ContainsRune(ref, '\\') {
		return fmt.Errorf("%w: %s %q contains a backslash; use / to separate parts", ErrInvalidMetadata, field, truncateForError(ref))
	}
	for i, seg := range strings.Split(ref, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %s %q has an empty part %d (leading, trailing or doubled /)", ErrInvalidMetadata, field, truncateForError(ref), i)
		case ".", "..":
			return fmt.Errorf("%w: %s %q contains a %q part; path navigation is not allowed in references", ErrInvalidMetadata, field, truncateForError(ref), seg)
		}
	}
	return nil
}

func validateText(field, s string, maxLen int) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidMetadata, field)
	}
	if len(s) > maxLen {
		return fmt.Errorf("%w: %s is %d bytes; the limit is %d", ErrInvalidMetadata, field, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidMetadata, field)
	}
	for i, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: %s has control character %U at byte %d; references and legal bases must be printable text", ErrInvalidMetadata, field, r, i)
		}
	}
	return nil
}
