package vault

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Identity is an authenticated client as its verified certificate shows it.
// Name — the URI SAN (a SPIFFE-style ID) if the certificate has one, else
// the subject — is the principal recorded as the custody actor; Issuer,
// Serial and Fingerprint are recorded with it, so two certificates with the
// same subject but different keys are told apart in the log.
type Identity struct {
	// Subject is the certificate subject in RFC 4514 form, as encoded.
	Subject string `json:"subject,omitempty"`
	// URI is the first URI SAN, e.g. spiffe://example.org/ns/police/sa/intake.
	URI string `json:"uri,omitempty"`
	// Issuer is the issuing CA's subject.
	Issuer string `json:"issuer,omitempty"`
	// Serial is the certificate serial number in hex.
	Serial string `json:"serial,omitempty"`
	// Fingerprint is "sha256:<hex>" of the certificate's DER encoding.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// SystemIdentity is the vault acting on its own (recovery, recorded repairs).
var SystemIdentity = Identity{Subject: SystemActor}

// IdentityFromCertificate describes a verified client certificate. The
// subject is taken from its raw encoding, so attribute order and
// multi-valued RDNs are kept as the CA wrote them.
func IdentityFromCertificate(c *x509.Certificate) Identity {
	var rdns pkix.RDNSequence
	subject := c.Subject.String()
	if rest, err := asn1.Unmarshal(c.RawSubject, &rdns); err == nil && len(rest) == 0 {
		subject = rdns.String()
	}
	fp := sha256.Sum256(c.Raw)
	id := Identity{Subject: subject, Issuer: c.Issuer.String(), Fingerprint: "sha256:" + hex.EncodeToString(fp[:])}
	if c.SerialNumber != nil {
		id.Serial = c.SerialNumber.Text(16)
	}
	if len(c.URIs) > 0 {
		id.URI = c.URIs[0].String()
	}
	return id
}

// check refuses identities that could pass for another principal in the
// custody log, reports and ownership checks: a URI SAN must be an absolute
// URI (a relative one such as "CN=bob" reads as bob's subject) and must not
// use the "system" scheme of the vault's own entries.
func (id Identity) check() error {
	if id.Name() == "" {
		return errors.New("the client certificate has neither a subject nor a URI SAN; the vault records who acts")
	}
	if id.URI == "" {
		return nil
	}
	u, err := url.Parse(id.URI)
	if err != nil || u.Scheme == "" || strings.EqualFold(u.Scheme, "system") || id.URI == SystemActor {
		return errors.New("the client certificate's URI SAN must be an absolute URI such as spiffe://trust-domain/path (not a relative name, not the system: scheme)")
	}
	return nil
}

// MaxIdentityFieldLength bounds each text field of an identity a relay
// states for the party it relays for (Metadata.OnBehalfOf).
const MaxIdentityFieldLength = 1024

// maxSerialHex bounds a relayed certificate serial number (RFC 5280 allows
// 20 octets; some CAs exceed it).
const maxSerialHex = 64

// validateRelayed checks an identity a relay states for the party it relays
// for, which the custody log will name as an actor: what the vault would
// have taken from a verified certificate, in the same form. The subject (a
// distinguished name) and the SHA-256 fingerprint are required; the URI SAN
// (an absolute URI, not the system: scheme), issuer (a distinguished name)
// and serial (lowercase hex) are optional. Text follows the metadata rules
// (printable, NFC, no control, bidirectional or zero-width characters), so
// a relayed name cannot pass for another in the log. field names the object
// in errors, which never repeat the value.
func (id Identity) validateRelayed(field string) error {
	if err := validateText(field+".subject", id.Subject, MaxIdentityFieldLength); err != nil {
		return err
	}
	if _, err := canonicalDN(id.Subject); err != nil {
		return fieldErr(field+".subject", "is not a distinguished name (RFC 4514, e.g. CN=gateway,O=Ministry of Justice,C=KE): %v", err)
	}
	if id.URI != "" {
		if err := validateText(field+".uri", id.URI, MaxIdentityFieldLength); err != nil {
			return err
		}
		if strings.ContainsFunc(id.URI, unicode.IsSpace) {
			return fieldErr(field+".uri", "contains white space; a URI SAN has none")
		}
		if err := (Identity{Subject: id.Subject, URI: id.URI}).check(); err != nil {
			return fieldErr(field+".uri", "must be an absolute URI such as spiffe://trust-domain/path (not a relative name, not the system: scheme)")
		}
	}
	if id.Issuer != "" {
		if err := validateText(field+".issuer", id.Issuer, MaxIdentityFieldLength); err != nil {
			return err
		}
		if _, err := canonicalDN(id.Issuer); err != nil {
			return fieldErr(field+".issuer", "is not a distinguished name (RFC 4514): %v", err)
		}
	}
	if id.Serial != "" && (len(id.Serial) > maxSerialHex || strings.ContainsFunc(id.Serial, func(r rune) bool { return r > 0x7f || !isLowerHexDigit(byte(r)) })) {
		return fieldErr(field+".serial", "must be the certificate serial number in lowercase hex (at most %d digits)", maxSerialHex)
	}
	if !strings.HasPrefix(id.Fingerprint, "sha256:") || !isHex64(strings.TrimPrefix(id.Fingerprint, "sha256:")) {
		return fieldErr(field+".fingerprint", "is required: sha256: and the 64 lowercase hex digits of the SHA-256 of the party's certificate (DER)")
	}
	return nil
}

// Name is the principal: the URI SAN if present, else the subject.
func (id Identity) Name() string {
	if id.URI != "" {
		return id.URI
	}
	return id.Subject
}

// certificate returns what the custody entry records beside the name, or
// nil for the vault itself.
func (id Identity) certificate() *Identity {
	if id.Fingerprint == "" && id.Issuer == "" && id.Serial == "" {
		return nil
	}
	c := id
	return &c
}

// Role is a set of operations a client may be granted.
type Role string

// The roles. Releasing a hold, expiring, verifying, listing everything and
// relaying are privileged: no client holds them unless configured.
const (
	RoleIngest  Role = "ingest"
	RoleRead    Role = "read" // read and export, with the object's authorisation reference
	RoleHold    Role = "hold"
	RoleRelease Role = "release"
	RoleExpire  Role = "expire"
	RoleVerify  Role = "verify"
	// RoleList sees every object in listings and custody reports; without
	// it a client sees the objects of the cases it ingested.
	RoleList Role = "list"
	// RoleRelay may ingest on behalf of another party (Metadata.OnBehalfOf):
	// the ingest entry then names that party as its actor and the relaying
	// client as Via. Privileged: what a relay states about who it relays for
	// goes into the custody log as the actor.
	RoleRelay Role = "relay"
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleIngest, RoleRead, RoleHold, RoleRelease, RoleExpire, RoleVerify, RoleList, RoleRelay}

// Grants maps each role to the principals that hold it. A role absent from
// the map is held by nobody.
type Grants map[Role][]Principal

// DefaultGrants lets every authenticated client ingest, read (with the
// object's authorisation reference) and place holds; release, expire,
// verify, list-everything and relay are granted to nobody.
func DefaultGrants() Grants {
	return Grants{RoleIngest: {AnyClient}, RoleRead: {AnyClient}, RoleHold: {AnyClient}}
}

// Allows reports whether id holds role.
func (g Grants) Allows(id Identity, role Role) bool {
	if id.Subject == SystemActor && id.certificate() == nil {
		return true
	}
	return slices.ContainsFunc(g[role], func(p Principal) bool { return p.Matches(id) })
}

func (g Grants) String() string {
	var parts []string
	for _, r := range Roles {
		var ps []string
		for _, p := range g[r] {
			ps = append(ps, p.String())
		}
		if len(ps) == 0 {
			ps = []string{"nobody"}
		}
		parts = append(parts, fmt.Sprintf("%s: %s", r, strings.Join(ps, " | ")))
	}
	return strings.Join(parts, "; ")
}

type principalKind int

const (
	principalAny principalKind = iota
	principalURI
	principalFingerprint
	principalDN
)

// Principal names who holds a role. Forms:
//
//   - every authenticated client
//     spiffe://…, uri:<URI>     the certificate's URI SAN, compared exactly
//     sha256:<64 hex>           one certificate, by fingerprint
//     CN=alice,O=Police KE      a distinguished name (RFC 4514), compared as a
//     name: attribute types by OID, values without
//     ASCII case or repeated-space differences, every RDN
//     and attribute present and nothing more
//
// A value is always taken whole: commas belong to the name.
type Principal struct {
	kind principalKind
	text string
	key  string // URI, fingerprint or canonical DN
}

// AnyClient matches every authenticated client.
var AnyClient = Principal{kind: principalAny, text: "*"}

// ParsePrincipal parses one configured principal.
func ParsePrincipal(s string) (Principal, error) {
	switch {
	case s == "*":
		return AnyClient, nil
	case strings.HasPrefix(s, "uri:"):
		u := strings.TrimPrefix(s, "uri:")
		if u == "" || strings.ContainsAny(u, " \t") {
			return Principal{}, fmt.Errorf("principal %q: uri: needs a URI without spaces", s)
		}
		return Principal{kind: principalURI, text: s, key: u}, nil
	case strings.Contains(s, "://"):
		return Principal{kind: principalURI, text: s, key: s}, nil
	case strings.HasPrefix(s, "sha256:"):
		h := strings.TrimPrefix(s, "sha256:")
		if !isHex64(h) {
			return Principal{}, fmt.Errorf("principal %q: a certificate fingerprint is sha256: and 64 lowercase hex characters", s)
		}
		return Principal{kind: principalFingerprint, text: s, key: s}, nil
	}
	dn := strings.TrimPrefix(s, "dn:")
	key, err := canonicalDN(dn)
	if err != nil {
		return Principal{}, fmt.Errorf("principal %q is not *, a URI, sha256:<fingerprint> or a distinguished name: %w", s, err)
	}
	return Principal{kind: principalDN, text: s, key: key}, nil
}

// ParsePrincipals parses a list of principals, naming the flag in errors.
func ParsePrincipals(flag string, values []string) ([]Principal, error) {
	out := make([]Principal, 0, len(values))
	for _, s := range values {
		p, err := ParsePrincipal(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (p Principal) String() string { return p.text }

// Matches reports whether id is this principal.
func (p Principal) Matches(id Identity) bool {
	switch p.kind {
	case principalAny:
		return true
	case principalURI:
		return id.URI != "" && id.URI == p.key
	case principalFingerprint:
		return id.Fingerprint == p.key
	case principalDN:
		key, err := canonicalDN(id.Subject)
		return err == nil && key == p.key
	}
	return false
}

// sameClient reports whether a and b are the same principal (same URI SAN,
// or the same subject as a name from the same issuer).
func sameClient(a, b Identity) bool {
	if a.URI != "" || b.URI != "" {
		return a.URI == b.URI
	}
	ka, erra := canonicalDN(a.Subject)
	kb, errb := canonicalDN(b.Subject)
	return erra == nil && errb == nil && ka == kb && a.Issuer == b.Issuer
}

var attributeOIDs = map[string]string{
	"CN": "2.5.4.3", "SN": "2.5.4.4", "SERIALNUMBER": "2.5.4.5", "C": "2.5.4.6", "L": "2.5.4.7",
	"ST": "2.5.4.8", "STREET": "2.5.4.9", "O": "2.5.4.10", "OU": "2.5.4.11", "TITLE": "2.5.4.12",
	"POSTALCODE": "2.5.4.17", "GIVENNAME": "2.5.4.42", "DC": "0.9.2342.19200300.100.1.25",
	"UID": "0.9.2342.19200300.100.1.1",
}

// canonicalDN parses an RFC 4514 distinguished name into a form in which
// two names are equal exactly when they name the same entity: attribute
// types as OIDs, values unescaped, ASCII letters lower-cased and runs of
// U+0020 collapsed, attributes of a multi-valued RDN sorted, RDNs in order.
// Nothing else is folded: full Unicode case folding would make "Straße"
// and "STRASSE", or a Kelvin sign and "K", the same principal, and folding
// other spaces would merge names that differ by a no-break space. Values
// with control, invisible format or non-ASCII space characters are refused
// (they could also forge the separators of the canonical form).
func canonicalDN(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", errors.New("empty name")
	}
	var rdns []string
	var attrs []string
	var typ, val strings.Builder
	inValue, quoted := false, false
	flush := func() error {
		t := strings.ToUpper(strings.TrimSpace(typ.String()))
		if t == "" {
			return errors.New("an attribute has no type (expected TYPE=value)")
		}
		oid, ok := attributeOIDs[t]
		if !ok {
			if !isDottedOID(t) {
				return fmt.Errorf("unknown attribute type %q (use CN, O, OU, C, L, ST, … or a dotted OID)", truncateForError(t))
			}
			oid = t
		}
		raw := val.String()
		for _, r := range raw {
			if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) && r != ' ' {
				return fmt.Errorf("attribute %s has a control, invisible or non-ASCII space character (%U)", t, r)
			}
		}
		v := strings.Join(strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' }), " ")
		if v == "" {
			return fmt.Errorf("attribute %s has an empty value", t)
		}
		attrs = append(attrs, oid+"="+asciiLower(v))
		typ.Reset()
		val.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case !inValue && c == '=':
			inValue = true
		case !inValue:
			typ.WriteByte(c)
		case c == '\\':
			if i+1 >= len(s) {
				return "", errors.New("name ends in a lone backslash")
			}
			if i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]) {
				b, _ := hex.DecodeString(s[i+1 : i+3])
				val.WriteByte(b[0])
				i += 2
			} else {
				val.WriteByte(s[i+1])
				i++
			}
		case c == '"':
			quoted = !quoted
		case quoted:
			val.WriteByte(c)
		case c == ',' || c == ';' || c == '+':
			if err := flush(); err != nil {
				return "", err
			}
			if c != '+' {
				sort.Strings(attrs)
				rdns = append(rdns, strings.Join(attrs, "\x00"))
				attrs = nil
			}
		default:
			val.WriteByte(c)
		}
	}
	if quoted {
		return "", errors.New("unterminated quoted value")
	}
	if !inValue {
		return "", errors.New("the last attribute has no value (expected TYPE=value)")
	}
	if err := flush(); err != nil {
		return "", err
	}
	sort.Strings(attrs)
	rdns = append(rdns, strings.Join(attrs, "\x00"))
	return strings.Join(rdns, "\x01"), nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isHexByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDottedOID(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return strings.Contains(s, ".")
}
