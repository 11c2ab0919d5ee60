package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"time"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
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
	// ChannelsDir holds the FocalPoint's channels, aggregated from its
	// CooperationChannels into one Secret so that N channels are one file update the
	// gateway reloads, not N pod rollouts: ChannelsFile, and for each channel
	// <name>.crt and <name>.key (its client certificate towards the peer) and
	// <name>.trust.pem (the peer's CAs).
	ChannelsDir = "/etc/cybercoop/channels"
	// ChannelsFile is the channel list's name in ChannelsDir.
	ChannelsFile = "channels.json"
	// VaultClientDir holds the gateway's client certificate for its evidence vault
	// (tls.crt, tls.key, ca.crt).
	VaultClientDir = "/etc/cybercoop/vault-client"
)

// ConfigPath is the configuration file's path in the gateway's container.
var ConfigPath = path.Join(ConfigDir, ConfigFile)

// Config is the configuration file the operator writes into the gateway's ConfigMap.
// It mirrors the FocalPoint's spec; unknown fields are rejected when it is read, so
// a version mismatch between operator and gateway is loud.
type Config struct {
	Country string `json:"country"`
	// Provider, when set, runs the gateway in provider mode: it is a service
	// provider's endpoint (articles 25 to 27), known to the authorities by
	// Provider.ID; Country is then the State it is established in.
	Provider  *Provider                             `json:"provider,omitempty"`
	Authority string                                `json:"authority"`
	Languages []cybercoopv1alpha1.LanguageTag       `json:"languages"`
	Services  []cybercoopv1alpha1.AssistanceService `json:"services"`
	Contacts  []cybercoopv1alpha1.Contact           `json:"contacts"`
	Roster    cybercoopv1alpha1.Roster              `json:"roster"`
	// Vault is where accepted requests are recorded; nil while the FocalPoint has no
	// EvidenceVault, and then the gateway accepts no request (nothing is acknowledged
	// that is not durable).
	Vault *VaultEndpoint `json:"vault,omitempty"`
	// OfficerIdentity is the URI SAN that marks a certificate from the State's own CA
	// as a local officer's, who may send requests out over a channel.
	OfficerIdentity string `json:"officerIdentity,omitempty"`
	// OperatorIdentity is the URI SAN that marks a certificate from the State's own
	// CA as the operator's, which may read the summary of the cases (counts by
	// channel, overdue request ids; no content) for the channels' status.
	OperatorIdentity string `json:"operatorIdentity,omitempty"`
}

// Provider is a service provider's identity in provider mode.
type Provider struct {
	// ID is the identifier authorities' channels name (spec.peer.provider).
	ID string `json:"id"`
	// Name is the provider's legal name.
	Name string `json:"name"`
}

// Self is this gateway's party to a request: the State's alpha-2 code, or the
// provider's identifier in provider mode.
func (c *Config) Self() string {
	if c.Provider != nil {
		return c.Provider.ID
	}
	return c.Country
}

// VaultEndpoint locates the evidence vault the gateway records requests in.
type VaultEndpoint struct {
	// URL is the vault API's base URL, https://host:port.
	URL string `json:"url"`
	// ServerName is the name on the vault's serving certificate.
	ServerName string `json:"serverName"`
}

// Channels is the content of ChannelsFile.
type Channels struct {
	Channels []Channel `json:"channels"`
	// JointInvestigations are the FocalPoint's joint investigations (article 48):
	// the evidence officers mark for one is served to its parties, and only them,
	// until its end date.
	JointInvestigations []JointInvestigation `json:"jointInvestigations,omitempty"`
}

// JointInvestigation is one JointInvestigation as the gateway needs it.
type JointInvestigation struct {
	// CaseID is the case identifier (spec.caseId).
	CaseID string `json:"caseId"`
	// Agreement is recorded with every item shared.
	Agreement string `json:"agreement"`
	// Parties are the names of the channels to the other States.
	Parties []string `json:"parties"`
	// EndDate ends the sharing.
	EndDate time.Time `json:"endDate"`
}

