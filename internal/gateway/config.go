package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// The contract between the operator, which writes the gateway's configuration and
// mounts its Secrets, and the gateway, which reads them. Both sides use these
// definitions, so they cannot drift apart.
const (
	// HTTPSPort is the container port of the gateway's mutual-TLS API.
	HTTPSPort = 8443
	// HealthPort is the container port of the health and readiness probes.
	HealthPort = 8081
	// ServicePort is the port peers connect to on the gateway's Service.
	ServicePort = 443

	// ConfigDir holds the configuration file, mounted from the gateway's ConfigMap.
	ConfigDir = "/etc/cybercoop/gateway"
	// ConfigFile is the configuration file's name in ConfigDir and the ConfigMap's key.
	ConfigFile = "config.json"
	// TLSDir holds the serving Secret's tls.crt, tls.key and ca.crt. The kubelet
	// updates the files in place when the Secret changes; the gateway reloads them
	// without a restart (internal/reload), so a renewal never rolls the pods.
	TLSDir = "/etc/cybercoop/tls"
	// TrustDir holds the trust bundle's ca.crt.
	TrustDir = "/etc/cybercoop/trust"
)

// ConfigPath is the configuration file's path in the gateway's container.
var ConfigPath = path.Join(ConfigDir, ConfigFile)

// Config is the configuration file the operator writes into the gateway's ConfigMap.
// It mirrors the FocalPoint's spec; unknown fields are rejected when it is read, so
// a version mismatch between operator and gateway is loud.
type Config struct {
	Country   string                                `json:"country"`
	Authority string                                `json:"authority"`
	Languages []cybercoopv1alpha1.LanguageTag       `json:"languages"`
	Services  []cybercoopv1alpha1.AssistanceService `json:"services"`
	Contacts  []cybercoopv1alpha1.Contact           `json:"contacts"`
	Roster    cybercoopv1alpha1.Roster              `json:"roster"`
}

// LoadConfig reads and checks the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway configuration: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("gateway configuration %s: %w", path, err)
	}
	if len(cfg.Country) != 2 {
		return nil, fmt.Errorf("gateway configuration %s: country: %q is not an ISO 3166-1 alpha-2 code", path, cfg.Country)
	}
	return &cfg, nil
}
