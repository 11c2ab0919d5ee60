package requests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIURL is where the tests pretend the OpenAPI document lives, so that
// the compiler can resolve its local references.
const openAPIURL = "https://cybercoop.io/gateway/openapi.json"

func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(OpenAPI()))
	if err != nil {
		t.Fatalf("OpenAPI() is not JSON: %v", err)
	}
	return doc.(map[string]any)
}

func TestOpenAPIDescribesTheAPI(t *testing.T) {
	doc := openAPIDoc(t)
	if doc["openapi"] != "3.1.0" || doc["jsonSchemaDialect"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("openapi %v, jsonSchemaDialect %v", doc["openapi"], doc["jsonSchemaDialect"])
	}
	operations := map[string][]string{
		"post /v1/requests":                                         {"200", "201", "400", "403", "409", "413", "429"},
		"get /v1/requests/{id}":                                     {"200", "403", "404", "429"},
		"get /v1/trust-bundle":                                      {"200", "429"},
		"get /v1/schemas/{name}":                                    {"200", "404"},
		"post /v1/outbound/{channel}/requests":                      {"200", "201", "400", "403", "404", "409", "413", "429", "502"},
		"post /v1/requests/{id}/transitions":                        {"201", "400", "403", "404", "409"},
		"post /v1/updates":                                          {"200", "201", "400", "404"},
		"get /v1/cases":                                             {"200", "403"},
		"get /v1/cases/{direction}/{peer}/{id}":                     {"200", "403", "404"},
		"post /v1/cases/{direction}/{peer}/{id}/transitions":        {"201", "400", "403", "404", "409", "502"},
		"get /v1/cases-summary":                                     {"200", "403"},
		"post /v1/joint/{case}/evidence":                            {"200", "201", "400", "403", "404", "413"},
		"get /v1/joint/{case}/evidence":                             {"200", "403", "404"},
		"get /v1/joint/{case}/evidence/{digest}":                    {"200", "403", "404"},
		"get /v1/outbound/{channel}/joint/{case}/evidence":          {"200", "403", "404", "502"},
		"get /v1/outbound/{channel}/joint/{case}/evidence/{digest}": {"200", "403", "404", "502"},
		"get /v1/statistics":                                        {"200", "400", "403"},
	}
	paths := doc["paths"].(map[string]any)
	for op, codes := range operations {
		method, path, _ := strings.Cut(op, " ")
		operation, ok := paths[path].(map[string]any)[method].(map[string]any)
		if !ok {
			t.Errorf("%s is not described", op)
			continue
		}
		var got []string
		for code := range operation["responses"].(map[string]any) {
			got = append(got, code)
		}
		slices.Sort(got)
		if !slices.Equal(got, codes) {
			t.Errorf("%s responses %v, want %v", op, got, codes)
		}
	}
	nOps := 0
	for _, p := range paths {
		nOps += len(p.(map[string]any))
	}
	if nOps != len(operations) {
		t.Errorf("%d operations, want %d", nOps, len(operations))
	}

	// The request schemas are the embedded files, unchanged.
	components := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, typ := range Types {
		file, _ := Schema(typ)
		if !sameJSON(t, components[string(typ)], file) {
			t.Errorf("components.schemas.%s differs from %s", typ, schemaFileName(typ))
		}
	}
	common, _ := SchemaFile(commonFile)
	if !sameJSON(t, components["Common"], common) {
		t.Errorf("components.schemas.Common differs from %s", commonFile)
	}

	body := doc["components"].(map[string]any)["requestBodies"].(map[string]any)["RequestDocument"].(map[string]any)
	media := body["content"].(map[string]any)["application/json"].(map[string]any)
	mapping := media["schema"].(map[string]any)["discriminator"].(map[string]any)["mapping"].(map[string]any)
	examples := media["examples"].(map[string]any)
	for _, typ := range Types {
		if mapping[string(typ)] != "#/components/schemas/"+string(typ) {
			t.Errorf("discriminator mapping for %s is %v", typ, mapping[string(typ)])
		}
		if !sameJSON(t, examples[string(typ)].(map[string]any)["value"], readExample(t, typ)) {
			t.Errorf("the %s example differs from %s", typ, examplePath(typ))
		}
	}
	names := paths["/v1/schemas/{name}"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)[0].(map[string]any)["schema"].(map[string]any)["enum"]
	if fmt.Sprint(names) != fmt.Sprint(SchemaNames()) {
		t.Errorf("schema names %v, want %v", names, SchemaNames())
	}
}

