package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
)

// TestOpenAPIMatchesTheRoutes: every operation the OpenAPI document describes is a
// route of the gateway, and every route is described.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(requests.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	mux := (&Server{}).Handler().(*http.ServeMux)
	var described []string
	for path, ops := range doc.Paths {
		for method := range ops {
			concrete := strings.NewReplacer("{id}", "rq-"+strings.Repeat("0", 32), "{channel}", "to-fr", "{name}", "common.schema.json",
				"{direction}", "inbound", "{peer}", "FR", "{case}", "JIT-1", "{digest}", strings.Repeat("a", 64)).Replace(path)
			r := httptest.NewRequest(strings.ToUpper(method), concrete, nil)
			_, pattern := mux.Handler(r)
			if pattern == "" {
				t.Errorf("%s %s is described but not served", strings.ToUpper(method), path)
			}
			described = append(described, pattern)
		}
	}
	for _, route := range []string{"POST /v1/requests", "GET /v1/requests/{id}", "GET /v1/trust-bundle", "GET /v1/openapi.json",
		"GET /v1/schemas/{name}", "POST /v1/outbound/{channel}/requests", "POST /v1/requests/{id}/transitions", "POST /v1/updates",
		"GET /v1/cases", "GET /v1/cases/{direction}/{peer}/{id}", "POST /v1/cases/{direction}/{peer}/{id}/transitions", "GET /v1/statistics", "GET /v1/cases-summary", "POST /v1/joint/{case}/evidence", "GET /v1/joint/{case}/evidence",
		"GET /v1/joint/{case}/evidence/{digest}", "GET /v1/outbound/{channel}/joint/{case}/evidence", "GET /v1/outbound/{channel}/joint/{case}/evidence/{digest}"} {
		if route != "GET /v1/openapi.json" && !slices.Contains(described, route) {
			t.Errorf("%s is served but not described", route)
		}
	}
	if !strings.Contains(string(requests.OpenAPI()), receipt.TypeStatusUpdate) {
		t.Errorf("the document does not name the status update's JWS type %s", receipt.TypeStatusUpdate)
	}
}
