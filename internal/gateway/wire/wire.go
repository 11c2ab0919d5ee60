// Package wire holds the JSON bodies of the gateway's API that both ends read: the
// gateway that answers and the peer gateway, officer tool or operator probe that
// calls. The request documents themselves are defined by the JSON Schemas in
// internal/gateway/requests.
package wire

import (
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
)

// Paths of the API.
const (
	PathRequests    = "/v1/requests"
	PathTrustBundle = "/v1/trust-bundle"
	PathOpenAPI     = "/v1/openapi.json"
	PathSchemas     = "/v1/schemas/"
	// PathOutbound is followed by the channel's name and "/requests".
	PathOutbound = "/v1/outbound/"
	// PathUpdates is where a peer pushes the status updates it signed for the
	// requests this State sent it.
	PathUpdates = "/v1/updates"
	// PathCases is the officers' view of the requests in both directions:
	// /v1/cases, /v1/cases/{direction}/{peer}/{id} and .../transitions.
	PathCases = "/v1/cases"
	// PathCasesSummary is the counts of received requests by channel, for the
	// operator (which reports them in each CooperationChannel's status) and officers.
	PathCasesSummary = "/v1/cases-summary"
	// PathJoint is followed by a joint investigation's case id and "/evidence":
	// officers share items (POST), parties list (GET) and fetch them (GET .../{digest}).
	PathJoint = "/v1/joint/"
	// PathStatistics is the officers' statistics report.
	PathStatistics = "/v1/statistics"
)

// MaxRequestBody bounds a request document; the largest realistic one (a mutual
// legal assistance request listing many accounts) is a few tens of kilobytes.
const MaxRequestBody = 256 << 10

// Accepted is the answer to an accepted request: 201 when it was recorded now, 200
// when the same request (same reference, same content) was recorded before.
type Accepted struct {
	// RequestID is the receiving gateway's identifier of the request.
	RequestID string `json:"requestId"`
	// Receipt is the compact JWS the receiving gateway signed (internal/gateway/receipt).
	Receipt string `json:"receipt"`
	// Verified is set on outbound answers: the sending gateway verified the peer's
	// receipt against its trust in the peer and stored request and receipt.
	Verified bool `json:"verified,omitempty"`
}

// Refusal is the body of every 4xx and 5xx answer.
type Refusal struct {
	// Error says what was wrong, for people.
	Error string `json:"error"`
	// Reason is one of the Reason constants, for programs.
	Reason string `json:"reason"`
	// Fields lists every bad field of a malformed request by JSON Pointer.
	Fields []requests.FieldError `json:"fields,omitempty"`
}

// Reasons of a Refusal.
const (
	// ReasonMalformedRequest (400): the document is not valid against its type's schema.
	ReasonMalformedRequest = "MalformedRequest"
	// ReasonRequestTooLarge (413): the body exceeds MaxRequestBody.
	ReasonRequestTooLarge = "RequestTooLarge"
	// ReasonIncompleteBody (400): the body ended before its declared length.
	ReasonIncompleteBody = "IncompleteBody"
	// ReasonRequestTypeNotPermitted (403): the channel does not permit the type.
	ReasonRequestTypeNotPermitted = "RequestTypeNotPermitted"
	// ReasonChannelSuspended (403): the channel is suspended.
	ReasonChannelSuspended = "ChannelSuspended"
	// ReasonNoChannel (403): the client certificate is trusted but no single channel
	// is for it (an officer calling the peer API, or two channels trusting one CA).
	ReasonNoChannel = "NoChannel"
	// ReasonNotAnOfficer (403): the outbound API is for the State's own officers.
	ReasonNotAnOfficer = "NotAnOfficer"
	// ReasonUnknownChannel (404): no channel of that name.
	ReasonUnknownChannel = "UnknownChannel"
	// ReasonReferenceReused (409): the sender's reference was used before for other content.
	ReasonReferenceReused = "ReferenceReused"
	// ReasonNotFound (404): no request of that id from this sender.
	ReasonNotFound = "NotFound"
	// ReasonTooManyRequests (429): the sender has too many requests in flight.
	ReasonTooManyRequests = "TooManyRequests"
	// ReasonVaultUnavailable (503): the request could not be made durable; nothing was
	// acknowledged. Retry with the same reference.
	ReasonVaultUnavailable = "VaultUnavailable"
	// ReasonPeerUnavailable (502): outbound, the peer could not be reached or answered
	// with a server error.
	ReasonPeerUnavailable = "PeerUnavailable"
	// ReasonPeerRefused (the peer's status): outbound, the peer refused the request;
	// its refusal is in Error.
	ReasonPeerRefused = "PeerRefused"
	// ReasonReceiptInvalid (502): outbound, the peer's receipt did not verify.
	ReasonReceiptInvalid = "ReceiptInvalid"
	// ReasonTransitionNotAllowed (409): the request's state does not allow the
	// action (it may have moved since it was read).
	ReasonTransitionNotAllowed = "TransitionNotAllowed"
	// ReasonInvalidTransition (400): the action, its reason or its grounds are wrong.
	ReasonInvalidTransition = "InvalidTransition"
	// ReasonJointInvestigationEnded (403): the joint investigation's end date passed.
	ReasonJointInvestigationEnded = "JointInvestigationEnded"
	// ReasonUpdateInvalid (400 to a pushing peer, 502 to an officer): a status
	// update did not verify or does not follow the updates held.
	ReasonUpdateInvalid = "UpdateInvalid"
	// ReasonProviderMode: a service provider's gateway answers the authorities'
	// orders; it sends none, and receives only the orders a provider receives.
	ReasonProviderMode = "ProviderMode"
)

