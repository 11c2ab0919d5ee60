package requests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest in a request document;
// the root object is at depth 1. The schemas need 4.
const MaxDepth = 32

// decoded is the outcome of strictDecode on a body that is JSON.
type decoded struct {
	root     any          // map[string]any, []any, string, json.Number, bool or nil
	problems []FieldError // duplicate names, excessive nesting, inexact numbers
}

// strictDecode decodes body as exactly one JSON value, keeping numbers as
// their text (json.Number). What encoding/json would silently accept or
// change is a problem here: a repeated member name (the second would win, so
// what is validated and what a peer's parser sees could differ: a lookalike
// attack on canonicalisation), nesting deeper than MaxDepth, a number that
// RFC 8785 canonical form would change. Those come back as field problems;
// the error is for a body that is not one JSON text at all, and names a byte
// offset, never the content.
func strictDecode(body []byte) (decoded, error) {
	if !utf8.Valid(body) {
		return decoded{}, fmt.Errorf("request body is not UTF-8: invalid byte sequence at byte offset %d", invalidUTF8Offset(body))
	}
	d := &strictDecoder{dec: json.NewDecoder(bytes.NewReader(body)), body: body}
	d.dec.UseNumber()
	tok, err := d.dec.Token()
	if errors.Is(err, io.EOF) {
		return decoded{}, errors.New("request body is empty: send one JSON object")
	}
	if err != nil {
		return decoded{}, d.syntaxError(err)
	}
	root, err := d.value(tok, "", 1)
	if err != nil {
		return decoded{}, err
	}
	end := int(d.dec.InputOffset())
	if _, err := d.dec.Token(); err != io.EOF {
		for end < len(body) && isJSONSpace(body[end]) {
			end++
		}
		return decoded{}, fmt.Errorf("request body is not one JSON document: data follows the document at byte offset %d", end)
	}
	return decoded{root: root, problems: d.problems}, nil
}

type strictDecoder struct {
	dec      *json.Decoder
	body     []byte
	problems []FieldError
	// lastSurrogate is set by next when the string it read holds an
	// unpaired surrogate escape.
	lastSurrogate bool
}

func (d *strictDecoder) syntaxError(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("request body is not JSON: syntax error at byte offset %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("request body is not JSON: it ends at byte offset %d inside a value", len(d.body))
	default:
		return fmt.Errorf("request body is not JSON: error at byte offset %d", d.dec.InputOffset())
	}
}

// next reads a token; io.EOF inside a value is a truncated body.
func (d *strictDecoder) next() (json.Token, error) {
	start := d.dec.InputOffset()
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.syntaxError(err)
	}
	// encoding/json turns an unpaired surrogate escape into U+FFFD; RFC 8785
	// has no form for it. Look at the raw token only when U+FFFD shows up.
	s, isString := tok.(string)
	d.lastSurrogate = isString && strings.ContainsRune(s, utf8.RuneError) &&
		unpairedSurrogate(d.body[start:d.dec.InputOffset()])
	return tok, nil
}

const unpairedSurrogateMessage = "holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which has no RFC 8785 canonical form"

func (d *strictDecoder) value(tok json.Token, pointer string, depth int) (any, error) {
	switch tok := tok.(type) {
	case json.Delim:
		if depth > MaxDepth {
			d.problems = append(d.problems, FieldError{Path: pointer, Message: fmt.Sprintf("nests arrays or objects deeper than %d levels", MaxDepth)})
			return nil, d.skip()
		}
		if tok == '{' {
			return d.object(pointer, depth)
		}
		return d.array(pointer, depth)
	case json.Number:
		if msg := inexactNumber(string(tok)); msg != "" {
			d.problems = append(d.problems, FieldError{Path: pointer, Message: msg})
		}
		return tok, nil
	case string:
		if d.lastSurrogate {
			d.problems = append(d.problems, FieldError{Path: pointer, Message: unpairedSurrogateMessage})
		}
		return tok, nil
	default: // bool, nil
		return tok, nil
	}
}

