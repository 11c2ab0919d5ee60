package compliance

import (
	"encoding/json"
	"slices"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
)

// GatewayRulesOfThisRelease is what this release's gateway enforces: the request
// types it treats as intrusive, and those whose JSON Schema (the single source of
// the gateway's validation) lists "authorisation" among a request's required members.
func GatewayRulesOfThisRelease() GatewayRules {
	return GatewayRules{
		Intrusive:             func(t v1.RequestType) bool { return requests.Intrusive(requests.Type(t)) },
		AuthorisationRequired: func(t v1.RequestType) bool { return schemaRequiresAuthorisation(requests.Type(t)) },
	}
}

func schemaRequiresAuthorisation(t requests.Type) bool {
	raw, ok := requests.Schema(t)
	if !ok {
		return false
	}
	var schema struct {
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		return false
	}
	return slices.Contains(schema.Required, "authorisation")
}