// Every $ref in the document resolves within the document: local pointers to
// its members, absolute URLs to the schemas it embeds by $id.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := openAPIDoc(t)
	embedded := map[string]any{}
	for _, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if id, ok := s.(map[string]any)["$id"].(string); ok {
			embedded[id] = s
		}
	}
	var refs int
	var walk func(base string, v any)
	walk = func(base string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["$id"].(string); ok {
				base = id
			}
			if ref, ok := v["$ref"].(string); ok {
				refs++
				if !resolves(doc, embedded, base, ref) {
					t.Errorf("$ref %q (base %q) does not resolve", ref, base)
				}
			}
			for _, child := range v {
				walk(base, child)
			}
		case []any:
			for _, child := range v {
				walk(base, child)
			}
		}
	}
	walk(openAPIURL, doc)
	if refs < 100 {
		t.Errorf("only %d $refs found; is the walk broken?", refs)
	}
}

func resolves(doc map[string]any, embedded map[string]any, base, ref string) bool {
	b, err := url.Parse(base)
	if err != nil {
		return false
	}
	r, err := b.Parse(ref)
	if err != nil {
		return false
	}
	target := r.Fragment
	r.Fragment = ""
	var root any = doc
	if r.String() != openAPIURL {
		if root = embedded[r.String()]; root == nil {
			return false
		}
	}
	if target == "" {
		return true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(target, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := root.(map[string]any)
		if !ok {
			return false
		}
		if root, ok = m[tok]; !ok {
			return false
		}
	}
	return true
}

// Every schema in the document compiles (so it is valid JSON Schema 2020-12
// and its references resolve offline), and the examples are valid against the
// request body's schema, as a peer's tooling would check them.
func TestOpenAPISchemasCompile(t *testing.T) {
	doc := openAPIDoc(t)
	c := openAPICompiler(t, doc)
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := c.Compile(openAPIURL + "#/components/schemas/" + name); err != nil {
			t.Errorf("components.schemas.%s: %v", name, err)
		}
	}
	body, err := c.Compile(openAPIURL + "#/components/requestBodies/RequestDocument/content/application~1json/schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range Types {
		example, err := jsonschema.UnmarshalJSON(bytes.NewReader(readExample(t, typ)))
		if err != nil {
			t.Fatal(err)
		}
		if err := body.Validate(example); err != nil {
			t.Errorf("the %s example is not valid against the request body: %v", typ, err)
		}
	}
}

func openAPICompiler(t *testing.T, doc map[string]any) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(embeddedOnly{})
	if err := c.AddResource(openAPIURL, doc); err != nil {
		t.Fatal(err)
	}
	// An OpenAPI document is not a schema, so the compiler does not look for
	// $id inside it; a tool that resolves embedded $ids does this.
	for _, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if id, ok := s.(map[string]any)["$id"].(string); ok {
			if err := c.AddResource(id, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// TestOpenAPIMetaSchema validates the document against the official
// OpenAPI 3.1 schema (https://spec.openapis.org/oas/3.1/schema/2022-10-07,
// schemas/v3.1/schema.json in github.com/OAI/OpenAPI-Specification). The
// file is not part of this repository and there is no network here: set
// OPENAPI_31_SCHEMA to its path to run the test.
func TestOpenAPIMetaSchema(t *testing.T) {
	file := os.Getenv("OPENAPI_31_SCHEMA")
	if file == "" {
		t.Skip("OPENAPI_31_SCHEMA is not set (path of the official OpenAPI 3.1 schema.json)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(embeddedOnly{})
	if err := c.AddResource(file, meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := openAPIDoc(t)
	if err := sch.Validate(doc); err != nil {
		t.Errorf("the OpenAPI document is not valid OpenAPI 3.1: %v", err)
	}
	// The meta-schema does check: a 3.0 document with an unknown member fails.
	doc["openapi"] = "3.0.3"
	doc["paths"].(map[string]any)["/v1/requests"].(map[string]any)["post"].(map[string]any)["summary"] = 1
	if sch.Validate(doc) == nil {
		t.Error("a broken document passes the meta-schema")
	}
}

func sameJSON(t *testing.T, v any, file []byte) bool {
	t.Helper()
	a, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	x, err1 := Canonical(a)
	y, err2 := Canonical(file)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