// Reasons lists every reason a gateway gives: a gateway relays a peer's reason
// to its officers only if it is one of these.
var Reasons = []string{ReasonMalformedRequest, ReasonRequestTooLarge, ReasonIncompleteBody, ReasonRequestTypeNotPermitted,
	ReasonChannelSuspended, ReasonNoChannel, ReasonNotAnOfficer, ReasonUnknownChannel, ReasonReferenceReused, ReasonNotFound,
	ReasonTooManyRequests, ReasonVaultUnavailable, ReasonPeerUnavailable, ReasonPeerRefused, ReasonReceiptInvalid,
	ReasonTransitionNotAllowed, ReasonInvalidTransition, ReasonJointInvestigationEnded, ReasonUpdateInvalid, ReasonProviderMode}

// RequestState is the answer to GET /v1/requests/{id}.
type RequestState struct {
	RequestID string    `json:"requestId"`
	Type      string    `json:"type"`
	Reference string    `json:"reference"`
	Received  time.Time `json:"received"`
	// State is where the request stands (internal/gateway/cases).
	State   cases.State `json:"state"`
	Receipt string      `json:"receipt"`
	// Updates are the signed status updates of every transition, in order.
	Updates []string `json:"updates,omitempty"`
}

// CaseAction is the body of POST .../transitions: an action on a request
// (internal/gateway/cases), with its reason and, for a refusal, its grounds.
type CaseAction struct {
	Action  cases.Action   `json:"action"`
	Reason  string         `json:"reason,omitempty"`
	Grounds []cases.Ground `json:"grounds,omitempty"`
	// ExpectedState, if set, makes the action conditional: it is refused with
	// 409 if the request is no longer in that state (someone moved it since).
	ExpectedState cases.State `json:"expectedState,omitempty"`
}

// CaseUpdate carries one signed status update (a compact JWS of type
// receipt.TypeStatusUpdate): the answer to an action, and the body of a push.
type CaseUpdate struct {
	Update string `json:"update"`
	// Transition is the update's transition, decoded, for people and tools; the
	// signed update is what counts.
	Transition *cases.Transition `json:"transition,omitempty"`
	// Delivered is set on an officer's action: whether the sender's gateway took
	// the update (it can also fetch it later).
	Delivered *bool `json:"delivered,omitempty"`
}

// Case is one request as the officers see it.
type Case struct {
	Direction string `json:"direction"` // inbound or outbound
	Peer      string `json:"peer"`
	RequestID string `json:"requestId"`
	// PeerRequestID is the peer's id of an outbound request.
	PeerRequestID string             `json:"peerRequestId,omitempty"`
	Type          string             `json:"type"`
	Reference     string             `json:"reference"`
	Received      time.Time          `json:"received"`
	State         cases.State        `json:"state"`
	Due           time.Time          `json:"due"`
	Overdue       bool               `json:"overdue"`
	Transitions   []cases.Transition `json:"transitions,omitempty"`
	// Preservation is a Preservation request's hold.
	Preservation *cases.Preservation `json:"preservation,omitempty"`
}

// JointItem is one evidence item shared for a joint investigation.
type JointItem struct {
	// Digest is "sha256:<hex>" of the item.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Shared is when it was marked for the case.
	Shared time.Time `json:"shared,omitzero"`
	// Sequence is the custody entry that recorded it, on sharing.
	Sequence uint64 `json:"sequence,omitempty"`
}

// JointItems is what a party sees of a joint investigation.
type JointItems struct {
	CaseID  string      `json:"caseId"`
	EndDate time.Time   `json:"endDate"`
	Items   []JointItem `json:"items"`
}

// CasesSummary is the answer to GET /v1/cases-summary: the received requests not
// decided yet, by channel, as of the gateway's latest scan of its vault. It names
// requests by id only.
type CasesSummary struct {
	Scanned  time.Time        `json:"scanned"`
	Channels []ChannelSummary `json:"channels"`
	// Joint counts, per joint investigation, the items shared and the fetches by
	// each party (by country).
	Joint []JointSummary `json:"joint,omitempty"`
}

// JointSummary is what was shared for one joint investigation.
type JointSummary struct {
	CaseID  string           `json:"caseId"`
	Items   int32            `json:"items"`
	Fetched map[string]int32 `json:"fetched,omitempty"`
}

// ChannelSummary is one channel's open and overdue received requests.
type ChannelSummary struct {
	Channel string `json:"channel"`
	Peer    string `json:"peer"`
	Open    int32  `json:"open"`
	Overdue int32  `json:"overdue"`
	// OverdueRequests are the ids of the overdue requests, oldest due first, at
	// most MaxSummaryIDs.
	OverdueRequests []string `json:"overdueRequests,omitempty"`
}

// MaxSummaryIDs bounds the overdue request ids a channel's summary lists.
const MaxSummaryIDs = 20

// StateReceived: recorded in the vault and acknowledged with a receipt.
const StateReceived = cases.Received
