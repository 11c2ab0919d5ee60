package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequestType is a kind of request a peer State may send over a channel. Each has its
// own versioned JSON Schema in the gateway (GET /v1/schemas/{name}); more types are
// added as the convention's other forms of cooperation are built.
// +kubebuilder:validation:Enum=Preservation;TrafficDataDisclosure;StoredDataAccess;RealTimeTrafficData;Interception;SubscriberInformation;MutualLegalAssistance;EmergencyDisclosure;ContentRemoval;AssetTracing;AssetFreezing
type RequestType string

const (
	// RequestPreservation is expedited preservation of stored electronic data (articles
	// 25 and 42), modelled on the Council of Europe T-CY template for such requests.
	RequestPreservation RequestType = "Preservation"
	// RequestTrafficDataDisclosure is expedited disclosure of preserved traffic data
	// (article 43).
	RequestTrafficDataDisclosure RequestType = "TrafficDataDisclosure"
	// RequestStoredDataAccess is access to stored electronic data (article 44). Intrusive:
	// a request must carry an authorisation reference and expiry (article 24).
	RequestStoredDataAccess RequestType = "StoredDataAccess"
	// RequestRealTimeTrafficData is real-time collection of traffic data (article 45).
	// Intrusive: a request must carry an authorisation reference and expiry.
	RequestRealTimeTrafficData RequestType = "RealTimeTrafficData"
	// RequestInterception is interception of content data (article 46). Intrusive: a
	// request must carry an authorisation reference and expiry.
	RequestInterception RequestType = "Interception"
	// RequestSubscriberInformation is the production of subscriber information.
	RequestSubscriberInformation RequestType = "SubscriberInformation"
	// RequestMutualLegalAssistance is a formal mutual legal assistance request (article 40).
	RequestMutualLegalAssistance RequestType = "MutualLegalAssistance"
	// RequestEmergencyDisclosure is expedited disclosure in an emergency where a life is
	// at risk.
	RequestEmergencyDisclosure RequestType = "EmergencyDisclosure"
	// RequestContentRemoval is the removal of child sexual abuse material or of intimate
	// images disseminated without consent (articles 14 to 16 and 34). A request carries
	// where the material is and its hashes, never the material itself.
	RequestContentRemoval RequestType = "ContentRemoval"
	// RequestAssetTracing is the tracing of proceeds of crime in bank accounts and at
	// virtual-asset addresses (articles 31 and 50), under a domestic order in force.
	RequestAssetTracing RequestType = "AssetTracing"
	// RequestAssetFreezing is the freezing of such assets (articles 31 and 50): a request
	// must carry the freezing order's reference and an expiry that has not passed.
	RequestAssetFreezing RequestType = "AssetFreezing"
)

// OnwardTransfer says whether data received over a channel may be passed on to a third
// State or international organisation (article 36).
// +kubebuilder:validation:Enum=Prohibited;RequiresAuthorization
type OnwardTransfer string

const (
	// OnwardTransferProhibited forbids passing the data on.
	OnwardTransferProhibited OnwardTransfer = "Prohibited"
	// OnwardTransferRequiresAuthorization allows it only with the transmitting State's
	// prior written authorisation.
	OnwardTransferRequiresAuthorization OnwardTransfer = "RequiresAuthorization"
)

// SecretKeyReference names one key of a Secret in the channel's namespace.
type SecretKeyReference struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// key is the key in the Secret's data. Default "ca.crt".
	// +optional
	// +default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="must be a Secret data key: letters, digits, '-', '_' or '.'"
	Key string `json:"key,omitempty"`
}

// PeerTrustBundle is the peer State's national CA certificates, as the peer published
// them out of band for the first contact. Later CAs are learned from the peer's signed
// trust bundle (status.peer.trustedCAs).
// +kubebuilder:validation:XValidation:rule="has(self.pem) != has(self.secretRef)",message="trustBundle needs exactly one of pem or secretRef"
// +kubebuilder:validation:MinProperties=1
type PeerTrustBundle struct {
	// pem is one or more PEM-encoded CA certificates.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	// +kubebuilder:validation:XValidation:rule="self.contains('-----BEGIN CERTIFICATE-----')",message="trustBundle.pem must hold PEM-encoded certificates (-----BEGIN CERTIFICATE-----)"
	PEM string `json:"pem,omitempty"`
	// secretRef names a Secret key holding the PEM-encoded CA certificates.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
}

