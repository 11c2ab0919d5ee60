package requests

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// fieldErrors turns a validation error tree into field errors: one per leaf
// (the keyword that failed), at the leaf's instance location. The library's
// own messages quote submitted values, so every message is written here from
// the kind of error and the schema alone, or taken from the schema's
// x-messages annotation for that keyword.
func fieldErrors(t Type, root *jsonschema.ValidationError) []FieldError {
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		switch e.ErrorKind.(type) {
		case *kind.OneOf, *kind.AnyOf:
			// The causes are every alternative's failures; listing them all
			// would ask for contradictory fixes. One error says what is wanted.
			out = append(out, leafErrors(t, e)...)
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, leafErrors(t, e)...)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(root)
	return out
}

func leafErrors(t Type, e *jsonschema.ValidationError) []FieldError {
	at := pointer(e.InstanceLocation)
	loc := schemaLocation(e.SchemaURL)
	override := func(keyword string) (string, bool) {
		msg, ok := schemas.messages[loc][keyword]
		return msg, ok
	}
	one := func(msg string) []FieldError { return []FieldError{{Path: at, Message: msg}} }

	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		msg, ok := override("required")
		if !ok {
			msg = "is required"
		}
		errs := make([]FieldError, len(k.Missing))
		for i, name := range k.Missing {
			errs[i] = FieldError{Path: at + "/" + escapePointerToken(name), Message: msg}
		}
		return errs
	case *kind.DependentRequired:
		return missingDependents(at, k.Prop, k.Missing)
	case *kind.Dependency:
		return missingDependents(at, k.Prop, k.Missing)
	case *kind.AdditionalProperties:
		msg := "is not a field of " + string(t) + " requests"
		if len(e.InstanceLocation) > 0 {
			msg = "is not a field of " + objectName(e.InstanceLocation)
			if fields := schemas.fields[loc]; len(fields) > 0 {
				msg += "; its fields are " + strings.Join(fields, ", ")
			}
		}
		errs := make([]FieldError, len(k.Properties))
		for i, name := range k.Properties {
			errs[i] = FieldError{Path: at + "/" + escapePointerToken(name), Message: msg}
		}
		return errs
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = jsonTypeName(w)
		}
		return one("must be " + strings.Join(want, " or ") + ", not " + jsonTypeName(k.Got))
	case *kind.Const:
		if msg, ok := override("const"); ok {
			return one(msg)
		}
		return one("must be " + showSchemaValue(k.Want))
	case *kind.Enum:
		if msg, ok := override("enum"); ok {
			return one(msg)
		}
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = showSchemaValue(w)
		}
		return one("must be one of " + strings.Join(want, ", "))
	case *kind.Format:
		if msg, ok := override("format"); ok {
			return one(msg)
		}
		return one("must be a valid " + k.Want)
	case *kind.Pattern:
		if msg, ok := override("pattern"); ok {
			return one(msg + " (pattern " + k.Want + ")")
		}
		return one("does not match the pattern " + k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return one("must not be empty")
		}
		return one(fmt.Sprintf("must be at least %d characters long", k.Want))
	case *kind.MaxLength:
		return one(fmt.Sprintf("must be at most %d characters long", k.Want))
	case *kind.MinItems:
		if k.Want == 1 {
			return one("must have at least one item")
		}
		return one(fmt.Sprintf("must have at least %d items", k.Want))
	case *kind.MaxItems:
		return one(fmt.Sprintf("must have at most %d items", k.Want))
	case *kind.MinProperties:
		return one(fmt.Sprintf("must have at least %d members", k.Want))
	case *kind.MaxProperties:
		return one(fmt.Sprintf("must have at most %d members", k.Want))
	case *kind.UniqueItems:
		return one(fmt.Sprintf("must not repeat items: items %d and %d are equal", k.Duplicates[0], k.Duplicates[1]))
	case *kind.Minimum:
		return one("must be at least " + k.Want.RatString())
	case *kind.Maximum:
		return one("must be at most " + k.Want.RatString())
	case *kind.ExclusiveMinimum:
		return one("must be greater than " + k.Want.RatString())
	case *kind.ExclusiveMaximum:
		return one("must be less than " + k.Want.RatString())
	case *kind.MultipleOf:
		return one("must be a multiple of " + k.Want.RatString())
	case *kind.OneOf:
		if msg, ok := override("oneOf"); ok {
			return one(msg)
		}
		if k.Subschemas != nil {
			return one("matches more than one of the allowed forms; it must match exactly one")
		}
		return one("matches none of the allowed forms")
	case *kind.AnyOf:
		if msg, ok := override("anyOf"); ok {
			return one(msg)
		}
		return one("matches none of the allowed forms")
	case *kind.Not:
		if msg, ok := override("not"); ok {
			return one(msg)
		}
		return one("is not allowed here")
	case *kind.FalseSchema:
		return one("is not allowed here")
	default:
		// A keyword the schemas do not use yet: name it, show nothing else.
		return one("is not valid (schema keyword " + strings.Join(e.ErrorKind.KeywordPath(), "/") + ")")
	}
}

func missingDependents(at, prop string, missing []string) []FieldError {
	errs := make([]FieldError, len(missing))
	for i, name := range missing {
		errs[i] = FieldError{Path: at + "/" + escapePointerToken(name), Message: "is required when " + prop + " is present"}
	}
	return errs
}

// pointer builds a JSON Pointer (RFC 6901) from unescaped tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointerToken(tok))
	}
	return b.String()
}

// objectName names the object at an instance location for a person:
// requestingAuthority, or "dataToPreserve items" for an element of a list.
func objectName(location []string) string {
	last := location[len(location)-1]
	if _, err := strconv.Atoi(last); err == nil && len(location) > 1 {
		return location[len(location)-2] + " items"
	}
	return last
}

func jsonTypeName(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "string", "number":
		return "a " + t
	case "boolean":
		return "true or false"
	default:
		return t
	}
}

// showSchemaValue renders a const or enum value taken from the schema (never
// from the document).
func showSchemaValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}