func (d *strictDecoder) object(pointer string, depth int) (any, error) {
	obj := map[string]any{}
	for d.dec.More() {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // the decoder only yields strings as member names
		member := pointer + "/" + escapePointerToken(name)
		if d.lastSurrogate {
			d.problems = append(d.problems, FieldError{Path: member, Message: "has a name that " + unpairedSurrogateMessage})
		}
		tok, err = d.next()
		if err != nil {
			return nil, err
		}
		v, err := d.value(tok, member, depth+1)
		if err != nil {
			return nil, err
		}
		if _, dup := obj[name]; dup {
			d.problems = append(d.problems, FieldError{Path: member, Message: "appears more than once in the same object; each member name may appear only once"})
			continue // the first occurrence is the one validated
		}
		obj[name] = v
	}
	if _, err := d.next(); err != nil { // '}'
		return nil, err
	}
	return obj, nil
}

func (d *strictDecoder) array(pointer string, depth int) (any, error) {
	arr := []any{}
	for i := 0; d.dec.More(); i++ {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		v, err := d.value(tok, pointer+"/"+strconv.Itoa(i), depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := d.next(); err != nil { // ']'
		return nil, err
	}
	return arr, nil
}

// skip consumes the rest of a value whose opening delimiter was just read,
// iteratively, so that a body of a million '[' costs no stack; the decoder
// still checks its syntax.
func (d *strictDecoder) skip() error {
	for open := 1; open > 0; {
		tok, err := d.next()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			open++
		case json.Delim('}'), json.Delim(']'):
			open--
		}
	}
	return nil
}

// inexactNumber returns why the number text s would not survive RFC 8785
// canonicalisation unchanged ("" if it would): canonical JSON writes numbers
// as the shortest text of the nearest IEEE 754 double, so 1e400 has no
// canonical form and 9007199254740993 would become 9007199254740992. The
// canonical form is what is signed and stored, so the value validated must be
// the value it holds.
func inexactNumber(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "is a number out of the range of IEEE 754 double precision, which canonical JSON (RFC 8785) cannot represent"
	}
	if !sameDecimal(s, strconv.FormatFloat(f, 'e', -1, 64)) {
		return "is a number that IEEE 754 double precision cannot hold exactly, so canonical JSON (RFC 8785) would change it; use at most 15 significant digits"
	}
	return ""
}

// sameDecimal reports whether two JSON number texts denote the same value,
// comparing their normalised digits and exponents as text, so that no
// attacker-chosen exponent is ever expanded.
func sameDecimal(a, b string) bool {
	na, ea, oka := normaliseDecimal(a)
	nb, eb, okb := normaliseDecimal(b)
	return oka && okb && na == nb && ea == eb
}

// normaliseDecimal turns a JSON number text into a sign and significant digits
// ("-123") and the exponent of the last digit, with zero as ("0", 0).
func normaliseDecimal(s string) (string, int, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mantissa, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(strings.TrimPrefix(expText, "+"))
		if err != nil || e > 1_000_000 || e < -1_000_000 {
			return "", 0, false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	digits := intPart + frac
	exp -= len(frac)
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	if trimmed == "" {
		return "0", 0, true
	}
	if neg {
		trimmed = "-" + trimmed
	}
	return trimmed, exp, true
}

// unpairedSurrogate reports whether raw JSON text holds a \u escape of a
// high surrogate not followed by one of a low surrogate, or of a lone low one.
func unpairedSurrogate(raw []byte) bool {
	high := false // the previous escape was a high surrogate
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			if high {
				return true
			}
			continue
		}
		if raw[i+1] != 'u' || i+6 > len(raw) {
			if high {
				return true
			}
			i++ // a two-character escape such as \" or \\
			continue
		}
		unit, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		i += 5
		switch {
		case err != nil:
			return false // not JSON; the decoder has said so
		case unit >= 0xD800 && unit <= 0xDBFF:
			if high {
				return true
			}
			high = true
		case unit >= 0xDC00 && unit <= 0xDFFF:
			if !high {
				return true
			}
			high = false
		default:
			if high {
				return true
			}
		}
	}
	return high
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}
