package requests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
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

// statusUpdateType is the JWS type of a status update (receipt.TypeStatusUpdate).
const statusUpdateType = "cybercoop-status-update+jws"

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

	stateNames, actionNames, groundNames := []any{}, []any{}, []any{}
	for _, st := range cases.States {
		stateNames = append(stateNames, string(st))
	}
	for _, a := range cases.Actions {
		actionNames = append(actionNames, string(a))
	}
	for _, g := range cases.Grounds {
		groundNames = append(groundNames, string(g))
	}
	for _, g := range cases.ContestGrounds {
		if !slices.Contains(groundNames, any(string(g))) {
			groundNames = append(groundNames, string(g))
		}
	}
	jointCaseParam := pathParam("case", "The joint investigation's case id.", object{{"type", "string"}, {"pattern", "^[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]$"}})
	caseParams := []any{
		pathParam("direction", "inbound: a request a peer sent this State; outbound: one this State sent.", object{{"type", "string"}, {"enum", []string{"inbound", "outbound"}}}),
		pathParam("peer", "The peer: a State's country code, or a service provider's identifier.", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/party"}}),
		pathParam("id", "This gateway's id of the request.", ref("RequestId")),
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
				{"state", ref("State")},
				{"receipt", object{{"$ref", "#/components/schemas/CompactJWS"}, {"description", "The receipt issued when the request was recorded."}}},
				{"updates", object{{"description", "The signed status update of every transition, in order: JWS of type " + statusUpdateType + ": the transition, its digest and its custody proof."},
					{"type", "array"}, {"maxItems", 10000}, {"items", ref("CompactJWS")}}},
			}},
		}},
		member{"State", object{
			{"description", "Where a request stands. Received: recorded, not yet looked at. Acknowledged: an officer of the requested side has taken it. InProgress: being executed. ClarificationRequested: the requested side asked the sender a question; the sender answers (Clarify) and the request resumes. Contested: a service provider contests it; the authority clarifies or withdraws. Executed, PartiallyExecuted, Refused (with grounds), Withdrawn: decided."},
			{"type", "string"}, {"enum", stateNames},
		}},
		member{"Transition", object{
			{"description", "One step of a request's lifecycle, as the requested side's vault records it (RFC 8785 canonical JSON; its custody entry names the actor)."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"requestId", "sequence", "action", "by", "from", "to", "time"}},
			{"properties", object{
				{"requestId", ref("RequestId")},
				{"sequence", object{{"description", "Numbers the transitions of a request from 1."}, {"type", "integer"}, {"minimum", 1}}},
				{"action", object{{"type", "string"}, {"enum", actionNames}}},
				{"by", object{{"description", "Requested: the side that received the request. Requester: the side that sent it."}, {"type", "string"}, {"enum", []string{"Requested", "Requester"}}}},
				{"from", ref("State")},
				{"to", ref("State")},
				{"time", object{{"type", "string"}, {"format", "date-time"}, {"maxLength", 35}}},
				{"reason", object{{"description", "Why, for people: required for a refusal, a partial execution, a question, an answer, a contest and a withdrawal."}, {"type", "string"}, {"maxLength", 4096}}},
				{"grounds", object{{"description", "A refusal's grounds (article 40), or a service provider's contest's (Unclear, Overbroad, Improper, ConflictOfLaws, Other)."}, {"type", "array"}, {"minItems", 1}, {"uniqueItems", true}, {"items", object{{"type", "string"}, {"enum", groundNames}}}}},
			}},
		}},
		member{"CaseAction", object{
			{"description", "An action on a request. The requested side's officers: Acknowledge, Start, Execute, ExecutePartially, Refuse, RequestClarification (Contest: service providers). The sender: Clarify (answers a question or a contest), Withdraw."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"action"}},
			{"properties", object{
				{"action", object{{"type", "string"}, {"enum", actionNames}}},
				{"reason", object{{"type", "string"}, {"maxLength", 4096}}},
				{"grounds", object{{"type", "array"}, {"minItems", 1}, {"uniqueItems", true}, {"items", object{{"type", "string"}, {"enum", groundNames}}}}},
				{"expectedState", object{{"$ref", "#/components/schemas/State"}, {"description", "Act only if the request is still in this state (else 409)."}}},
			}},
		}},
		member{"CaseUpdate", object{
			{"description", "A signed status update: the answer to an action, and the body of a push to the sender's gateway."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"update"}},
			{"properties", object{
				{"update", object{{"$ref", "#/components/schemas/CompactJWS"}, {"description", "JWS of type " + statusUpdateType + ": the transition, its digest and the custody entry's inclusion proof against the vault's signed checkpoint."}}},
				{"transition", ref("Transition")},
				{"delivered", object{{"description", "On an officer's action on a received request: whether the sender's gateway took the update now (it can also fetch it with the request's state)."}, {"type", "boolean"}}},
			}},
		}},
		member{"Case", object{
			{"description", "One request as this State's officers see it."},
			{"type", "object"},
			{"required", []string{"direction", "peer", "requestId", "type", "reference", "received", "state", "due", "overdue"}},
			{"properties", object{
				{"direction", object{{"type", "string"}, {"enum", []string{"inbound", "outbound"}}}},
				{"peer", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/party"}}},
				{"requestId", ref("RequestId")},
				{"peerRequestId", ref("RequestId")},
				{"type", object{{"type", "string"}, {"enum", typeNames}}},
				{"reference", object{{"type", "string"}, {"maxLength", 256}}},
				{"received", object{{"type", "string"}, {"format", "date-time"}}},
				{"state", ref("State")},
				{"due", object{{"description", "When the requested side must decide: the type's deadline from the receipt, plus the time the request waited on the sender."}, {"type", "string"}, {"format", "date-time"}}},
				{"overdue", object{{"type", "boolean"}}},
				{"transitions", object{{"type", "array"}, {"items", ref("Transition")}}},
				{"preservation", object{
					{"description", "A received preservation's hold: until 60 days after the request or its latest extension, and while an assistance request referring to it is open."},
					{"type", "object"},
					{"properties", object{
						{"until", object{{"type", "string"}, {"format", "date-time"}}},
						{"extensions", object{{"type", "array"}, {"items", ref("RequestId")}}},
						{"heldFor", object{{"type", "array"}, {"items", ref("RequestId")}}},
						{"held", object{{"type", "boolean"}}},
						{"why", object{{"type", "string"}}},
					}},
				}},
			}},
		}},
		member{"JointItem", object{
			{"description", "One evidence item shared for a joint investigation."},
			{"type", "object"},
			{"required", []string{"digest", "size"}},
			{"properties", object{
				{"digest", object{{"type", "string"}, {"pattern", "^sha256:[0-9a-f]{64}$"}}},
				{"size", object{{"type", "integer"}, {"minimum", 1}}},
				{"shared", object{{"type", "string"}, {"format", "date-time"}}},
				{"sequence", object{{"description", "The custody entry that recorded it, on sharing."}, {"type", "integer"}}},
			}},
		}},
		member{"JointItems", object{
			{"description", "What a State shares with the caller for a joint investigation."},
			{"type", "object"},
			{"required", []string{"caseId", "endDate", "items"}},
			{"properties", object{
				{"caseId", object{{"type", "string"}}},
				{"endDate", object{{"type", "string"}, {"format", "date-time"}}},
				{"items", object{{"type", "array"}, {"items", ref("JointItem")}}},
			}},
		}},
		member{"StatisticsReport", object{
			{"description", "Requests sent and received by type, partner and outcome, and response-time percentiles by type, over a period, from the custody records (articles 55 and 57). ?format=csv gives the same as one CSV table."},
			{"type", "object"},
			{"required", []string{"country", "from", "to", "generated", "totals", "counts", "responseTimes"}},
			{"properties", object{
				{"country", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/party"}, {"description", "The reporting State (a service provider's gateway: the provider)."}}},
				{"from", object{{"type", "string"}, {"format", "date-time"}}},
				{"to", object{{"type", "string"}, {"format", "date-time"}}},
				{"generated", object{{"type", "string"}, {"format", "date-time"}}},
				{"source", object{{"type", "string"}}},
				{"totals", object{{"type", "object"}}},
				{"counts", object{{"type", "array"}, {"items", object{{"type", "object"}}}}},
				{"responseTimes", object{{"type", "array"}, {"items", object{{"type", "object"}}}}},
			}},
		}},
		member{"TrustBundlePayload", object{
			{"description", "The payload of the trust bundle JWS: the CA certificates a gateway's peers should trust for it. The JWS is signed by a key the peers already trust, so a new CA is picked up without anyone copying files."},
			{"type", "object"}, {"additionalProperties", false},
			{"required", []string{"country", "bundle", "issued"}},
			{"properties", object{
				{"country", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/country"}, {"description", "The publishing State; a service provider's: the State it is established in."}}},
				{"provider", object{{"$ref", SchemaBaseURL + commonFile + "#/$defs/party"}, {"description", "The publishing service provider's identifier; absent for a State."}}},
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
		{"/v1/requests/{id}/transitions", object{{"post", object{
			{"operationId", "actOnRequest"},
			{"tags", []string{"peer"}},
			{"summary", "The sender answers a question (Clarify) or withdraws (Withdraw) one of its requests"},
			{"parameters", []any{pathParam("id", "The requestId from the receipt.", ref("RequestId"))}},
			{"requestBody", object{{"required", true}, {"content", jsonContent(ref("CaseAction"))}}},
			{"responses", object{
				{"201", response("Recorded in the vault; the signed status update.", ref("CaseUpdate"))},
				{"400", response("The action is not the sender's, or its reason is missing.", ref("Refusal"))},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No request with this identifier was sent by this peer.")},
				{"409", response("The request's state does not allow the action (it may have moved).", ref("Refusal"))},
			}},
		}}}},
		{"/v1/updates", object{{"post", object{
			{"operationId", "pushUpdate"},
			{"tags", []string{"peer"}},
			{"summary", "A peer hands over the status update it signed for a request this State sent"},
			{"description", "The update is verified against the channel's trust in the peer, checked to follow the updates held (a missing earlier one is fetched first) and kept in the vault."},
			{"requestBody", object{{"required", true}, {"content", jsonContent(ref("CaseUpdate"))}}},
			{"responses", object{
				{"201", response("Kept.", object{{"type", "object"}})},
				{"200", response("Held before (the same transition).", object{{"type", "object"}})},
				{"400", response("The update does not verify or does not follow the updates held.", ref("Refusal"))},
				{"404", problem("This State sent no request of that reference over this channel.")},
			}},
		}}}},
		{"/v1/cases", object{{"get", object{
			{"operationId", "listCases"},
			{"tags", []string{"officers"}},
			{"summary", "Every request in both directions, newest first (this State's officers)"},
			{"parameters", []any{
				object{{"name", "direction"}, {"in", "query"}, {"schema", object{{"type", "string"}, {"enum", []string{"inbound", "outbound"}}}}},
				object{{"name", "state"}, {"in", "query"}, {"schema", ref("State")}},
				object{{"name", "overdue"}, {"in", "query"}, {"schema", object{{"type", "boolean"}}}},
			}},
			{"responses", object{
				{"200", response("The requests, without their transitions.", object{{"type", "array"}, {"items", ref("Case")}})},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
			}},
		}}}},
		{"/v1/cases/{direction}/{peer}/{id}", object{{"get", object{
			{"operationId", "getCase"},
			{"tags", []string{"officers"}},
			{"summary", "One request with its transitions; a sent request's updates are fetched from the peer first"},
			{"parameters", caseParams},
			{"responses", object{
				{"200", response("The request.", ref("Case"))},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No such request.")},
			}},
		}}}},
		{"/v1/cases/{direction}/{peer}/{id}/transitions", object{{"post", object{
			{"operationId", "actOnCase"},
			{"tags", []string{"officers"}},
			{"summary", "Move a request: on a received one, the requested side's actions (the update is pushed to the sender); on a sent one, the sender's (forwarded to the peer)"},
			{"parameters", caseParams},
			{"requestBody", object{{"required", true}, {"content", jsonContent(ref("CaseAction"))}}},
			{"responses", object{
				{"201", response("Recorded and signed.", ref("CaseUpdate"))},
				{"400", response("The action, its reason or its grounds are wrong.", ref("Refusal"))},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No such request.")},
				{"409", response("The request's state does not allow the action, or it is not the expected state.", ref("Refusal"))},
				{"502", problem("The peer did not take the sender's action, or its update did not verify.")},
			}},
		}}}},
		{"/v1/cases-summary", object{{"get", object{
			{"operationId", "getCasesSummary"},
			{"tags", []string{"officers"}},
			{"summary", "The received requests not decided yet, and those overdue, by channel (the operator and officers)"},
			{"description", "As of the gateway's latest scan of its vault (every minute): what the operator reports in each CooperationChannel's status. Requests are named by id only."},
			{"responses", object{
				{"200", response("The counts.", object{
					{"type", "object"}, {"required", []string{"scanned", "channels"}},
					{"properties", object{
						{"scanned", object{{"type", "string"}, {"format", "date-time"}}},
						{"channels", object{{"type", "array"}, {"items", object{
							{"type", "object"}, {"required", []string{"channel", "peer", "open", "overdue"}},
							{"properties", object{
								{"channel", object{{"type", "string"}}},
								{"peer", object{{"type", "string"}}},
								{"open", object{{"type", "integer"}, {"minimum", 0}}},
								{"overdue", object{{"type", "integer"}, {"minimum", 0}}},
								{"overdueRequests", object{{"type", "array"}, {"maxItems", 20}, {"items", ref("RequestId")}}},
							}},
						}}}},
					}},
				})},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
			}},
		}}}},
		{"/v1/joint/{case}/evidence", object{
			{"post", object{
				{"operationId", "shareEvidence"},
				{"tags", []string{"officers"}},
				{"summary", "Mark an item for a joint investigation (article 48): its parties, and only they, may fetch it until the end date"},
				{"parameters", []any{jointCaseParam}},
				{"requestBody", object{{"required", true}, {"content", object{{"application/octet-stream", object{{"schema", object{{"type", "string"}, {"contentMediaType", "application/octet-stream"}}}}}}}}},
				{"responses", object{
					{"201", response("Recorded in the vault.", ref("JointItem"))},
					{"200", response("Shared before.", ref("JointItem"))},
					{"400", problem("The item is empty.")},
					{"403", response("Not an officer, or the joint investigation ended.", ref("Refusal"))},
					{"404", problem("No joint investigation of that case id.")},
					{"413", object{{"$ref", "#/components/responses/TooLarge"}}},
				}},
			}},
			{"get", object{
				{"operationId", "listJointEvidence"},
				{"tags", []string{"peer"}},
				{"summary", "What this State shares for a joint investigation (its parties only)"},
				{"parameters", []any{jointCaseParam}},
				{"responses", object{
					{"200", response("The items.", ref("JointItems"))},
					{"403", response("The joint investigation ended, or no channel is for the caller.", ref("Refusal"))},
					{"404", problem("No joint investigation of that case id with the caller.")},
				}},
			}},
		}},
		{"/v1/joint/{case}/evidence/{digest}", object{{"get", object{
			{"operationId", "fetchJointEvidence"},
			{"tags", []string{"peer"}},
			{"summary", "Fetch one shared item (its parties only); the fetch is a custody entry naming the party before any byte is sent"},
			{"parameters", []any{jointCaseParam, pathParam("digest", "The item's sha256 digest, hex (optionally prefixed sha256:).", object{{"type", "string"}, {"maxLength", 71}})}},
			{"responses", object{
				{"200", object{{"description", "The item."}, {"content", object{{"application/octet-stream", object{{"schema", object{{"type", "string"}}}}}}}}},
				{"403", response("The joint investigation ended, or no channel is for the caller.", ref("Refusal"))},
				{"404", problem("No such item shared with the caller.")},
			}},
		}}}},
		{"/v1/outbound/{channel}/joint/{case}/evidence", object{{"get", object{
			{"operationId", "listPartyEvidence"},
			{"tags", []string{"outbound"}},
			{"summary", "What a party shares for a joint investigation (this State's officers)"},
			{"parameters", []any{pathParam("channel", "Name of the CooperationChannel to the party.", object{{"type", "string"}, {"pattern", dnsLabel}, {"maxLength", 63}}), jointCaseParam}},
			{"responses", object{
				{"200", response("The party's items.", ref("JointItems"))},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No channel of that name, or the party shares no such case with this State.")},
				{"502", problem("The party could not be reached.")},
			}},
		}}}},
		{"/v1/outbound/{channel}/joint/{case}/evidence/{digest}", object{{"get", object{
			{"operationId", "fetchPartyEvidence"},
			{"tags", []string{"outbound"}},
			{"summary", "Fetch an item a party shares; it is checked against its digest and kept in this State's vault first"},
			{"parameters", []any{pathParam("channel", "Name of the CooperationChannel to the party.", object{{"type", "string"}, {"pattern", dnsLabel}, {"maxLength", 63}}), jointCaseParam,
				pathParam("digest", "The item's sha256 digest, hex.", object{{"type", "string"}, {"maxLength", 71}})}},
			{"responses", object{
				{"200", object{{"description", "The item."}, {"content", object{{"application/octet-stream", object{{"schema", object{{"type", "string"}}}}}}}}},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
				{"404", problem("No such item.")},
				{"502", problem("The party could not be reached, or answered content that does not match the digest.")},
			}},
		}}}},
		{"/v1/statistics", object{{"get", object{
			{"operationId", "getStatistics"},
			{"tags", []string{"officers"}},
			{"summary", "The statistics report a State hands to the Conference of the States Parties"},
			{"parameters", []any{
				object{{"name", "from"}, {"in", "query"}, {"description", "Start of the period (RFC 3339); default a year ago."}, {"schema", object{{"type", "string"}, {"format", "date-time"}}}},
				object{{"name", "to"}, {"in", "query"}, {"description", "End of the period, excluded (RFC 3339); default now."}, {"schema", object{{"type", "string"}, {"format", "date-time"}}}},
				object{{"name", "format"}, {"in", "query"}, {"schema", object{{"type", "string"}, {"enum", []string{"json", "csv"}}}}},
			}},
			{"responses", object{
				{"200", object{{"description", "The report."}, {"content", object{
					{"application/json", object{{"schema", ref("StatisticsReport")}}},
					{"text/csv", object{{"schema", object{{"type", "string"}}}}},
				}}}},
				{"400", problem("from or to is not an RFC 3339 time, or from is not before to.")},
				{"403", object{{"$ref", "#/components/responses/Refused"}}},
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
			object{{"name", "officers"}, {"description", "Called by this State's officers: requests as cases, their lifecycle, and the statistics report."}},
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
