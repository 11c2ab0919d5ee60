package requests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
)

// The OpenAPI document is generated from the embedded schema files, so that
// what peers read and what Parse enforces are the same bytes.

// dnsLabel is the pattern of a CooperationChannel's name in the outbound path.
const dnsLabel = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

// requestIDPattern bounds the identifiers the gateway assigns to requests.
const requestIDPattern = "^[A-Za-z0-9_-]{1,64}$"

// compactJWSPattern is a JWS in compact serialisation (RFC 7515 §7.1):
// three base64url parts separated by dots.
const compactJWSPattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$"

// OpenAPI returns the OpenAPI 3.1 document (JSON) of the gateway's API:
// the peer API (POST /v1/requests, GET /v1/requests/{id}, GET /v1/trust-bundle,
// GET /v1/schemas/{name}) and the outbound API for local officers
// (POST /v1/outbound/{channel}/requests). The request schemas are the embedded
// files, under components.schemas with their $id.
func OpenAPI() []byte { return bytes.Clone(schemas.openapi) }

// object is a JSON object that keeps its members in the order written, so the
// generated document reads top-down.
type object []member

type member struct {
	name  string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(m.name)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func ref(name string) object { return object{{"$ref", "#/components/schemas/" + name}} }

func jsonContent(schema any) object {
	return object{{"application/json", object{{"schema", schema}}}}
}

func response(description string, schema any) object {
	return object{{"description", description}, {"content", jsonContent(schema)}}
}

func problem(description string) object {
	return response(description, ref("Problem"))
}

func pathParam(name, description string, schema object) object {
	return object{{"name", name}, {"in", "path"}, {"required", true}, {"description", description}, {"schema", schema}}
}

func buildOpenAPI(c *catalogue) ([]byte, error) {
	typeRefs := make([]any, len(Types))
	mapping := object{}
	schemaComponents := object{{"Common", json.RawMessage(c.files[commonFile])}}
	examples := object{}
	typeNames := make([]any, len(Types))
	for i, t := range Types {
		name := string(t)
		typeRefs[i] = ref(name)
		typeNames[i] = name
		mapping = append(mapping, member{name, "#/components/schemas/" + name})
		schemaComponents = append(schemaComponents, member{name, json.RawMessage(c.files[schemaFileName(t)])})
		if ex, err := exampleFiles.ReadFile(path.Join(exampleDir, name+".json")); err == nil {
			examples = append(examples, member{name, object{{"summary", "A " + name + " request"}, {"value", json.RawMessage(ex)}}})
		}
	}
	schemaNames := make([]any, 0, len(c.files))
	for _, n := range sortedNames(c.files) {
		schemaNames = append(schemaNames, n)
	}

	schemaComponents = append(schemaComponents,
		member{"RequestId", object{
			{"description", "Identifier the receiving gateway assigns to a request it has recorded. Opaque to the sender."},
			{"type", "string"}, {"pattern", requestIDPattern}, {"maxLength", 64},
		}},
		member{"CompactJWS", object{
			{"description", "A JSON Web Signature in compact serialisation (RFC 7515): base64url header, payload and signature separated by dots."},
			{"type", "string"}, {"pattern", compactJWSPattern}, {"maxLength", 262144},
		}},
		member{"Receipt", object{
			{"description", "Proof that the receiving gateway recorded the request durably in its evidence vault before answering. receipt is a JWS signed by the receiving gateway's key over the SHA-256 digest of the request's RFC 8785 canonical form, carrying the custody entry's inclusion proof against the vault's signed checkpoint: the sender can later prove that the request was recorded and never removed."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"requestId", "receipt"}},
			{"properties", object{
				{"requestId", object{{"$ref", "#/components/schemas/RequestId"}, {"description", "Identifier of the recorded request at the receiving gateway."}}},
				{"receipt", object{{"$ref", "#/components/schemas/CompactJWS"}, {"description", "The signed receipt."}}},
			}},
		}},
		member{"OutboundReceipt", object{
			{"description", "The peer gateway's receipt for a request sent on behalf of a local officer, after this gateway verified its signature and inclusion proof."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"requestId", "receipt", "verified"}},
			{"properties", object{
				{"requestId", object{{"$ref", "#/components/schemas/RequestId"}, {"description", "Identifier the peer gateway assigned to the request."}}},
				{"receipt", object{{"$ref", "#/components/schemas/CompactJWS"}, {"description", "The peer gateway's signed receipt."}}},
				{"verified", object{{"description", "Always true: this gateway checked the receipt's signature against the peer's trust bundle, its digest against the request sent, and its inclusion proof, before answering."}, {"const", true}}},
			}},
		}},
		member{"FieldError", object{
			{"description", "One thing wrong with a request document. The message never repeats the submitted value."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"path", "message"}},
			{"properties", object{
				{"path", object{{"description", "JSON Pointer (RFC 6901) of the bad field, empty for the whole document. For a missing field, the pointer the field would have."}, {"type", "string"}, {"maxLength", 2048}}},
				{"message", object{{"description", "What is expected at that path."}, {"type", "string"}, {"maxLength", 1024}}},
			}},
		}},
		member{"ValidationProblem", object{
			{"description", "The request document is not valid. The problems found are listed, sorted by path."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"error", "fields"}},
			{"properties", object{
				{"error", object{{"description", "A summary for people."}, {"type", "string"}, {"maxLength", 1024}}},
				{"fields", object{{"description", fmt.Sprintf("The problems, one per field and rule broken, at most %d; when there are more, the first entry (path \"\") counts those left out.", MaxFieldErrors)}, {"type", "array"}, {"maxItems", MaxFieldErrors}, {"items", ref("FieldError")}}},
			}},
		}},
		member{"Refusal", object{
			{"description", "The sender is not admitted for this request: its certificate is not trusted by a CooperationChannel, or the channel does not permit the request type."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"error", "reason"}},
			{"properties", object{
				{"error", object{{"description", "A summary for people."}, {"type", "string"}, {"maxLength", 1024}}},
				{"reason", object{{"description", "Why the sender was refused, as a machine-readable word (e.g. PeerNotTrusted, TypeNotPermitted)."}, {"type", "string"}, {"maxLength", 128}}},
			}},
		}},
		member{"Problem", object{
			{"description", "An error that concerns the request as a whole."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"error"}},
			{"properties", object{
				{"error", object{{"description", "What went wrong and what to do, for people."}, {"type", "string"}, {"maxLength", 1024}}},
			}},
		}},
		member{"RequestState", object{
			{"description", "Where one of the sender's own requests stands. Every change of state is a custody entry in the receiving gateway's vault."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"requestId", "type", "reference", "received", "state", "receipt"}},
			{"properties", object{
				{"requestId", object{{"$ref", "#/components/schemas/RequestId"}, {"description", "Identifier of the request at the receiving gateway."}}},
				{"type", object{{"description", "The request type."}, {"type", "string"}, {"enum", typeNames}}},
				{"reference", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/reference"}, {"description", "The sender's reference of the request."}}},
				{"received", object{{"description", "When the receiving gateway recorded the request (RFC 3339)."}, {"type", "string"}, {"format", "date-time"}, {"maxLength", 35}}},
				{"state", object{
					{"description", "Received: recorded, not yet looked at. Acknowledged: a person at the point of contact has taken it. InProgress: being executed. Executed, PartlyExecuted, Refused: finished. Clarification: the requested State needs more information from the sender. Withdrawn: the sender withdrew it."},
					{"type", "string"},
					{"enum", []string{"Received", "Acknowledged", "InProgress", "Executed", "PartlyExecuted", "Refused", "Clarification", "Withdrawn"}},
				}},
				{"receipt", object{{"$ref", "#/components/schemas/CompactJWS"}, {"description", "The receipt issued when the request was recorded."}}},
			}},
		}},
		member{"TrustBundlePayload", object{
			{"description", "The payload of the trust bundle JWS: the CA certificates a gateway's peers should trust for it. The JWS is signed by a key the peers already trust, so a new CA is picked up without anyone copying files."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"country", "bundle", "issued"}},
			{"properties", object{
				{"country", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/country"}, {"description", "The publishing State."}}},
				{"bundle", object{{"description", "The CA certificates, PEM-encoded, concatenated."}, {"type", "string"}, {"maxLength", 262144}}},
				{"issued", object{{"description", "When the bundle was issued (RFC 3339); a peer ignores a bundle older than the one it has."}, {"type", "string"}, {"format", "date-time"}, {"maxLength", 35}}},
			}},
		}},
	)

	requestBody := object{
		{"description", "One request document. Its type field selects the schema. The document is recorded in its RFC 8785 canonical form, whose SHA-256 digest the receipt signs. Bodies larger than 1 MiB, with repeated member names, nesting deeper than 32 levels or numbers that canonical form would change are refused."},
		{"required", true},
		{"content", object{{"application/json", object{
			{"schema", object{
				{"oneOf", typeRefs},
				{"discriminator", object{{"propertyName", "type"}, {"mapping", mapping}}},
			}},
			{"examples", examples},
		}}}},
	}

	retryAfter := object{{"Retry-After", object{{"description", "Seconds to wait before sending again."}, {"schema", object{{"type", "integer"}, {"minimum", 0}}}}}}
	tooMany := problem("Too many requests from this peer; wait as Retry-After says.")
	tooMany = append(tooMany, member{"headers", retryAfter})

	paths := object{
		{"/v1/requests", object{{"post", object{
			{"operationId", "submitRequest"},
			{"tags", []string{"peer"}},
			{"summary", "Send a request to this State's 24/7 point of contact"},
			{"description", "Nothing is acknowledged before it is durable in the vault: a 201 or 200 answer carries a signed receipt. Sending the same document again (same reference, same canonical digest) returns the original receipt with 200."},
			{"requestBody", object{{"$ref", "#/components/requestBodies/RequestDocument"}}},
			{"responses", object{
				{"201", response("Recorded: the request is durable in the vault.", ref("Receipt"))},
				{"200", response("Already recorded: the same document was received before; the original receipt.", ref("Receipt"))},
				{"400", object{{"$ref", "#/components/responses/Invalid"}}},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"409", problem("A different document was already recorded under the same reference from this sender. Use a new reference.")},
				{"413", object{{"$ref", "#/components/responses/TooLarge"}}},
				{"429", object{{"$ref", "#/components/responses/TooMany"}}},
			}},
		}}}},
		{"/v1/requests/{id}", object{{"get", object{
			{"operationId", "getRequest"},
			{"tags", []string{"peer"}},
			{"summary", "Where one of the sender's own requests stands"},
			{"description", "A peer sees only the requests it sent."},
			{"parameters", []any{pathParam("id", "The requestId from the receipt.", ref("RequestId"))}},
			{"responses", object{
				{"200", response("The request's state.", ref("RequestState"))},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No request with this identifier was sent by this peer.")},
				{"429", object{{"$ref", "#/components/responses/TooMany"}}},
			}},
		}}}},
		{"/v1/trust-bundle", object{{"get", object{
			{"operationId", "getTrustBundle"},
			{"tags", []string{"peer"}},
			{"summary", "This gateway's trust bundle, signed"},
			{"description", "A compact JWS whose payload is a TrustBundlePayload (JSON): the CA certificates peers should trust for this gateway. It is signed by a key peers already trust, so that a CA key replacement reaches them without anyone copying bundles."},
			{"responses", object{
				{"200", object{
					{"description", "The signed trust bundle."},
					{"content", object{{"application/jose", object{{"schema", ref("CompactJWS")}}}}},
				}},
				{"429", object{{"$ref", "#/components/responses/TooMany"}}},
			}},
		}}}},
		{"/v1/schemas/{name}", object{{"get", object{
			{"operationId", "getSchema"},
			{"tags", []string{"peer"}},
			{"summary", "One request schema (JSON Schema draft 2020-12)"},
			{"description", "The schema files this document embeds, as files: name is the last segment of the schema's $id."},
			{"parameters", []any{pathParam("name", "Schema file name.", object{{"type", "string"}, {"enum", schemaNames}})}},
			{"responses", object{
				{"200", object{
					{"description", "The schema."},
					{"content", object{{"application/schema+json", object{{"schema", object{{"type", "object"}}}}}}},
				}},
				{"404", problem("No schema of that name.")},
			}},
		}}}},
		{"/v1/outbound/{channel}/requests", object{{"post", object{
			{"operationId", "sendRequest"},
			{"tags", []string{"outbound"}},
			{"summary", "Send a request to a peer State (local officers)"},
			{"description", "For officers of this State: the gateway validates the document as the peer will, sends it to the peer named by the CooperationChannel, verifies the peer's receipt and returns it."},
			{"parameters", []any{pathParam("channel", "Name of the CooperationChannel to the peer State.", object{{"type", "string"}, {"pattern", dnsLabel}, {"maxLength", 63}})}},
			{"requestBody", object{{"$ref", "#/components/requestBodies/RequestDocument"}}},
			{"responses", object{
				{"201", response("The peer recorded the request; its receipt, verified.", ref("OutboundReceipt"))},
				{"200", response("The peer had already recorded this document; its original receipt, verified.", ref("OutboundReceipt"))},
				{"400", object{{"$ref", "#/components/responses/Invalid"}}},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No CooperationChannel of that name.")},
				{"409", problem("The peer already recorded a different document under the same reference.")},
				{"413", object{{"$ref", "#/components/responses/TooLarge"}}},
				{"429", object{{"$ref", "#/components/responses/TooMany"}}},
				{"502", problem("The peer did not record the request, or its receipt did not verify; nothing was acknowledged.")},
			}},
		}}}},
	}

	doc := object{
		{"openapi", "3.1.0"},
		{"info", object{
			{"title", "cybercoop gateway API"},
			{"version", "1.0.0"},
			{"description", "The API of a State's 24/7 point of contact under the UN Convention against Cybercrime: requests between States, over mutual TLS. Each request type has its own JSON Schema (draft 2020-12), embedded below under components.schemas with its $id; GET /v1/schemas/{name} serves the same files."},
		}},
		{"jsonSchemaDialect", "https://json-schema.org/draft/2020-12/schema"},
		{"security", []any{object{{"mutualTLS", []string{}}}}},
		{"tags", []any{
			object{{"name", "peer"}, {"description", "Called by peer States' gateways, with a client certificate their CooperationChannel trusts."}},
			object{{"name", "outbound"}, {"description", "Called by this State's officers to send requests to peers."}},
		}},
		{"paths", paths},
		{"components", object{
			{"schemas", schemaComponents},
			{"requestBodies", object{{"RequestDocument", requestBody}}},
			{"responses", object{
				{"Invalid", response("The body is not a valid request document: not JSON, an unknown type, or fields that do not match the type's schema.", ref("ValidationProblem"))},
				{"Refused", response("The client certificate is not admitted for this request.", ref("Refusal"))},
				{"TooLarge", problem("The body is larger than 1 MiB.")},
				{"TooMany", tooMany},
			}},
			{"securitySchemes", object{{"mutualTLS", object{
				{"type", "mutualTLS"},
				{"description", "Peers present a client certificate issued by the CA their CooperationChannel trusts; officers, one issued by this State's CA."},
			}}}},
		}},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
