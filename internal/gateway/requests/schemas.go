package requests

import (
	"bytes"
	"embed"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaBaseURL is the base of every schema's $id; a schema file's $id is
// SchemaBaseURL followed by its file name. The URLs name the schemas; nothing
// is ever fetched from them.
const SchemaBaseURL = "https://cybercoop.io/schemas/gateway/v1/"

const (
	schemaDir  = "schemas/v1"
	commonFile = "common.schema.json"
	schemaExt  = ".schema.json"
	// messagesKeyword is the schema annotation (ignored by validators) that
	// gives the message for an error of one keyword of the schema it sits in,
	// e.g. "x-messages": {"pattern": "must be an ISO 3166-1 alpha-2 code"}.
	messagesKeyword = "x-messages"
)

//go:embed schemas/v1/*.schema.json
var schemaFiles embed.FS

// catalogue is everything derived from the embedded schema files, built once
// at init: a broken schema file is a build defect, caught by any test.
type catalogue struct {
	files    map[string][]byte            // file name → file bytes
	docs     map[string]any               // $id → decoded schema document
	compiled map[Type]*jsonschema.Schema  // type → compiled schema
	messages map[string]map[string]string // schema location → keyword → message
	fields   map[string][]string          // schema location → its properties, sorted
	openapi  []byte
}

var schemas = mustLoadCatalogue()

func mustLoadCatalogue() *catalogue {
	c, err := loadCatalogue()
	if err != nil {
		panic("internal/gateway/requests: embedded schemas: " + err.Error())
	}
	return c
}

func loadCatalogue() (*catalogue, error) {
	c := &catalogue{
		files:    map[string][]byte{},
		docs:     map[string]any{},
		compiled: map[Type]*jsonschema.Schema{},
		messages: map[string]map[string]string{},
		fields:   map[string][]string{},
	}
	entries, err := schemaFiles.ReadDir(schemaDir)
	if err != nil {
		return nil, err
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat()
	compiler.UseLoader(embeddedOnly{})
	for _, e := range entries {
		name := e.Name()
		b, err := schemaFiles.ReadFile(path.Join(schemaDir, name))
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id != SchemaBaseURL+name {
			return nil, fmt.Errorf("%s: $id is %q, want %q", name, id, SchemaBaseURL+name)
		}
		if err := compiler.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.files[name] = b
		c.docs[id] = doc
		indexAnnotations(c, id, "", doc)
	}
	for name := range c.files {
		if name == commonFile {
			continue
		}
		if !slices.ContainsFunc(Types, func(t Type) bool { return schemaFileName(t) == name }) {
			return nil, fmt.Errorf("%s: no request type in Types has this schema file", name)
		}
	}
	for _, t := range Types {
		if _, ok := c.files[schemaFileName(t)]; !ok {
			return nil, fmt.Errorf("type %s has no schema file %s/%s", t, schemaDir, schemaFileName(t))
		}
		sch, err := compiler.Compile(SchemaID(t))
		if err != nil {
			return nil, fmt.Errorf("type %s: %w", t, err)
		}
		c.compiled[t] = sch
	}
	c.openapi, err = buildOpenAPI(c)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document: %w", err)
	}
	return c, nil
}

// indexAnnotations records, for every subschema under doc, its x-messages and
// its property names, keyed by the subschema's location (id#pointer), which is
// how validation errors name the schema that failed.
func indexAnnotations(c *catalogue, id, pointer string, v any) {
	switch v := v.(type) {
	case map[string]any:
		loc := id + "#" + pointer
		if m, ok := v[messagesKeyword].(map[string]any); ok {
			c.messages[loc] = map[string]string{}
			for kw, msg := range m {
				if s, ok := msg.(string); ok {
					c.messages[loc][kw] = s
				}
			}
		}
		if props, ok := v["properties"].(map[string]any); ok {
			names := make([]string, 0, len(props))
			for name := range props {
				names = append(names, name)
			}
			slices.Sort(names)
			c.fields[loc] = names
		}
		for k, child := range v {
			indexAnnotations(c, id, pointer+"/"+escapePointerToken(k), child)
		}
	case []any:
		for i, child := range v {
			indexAnnotations(c, id, fmt.Sprintf("%s/%d", pointer, i), child)
		}
	}
}

// schemaLocation normalises a schema location from a validation error
// (id#/url-escaped/pointer) to the form indexAnnotations uses.
func schemaLocation(s string) string {
	id, frag, _ := strings.Cut(s, "#")
	if raw, err := url.PathUnescape(frag); err == nil {
		frag = raw
	}
	return id + "#" + frag
}

// embeddedOnly refuses every URL the compiler has not been given with
// AddResource, so that a $ref can never reach the network or the file system.
type embeddedOnly struct{}

func (embeddedOnly) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not one of the embedded schemas; $ref may only name files in %s", u, schemaDir)
}

func schemaFileName(t Type) string { return kebabName(t) + schemaExt }

// Schema returns the embedded schema file of type t, as peers may download it
// (GET /v1/schemas/{name}), and false when t is not a known type.
func Schema(t Type) ([]byte, bool) {
	if !known(t) {
		return nil, false
	}
	return SchemaFile(schemaFileName(t))
}

// SchemaID returns the $id of type t's schema, "" when t is not a known type.
func SchemaID(t Type) string {
	if !known(t) {
		return ""
	}
	return SchemaBaseURL + schemaFileName(t)
}

// SchemaFile returns an embedded schema file by name, e.g.
// "preservation.schema.json" or "common.schema.json"; the name is the last
// segment of the schema's $id.
func SchemaFile(name string) ([]byte, bool) {
	b, ok := schemas.files[name]
	if !ok {
		return nil, false
	}
	return bytes.Clone(b), true
}

// SchemaNames lists the embedded schema files' names, sorted: one per type,
// and common.schema.json, which they reference.
func SchemaNames() []string { return sortedNames(schemas.files) }

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func escapePointerToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