// PeerSpec describes the peer's point of contact: another State's, or a service
// provider's (articles 25 to 27: the domestic orders to preserve, to produce
// subscriber information or stored data, and to remove content).
// +kubebuilder:validation:XValidation:rule="has(self.country) != has(self.provider)",message="peer needs exactly one of country (a State) or provider (a service provider)"
// +kubebuilder:validation:XValidation:rule="has(self.country) == has(oldSelf.country)",message="a channel to a State cannot become a channel to a service provider, nor the reverse: create another channel"
type PeerSpec struct {
	// country is the peer State, an ISO 3166-1 alpha-2 code. Immutable: a channel to
	// another State is another channel. Exactly one of country and provider is set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="peer.country is immutable: create another channel for another State"
	Country CountryCode `json:"country,omitempty"`
	// provider is the service provider at the other end, by the identifier its gateway
	// publishes (spec.serviceProvider.id of its FocalPoint), e.g. "example-mail". A
	// channel to a provider carries only the orders a provider receives: Preservation,
	// TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and
	// ContentRemoval. Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="peer.provider is immutable: create another channel for another provider"
	Provider ProviderID `json:"provider,omitempty"`
	// endpoint is the peer gateway's base URL, https only, e.g. https://gateway.fr.example:443.
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="peer.endpoint must be an https URL with a host, e.g. https://gateway.fr.example"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@') && !self.contains('?') && !self.contains('#')",message="peer.endpoint must not carry user information, a query or a fragment"
	Endpoint string `json:"endpoint,omitempty"`
	// serverName is the DNS name the peer's serving certificate must carry. Default: the
	// endpoint's host.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="peer.serverName must be a lower-case DNS name"
	ServerName string `json:"serverName,omitempty"`
	// trustBundle is the peer's national CA certificates, inline or from a Secret.
	// +required
	TrustBundle PeerTrustBundle `json:"trustBundle,omitzero"`

	// clientURIs pins the peer gateway: if set, the peer API admits only client certificates from the
	// peer's CAs that carry one of these URI SANs, e.g. the peer gateway's channel
	// identity spiffe://cybercoop.io/ns/cybercoop-fr/cooperationchannel/to-ke.
	// Default: any client certificate the peer's CAs issued speaks for the peer,
	// its officers' included.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:XValidation:rule="isURL(self) && !self.contains(' ')",message="peer.clientURIs must be absolute URIs"
	ClientURIs []string `json:"clientURIs,omitempty"`
}

// DataProtectionSpec is the data-protection terms the data exchanged over the channel
// is received under (article 36).
type DataProtectionSpec struct {
	// legalBasis cites the treaty, agreement or law the exchange relies on, e.g. "UNCC
	// art. 40-42; bilateral MoU 2027". Recorded with every request in the custody log.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	LegalBasis string `json:"legalBasis,omitempty"`
	// onwardTransfer says whether received data may be passed on. Default Prohibited.
	// +optional
	// +default="Prohibited"
	OnwardTransfer OnwardTransfer `json:"onwardTransfer,omitempty"`
	// retentionDays is how long a received request is kept, in days. Default 365. At
	// least 60: a preservation request must outlive the 60 days it asks for.
	// +optional
	// +default=365
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=36500
	RetentionDays int32 `json:"retentionDays,omitempty"`
}

// RequestDeadline is how long this State has to decide requests of one type.
type RequestDeadline struct {
	// type is the request type.
	// +required
	Type RequestType `json:"type,omitempty"`

	// within is the time to decide, from 15m to 8760h (365 days), e.g. 4h or 720h.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('15m') && duration(self) <= duration('8760h')",message="deadlines[].within must be between 15m and 8760h (365 days)"
	Within *metav1.Duration `json:"within,omitempty"`
}

