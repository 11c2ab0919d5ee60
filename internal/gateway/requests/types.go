package requests

import (
	"strings"
	"unicode"
)

// Type is a request type: the value of a request document's top-level "type"
// field. Each type has its own schema, schemas/v1/<kebab-name>.schema.json.
type Type string

const (
	// Preservation asks the requested State to preserve specified stored data at
	// once, pending a request for mutual legal assistance (arts. 25 and 42).
	Preservation Type = "Preservation"
	// TrafficDataDisclosure asks the State preserving traffic data to disclose
	// enough of it to identify the other providers and the path of a
	// communication (art. 43).
	TrafficDataDisclosure Type = "TrafficDataDisclosure"
	// StoredDataAccess asks the requested State to access, secure and disclose
	// stored data (art. 44). Intrusive: carries an authorisation.
	StoredDataAccess Type = "StoredDataAccess"
	// RealTimeTrafficData asks for real-time collection of traffic data
	// (art. 45). Intrusive: carries an authorisation.
	RealTimeTrafficData Type = "RealTimeTrafficData"
	// Interception asks for real-time collection of content data (art. 46).
	// Intrusive: carries an authorisation.
	Interception Type = "Interception"
	// SubscriberInformation asks for the subscriber information a provider
	// holds about identified accounts or addresses (art. 27 powers).
	SubscriberInformation Type = "SubscriberInformation"
	// MutualLegalAssistance is a request for mutual legal assistance through
	// the central authority (art. 40).
	MutualLegalAssistance Type = "MutualLegalAssistance"
	// EmergencyDisclosure asks for immediate disclosure of data when a
	// person's life or safety is at imminent risk.
	EmergencyDisclosure Type = "EmergencyDisclosure"
	// ContentRemoval asks for the removal of child sexual abuse material, of
	// material used to solicit a child, or of intimate images disseminated
	// without consent (arts. 14–16 and 34). It carries where the material is
	// and its hashes, never the material: its schema has no field that could
	// hold it.
	ContentRemoval Type = "ContentRemoval"
	// AssetTracing asks the requested State to identify and trace proceeds of
	// crime in bank accounts and at virtual-asset addresses (arts. 31 and 50).
	// Rests on a domestic order, which must not have ended.
	AssetTracing Type = "AssetTracing"
	// AssetFreezing asks the requested State to freeze assets, giving effect to
	// a freezing order of the requesting State (arts. 31 and 50). The order's
	// expiry is required and must not have passed.
	AssetFreezing Type = "AssetFreezing"
)

// Types lists every request type the gateway accepts, in the order they are
// documented. Adding a type means adding its constant here and its schema file.
var Types = []Type{
	Preservation,
	TrafficDataDisclosure,
	StoredDataAccess,
	RealTimeTrafficData,
	Interception,
	SubscriberInformation,
	MutualLegalAssistance,
	EmergencyDisclosure,
	ContentRemoval,
	AssetTracing,
	AssetFreezing,
}

// Intrusive reports whether requests of type t ask for an intrusive measure,
// which the convention's conditions and safeguards (art. 24) tie to a domestic
// authorisation: their schema requires "authorisation", and Parse refuses one
// that has expired.
func Intrusive(t Type) bool {
	switch t {
	case StoredDataAccess, RealTimeTrafficData, Interception:
		return true
	}
	return false
}

// restsOnOrder reports whether requests of type t rest on a domestic order
// (common.schema.json#/$defs/order) in their "order" field: Parse refuses one
// whose expiry has passed. AssetFreezing's schema also requires the expiry.
func restsOnOrder(t Type) bool { return t == AssetTracing || t == AssetFreezing }

// known reports whether t is one of Types.
func known(t Type) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// kebabName is the schema file's base name for t: RealTimeTrafficData is
// real-time-traffic-data.
func kebabName(t Type) string {
	var b strings.Builder
	for i, r := range string(t) {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
