package gateway

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfig(t *testing.T) {
	good := `{"country":"KE","authority":"Example","languages":["en"],"services":["Preservation"],"contacts":[{"name":"Duty","email":"d@example.org"}],"roster":{"timeZone":"Africa/Nairobi","shifts":[]}}`
	if cfg, err := LoadConfig(writeConfig(t, good)); err != nil || cfg.Country != "KE" {
		t.Fatalf("LoadConfig(good) = %+v, %v", cfg, err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"unknown field from a newer operator": {`{"country":"KE","surprise":1}`, `unknown field "surprise"`},
		"country not alpha-2":                 {`{"country":"KEN"}`, `country: "KEN" is not an ISO 3166-1 alpha-2 code`},
		"not JSON":                            {`country: KE`, "invalid character"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "gateway configuration") {
		t.Fatalf("missing file: error = %v", err)
	}
}

func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		gateway    *Server
		path       string
		wantStatus int
		wantBody   string
	}{
		{"alive without configuration", nil, "/healthz", http.StatusOK, "ok"},
		{"not ready without configuration", nil, "/readyz", http.StatusServiceUnavailable, "configuration not loaded"},
		{"ready with configuration, refusing requests without a vault", loadedServer(&Config{Country: "VN"}), "/readyz", http.StatusOK, "point of contact for VN; requests are refused: the FocalPoint has no EvidenceVault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := (&HealthServer{Gateway: tc.gateway, Log: logr.Discard()}).Handler()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tc.path, rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// loadedServer is a Server whose state holds cfg, as if its files had loaded.
func loadedServer(cfg *Config) *Server {
	s := &Server{}
	st := &state{cfg: cfg}
	st.loadVault("")
	s.current.Store(st)
	return s
}
