// Package wire holds the JSON bodies of the gateway's API that both ends read: the
// gateway that answers and the peer gateway, officer tool or operator probe that
// calls. The request documents themselves are defined by the JSON Schemas in
// internal/gateway/requests.
package wire

import (
	"time"

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
)

// RequestState is the answer to GET /v1/requests/{id}.
type RequestState struct {
	RequestID string    `json:"requestId"`
	Type      string    `json:"type"`
	Reference string    `json:"reference"`
	Received  time.Time `json:"received"`
	// State is Received for every request in this release.
	State   string `json:"state"`
	Receipt string `json:"receipt"`
}

// StateReceived: recorded in the vault and acknowledged with a receipt.
const StateReceived = "Received"