// Channel is one CooperationChannel as the gateway needs it.
type Channel struct {
	// Name is the CooperationChannel's name; the files of the channel in ChannelsDir
	// are named after it.
	Name string `json:"name"`
	// Country is the peer State's ISO 3166-1 alpha-2 code; empty for a channel to a
	// service provider.
	Country string `json:"country,omitempty"`
	// Provider is the peer service provider's identifier; empty for a channel to a
	// State. Exactly one of Country and Provider is set.
	Provider string `json:"provider,omitempty"`
	// Endpoint is the peer gateway's base URL.
	Endpoint string `json:"endpoint"`
	// ServerName is the name the peer's serving certificate must carry.
	ServerName string `json:"serverName"`
	// RequestTypes are the request types the peer may send.
	RequestTypes []string `json:"requestTypes"`
	// LegalBasis is recorded with every request over the channel.
	LegalBasis string `json:"legalBasis"`
	// OnwardTransfer is the channel's onward-transfer rule (article 36).
	OnwardTransfer string `json:"onwardTransfer"`
	// RetentionDays is how long a received request is kept.
	RetentionDays int32 `json:"retentionDays"`
	// Languages the peer may write in.
	Languages []string `json:"languages,omitempty"`
	// Suspended channels pass no request.
	Suspended bool `json:"suspended,omitempty"`
	// ClientURIs, if set, are the URI SANs a peer's client certificate must carry
	// one of; empty admits any client certificate of the peer's CAs.
	ClientURIs []string `json:"clientURIs,omitempty"`
	// Deadlines are the channel's own deadlines by request type (Go durations,
	// e.g. "4h"); a type not listed takes cases.DefaultDeadlines.
	Deadlines map[string]string `json:"deadlines,omitempty"`
}

// Peer is the channel's peer as a party to its requests: the State's alpha-2
// code or the service provider's identifier.
func (c Channel) Peer() string {
	if c.Provider != "" {
		return c.Provider
	}
	return c.Country
}

// deadlines are the channel's deadlines by request type, the defaults filled in
// by cases.Deadlines.For. A value that does not parse (the CRD validates them)
// is left to the default.
func (c Channel) deadlines() cases.Deadlines {
	d := cases.Deadlines{}
	for t, v := range c.Deadlines {
		if dur, err := time.ParseDuration(v); err == nil && dur > 0 {
			d[t] = dur
		}
	}
	return d
}

// ClientCertFile, ClientKeyFile and TrustFile name a channel's files in ChannelsDir.
func (c Channel) ClientCertFile() string { return c.Name + ".crt" }

// ClientKeyFile is the channel's client key file in ChannelsDir.
func (c Channel) ClientKeyFile() string { return c.Name + ".key" }

// TrustFile is the peer's CA bundle file in ChannelsDir.
func (c Channel) TrustFile() string { return c.Name + ".trust.pem" }

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
	if !receipt.IsCountry(cfg.Country) {
		return nil, fmt.Errorf("gateway configuration %s: country: %q is not an ISO 3166-1 alpha-2 code", path, cfg.Country)
	}
	if cfg.Provider != nil && !receipt.IsProvider(cfg.Provider.ID) {
		return nil, fmt.Errorf("gateway configuration %s: provider.id: %q is not a lower-case DNS label of 3 to 63 characters", path, cfg.Provider.ID)
	}
	return &cfg, nil
}

// Names of the objects a CooperationChannel's reconciler writes and the FocalPoint's
// reads to aggregate the channels file; both sides use these.
const (
	// FocalPointLabel on a channel's client Secret names the FocalPoint whose
	// gateway uses it, so its controller is told of changes.
	FocalPointLabel = "cybercoop.io/focalpoint"
	// PeerTrustKey is the key, in a channel's client Secret, of the PEM bundle of
	// the peer CAs the channel trusts: those of spec.peer.trustBundle and those
	// learned from the peer's signed trust bundle. (ca.crt there is this State's
	// own trust bundle, as in every leaf Secret.)
	PeerTrustKey = "peer-ca.crt"
	// LegacyTrustKey is the key of the PEM bundle in a channel's trust ConfigMap
	// (ChannelTrustConfigMapName), where releases before the peer's CAs moved into
	// the client Secret kept them.
	LegacyTrustKey = "ca.crt"
)

// ChannelClientSecretName is the kubernetes.io/tls Secret holding a channel's client
// certificate towards its peer, issued from the FocalPoint's national CA, and the
// peer CAs the channel trusts (PeerTrustKey).
func ChannelClientSecretName(channel string) string { return channel + "-client" }

// ChannelTrustConfigMapName is the ConfigMap in which earlier releases kept the
// peer CAs a channel trusts (LegacyTrustKey). A channel reads it until its client
// Secret holds them, then deletes it; the FocalPoint reads it for a channel whose
// Secret does not hold them yet, so an upgrade drops no channel from the gateway.
func ChannelTrustConfigMapName(channel string) string { return channel + "-peer-trust" }