// ProbeSpec sets how the operator checks the peer.
type ProbeSpec struct {
	// interval is how often the operator opens a mutual-TLS connection to the peer and
	// fetches its signed trust bundle. Default 5m. Each channel is probed at its own
	// point of the interval, set by its UID, so channels created together, or whose
	// certificates were renewed together, do not probe their peers all at once: after
	// the probe at its creation, a channel's next probe comes between half an
	// interval and one and a half later, then once an interval. A channel whose spec,
	// trusted peer CAs or client certificate change is probed at once.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="probe.interval must be between 10s and 24h"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// CooperationChannelSpec declares a channel to one peer State or service provider.
// +kubebuilder:validation:XValidation:rule="!has(self.peer.provider) || self.requestTypes.all(t, t in ['Preservation', 'TrafficDataDisclosure', 'StoredDataAccess', 'SubscriberInformation', 'ContentRemoval'])",message="requestTypes: a channel to a service provider carries only Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval (articles 25 to 27 and 34)"
type CooperationChannelSpec struct {
	// focalPointRef names the FocalPoint (same namespace) whose gateway serves this
	// channel and whose national CA issues the channel's client certificate. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="focalPointRef is immutable: the channel's certificate comes from that FocalPoint's CA"
	FocalPointRef FocalPointReference `json:"focalPointRef,omitzero"`

	// peer is the State or service provider at the other end.
	// +required
	Peer PeerSpec `json:"peer,omitzero"`

	// requestTypes are the request types the peer may send over this channel (towards
	// a service provider: the types this side may send it). Intrusive
	// types (StoredDataAccess, RealTimeTrafficData, Interception) are accepted only with
	// an authorisation reference and expiry in the request, AssetFreezing only with its
	// freezing order's reference and an expiry that has not passed.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	RequestTypes []RequestType `json:"requestTypes,omitempty"`

	// dataProtection is the terms received data is held under.
	// +required
	DataProtection DataProtectionSpec `json:"dataProtection,omitzero"`

	// languages are the languages requests over this channel may be written in.
	// Default: the FocalPoint's languages.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Languages []LanguageTag `json:"languages,omitempty"`

	// suspend stops the gateway from accepting or sending requests over this channel
	// (handshakes from the peer still succeed, requests are refused with reason
	// ChannelSuspended). The certificate and trust are still maintained. Default false.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// probe sets how the operator checks the peer.
	// +optional
	Probe *ProbeSpec `json:"probe,omitempty"`

	// deadlines set, per request type, how long this State has to decide a request
	// the peer sends over this channel, counted from its receipt; the clock stops
	// while the request waits on the sender (a clarification request or a contest).
	// Types not listed keep the defaults: EmergencyDisclosure 8h; Preservation,
	// ContentRemoval and AssetFreezing 72h; TrafficDataDisclosure 5 days;
	// SubscriberInformation, AssetTracing, RealTimeTrafficData and Interception 30
	// days; StoredDataAccess 60 days; MutualLegalAssistance 90 days. The gateway
	// counts overdue requests in its metrics and logs each one.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Deadlines []RequestDeadline `json:"deadlines,omitempty"`

	// certificates sets the lifetime of the channel's client certificate.
	// +optional
	Certificates *LeafCertificateSpec `json:"certificates,omitempty"`
}

// TrustedCA is one of the peer's CA certificates the channel trusts.
type TrustedCA struct {
	// subject is the CA certificate's subject.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject,omitempty"`
	// sha256Fingerprint is the SHA-256 of the certificate's DER form, as colon-separated
	// upper-case hex.
	// +required
	// +kubebuilder:validation:MinLength=95
	// +kubebuilder:validation:MaxLength=95
	SHA256Fingerprint string `json:"sha256Fingerprint,omitempty"`
	// notAfter is the end of the certificate's validity.
	// +required
	NotAfter metav1.Time `json:"notAfter,omitzero"`
	// source says where the CA came from: Spec (spec.peer.trustBundle) or Published
	// (the peer's signed trust bundle, verified against a CA already trusted).
	// +required
	// +kubebuilder:validation:Enum=Spec;Published
	Source string `json:"source,omitempty"`
	// since is when the channel started to trust this CA.
	// +required
	Since metav1.Time `json:"since,omitzero"`
}

// PeerStatus is what the operator saw of the peer. It changes when what was seen
// changes, not at every probe.
type PeerStatus struct {
	// trustedCAs are the peer CA certificates the gateway accepts the peer's clients by
	// and checks the peer's server by.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TrustedCAs []TrustedCA `json:"trustedCAs,omitempty"`
	// certificateNotAfter is the end of the validity of the certificate the peer served
	// at the last successful handshake (a change is a new handshakeTime).
	// +optional
	CertificateNotAfter *metav1.Time `json:"certificateNotAfter,omitempty"`
	// handshakeTime is the time of the probe's mutual-TLS handshake that confirmed
	// what status reports of the peer: the first successful probe after the peer was
	// unreachable or not yet probed, or after the channel's spec, the peer CAs it
	// trusts, its client certificate or what the peer presents changed. Later probes
	// that find the same leave it, so a healthy channel's status does not change with
	// every probe; the time of the latest probe and of the latest successful handshake
	// are the metrics cybercoop_channel_last_probe_timestamp_seconds and
	// cybercoop_channel_last_handshake_timestamp_seconds. While PeerReachable is False
	// it is when the peer was last confirmed reachable.
	// +optional
	HandshakeTime *metav1.Time `json:"handshakeTime,omitempty"`
	// handshakeRoundTripMilliseconds is the time the probe at handshakeTime took:
	// connection, handshake and the trust-bundle request. The round trip of every
	// probe is the histogram cybercoop_channel_probe_round_trip_seconds.
	// +optional
	// +kubebuilder:validation:Minimum=0
	HandshakeRoundTripMilliseconds *int64 `json:"handshakeRoundTripMilliseconds,omitempty"`
	// acceptsCAs are the SHA-256 fingerprints of this State's CAs the peer was seen to
	// accept: a probe handshake with a client certificate from that CA succeeded. A CA
	// key replacement switches to the new CA only once every channel lists it here.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:MinLength=95
	// +kubebuilder:validation:items:MaxLength=95
	AcceptsCAs []string `json:"acceptsCAs,omitempty"`
}

// CooperationChannelCertificatesStatus reports the channel's certificate.
type CooperationChannelCertificatesStatus struct {
	// client is the certificate the gateway presents to the peer.
	// +optional
	Client *CertificateStatus `json:"client,omitempty"`
}

// CooperationChannelStatus is the observed state of the channel.
type CooperationChannelStatus struct {
	// conditions are Ready, PeerTrusted, PeerReachable and CertificateReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation fully reconciled.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// peer is what the operator last saw of the peer.
	// +optional
	Peer *PeerStatus `json:"peer,omitempty"`

	// certificates reports the channel's client certificate.
	// +optional
	Certificates *CooperationChannelCertificatesStatus `json:"certificates,omitempty"`

	// requests counts the requests the peer sent over this channel that this State
	// has not decided yet, and those past their deadline (spec.deadlines), as the
	// gateway's latest scan of its evidence vault reported at the last probe.
	// +optional
	Requests *ChannelRequestsStatus `json:"requests,omitempty"`
}

// ChannelRequestsStatus counts a channel's undecided received requests.
type ChannelRequestsStatus struct {
	// open is the number of requests received and not decided yet.
	// +required
	// +kubebuilder:validation:Minimum=0
	Open *int32 `json:"open,omitempty"`
	// overdue is the number of open requests past their deadline.
	// +required
	// +kubebuilder:validation:Minimum=0
	Overdue *int32 `json:"overdue,omitempty"`
	// overdueRequests are the gateway's ids of overdue requests, earliest due
	// first, at most 20 (cybercoop cases show inbound/<peer>/<id>).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	OverdueRequests []string `json:"overdueRequests,omitempty"`
}

// CooperationChannel is a secure channel to one peer State's point of contact
// (articles 40-42): which request types the peer may send, under which data-protection
// terms, and the certificates and trust that carry them.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cc,categories=cybercoop
// +kubebuilder:printcolumn:name="Peer",type=string,JSONPath=".spec.peer.country"
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=".spec.peer.provider",priority=1
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=".spec.requestTypes"
// +kubebuilder:printcolumn:name="Reachable",type=string,JSONPath=".status.conditions[?(@.type==\"PeerReachable\")].status"
// +kubebuilder:printcolumn:name="Handshake ms",type=integer,JSONPath=".status.peer.handshakeRoundTripMilliseconds",priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type CooperationChannel struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the channel.
	// +required
	Spec CooperationChannelSpec `json:"spec,omitzero"`

	// status is written by the operator.
	// +optional
	Status CooperationChannelStatus `json:"status,omitempty"`
}

// CooperationChannelList is a list of CooperationChannels.
// +kubebuilder:object:root=true
type CooperationChannelList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the CooperationChannels.
	Items []CooperationChannel `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CooperationChannel{}, &CooperationChannelList{})
}

// Party is the peer's identifier on the wire: the country code of a State, the
// provider identifier of a service provider.
func (p PeerSpec) Party() string {
	if p.Provider != "" {
		return string(p.Provider)
	}
	return string(p.Country)
}

// ProviderRequestTypes are the request types a service provider receives: the
// domestic orders of articles 25 to 27, and the removal of content (article 34).
var ProviderRequestTypes = []RequestType{RequestPreservation, RequestTrafficDataDisclosure, RequestStoredDataAccess, RequestSubscriberInformation, RequestContentRemoval}
