package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// decodeExact decodes body, one JSON object, into v. It refuses what
// encoding/json lets through and another reader of the same bytes could take
// otherwise: a member spelt in another case ("ACTION" for "action":
// encoding/json matches names regardless of case), a member given twice (it
// keeps the last, other parsers the first), a member not in members, and
// anything after the object. The errors name the member, never its value.
func decodeExact(body []byte, v any, members ...string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New(describeJSONError(err))
		}
		name, _ := tok.(string)
		switch {
		case !slices.Contains(members, name):
			return fmt.Errorf("unknown field %q (names are exact)", truncateText(name, 40))
		case seen[name]:
			return fmt.Errorf("field %q is given twice", name)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return errors.New(describeJSONError(err))
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New(describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data follows the object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errors.New(describeJSONError(err))
	}
	return nil
}
