package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CountryCode is an officially assigned ISO 3166-1 alpha-2 country code in upper case.
// The list is checked against golang.org/x/text's region data in a unit test.
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=2
// +kubebuilder:validation:XValidation:rule="self in ['AD','AE','AF','AG','AI','AL','AM','AO','AQ','AR','AS','AT','AU','AW','AX','AZ','BA','BB','BD','BE','BF','BG','BH','BI','BJ','BL','BM','BN','BO','BQ','BR','BS','BT','BV','BW','BY','BZ','CA','CC','CD','CF','CG','CH','CI','CK','CL','CM','CN','CO','CR','CU','CV','CW','CX','CY','CZ','DE','DJ','DK','DM','DO','DZ','EC','EE','EG','EH','ER','ES','ET','FI','FJ','FK','FM','FO','FR','GA','GB','GD','GE','GF','GG','GH','GI','GL','GM','GN','GP','GQ','GR','GS','GT','GU','GW','GY','HK','HM','HN','HR','HT','HU','ID','IE','IL','IM','IN','IO','IQ','IR','IS','IT','JE','JM','JO','JP','KE','KG','KH','KI','KM','KN','KP','KR','KW','KY','KZ','LA','LB','LC','LI','LK','LR','LS','LT','LU','LV','LY','MA','MC','MD','ME','MF','MG','MH','MK','ML','MM','MN','MO','MP','MQ','MR','MS','MT','MU','MV','MW','MX','MY','MZ','NA','NC','NE','NF','NG','NI','NL','NO','NP','NR','NU','NZ','OM','PA','PE','PF','PG','PH','PK','PL','PM','PN','PR','PS','PT','PW','PY','QA','RE','RO','RS','RU','RW','SA','SB','SC','SD','SE','SG','SH','SI','SJ','SK','SL','SM','SN','SO','SR','SS','ST','SV','SX','SY','SZ','TC','TD','TF','TG','TH','TJ','TK','TL','TM','TN','TO','TR','TT','TV','TW','TZ','UA','UG','UM','US','UY','UZ','VA','VC','VE','VG','VI','VN','VU','WF','WS','YE','YT','ZA','ZM','ZW']",message="must be an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR"
type CountryCode string

// ProviderID identifies a service provider's gateway: a lower-case DNS label of 3
// to 63 characters, e.g. "example-mail". Being lower case and longer than two
// characters, it never reads as a country code.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a lower-case DNS label of 3 to 63 characters (letters, digits, '-'), e.g. example-mail"
type ProviderID string

// ServiceProviderSpec makes a FocalPoint a service provider's endpoint instead of
// a State's point of contact.
type ServiceProviderSpec struct {
	// id is the identifier the provider's gateway publishes and authorities' channels
	// name in spec.peer.provider. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="serviceProvider.id is immutable; create a new FocalPoint instead"
	ID ProviderID `json:"id,omitempty"`
	// name is the provider's legal name, shown to the authorities it answers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name,omitempty"`
}

// LanguageTag is a BCP 47 language tag such as "en", "fr" or "pt-BR".
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=35
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$')",message="must be a BCP 47 language tag: a 2- or 3-letter language subtag optionally followed by subtags, e.g. en, fr or pt-BR"
type LanguageTag string

// TimeOfDay is a wall-clock time "HH:MM" from 00:00 to 24:00 in the roster's time zone.
// "24:00" is only meaningful as a shift end and means the end of the day.
// +kubebuilder:validation:MinLength=5
// +kubebuilder:validation:MaxLength=5
// +kubebuilder:validation:XValidation:rule="self.matches('^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$')",message="must be a time of day HH:MM between 00:00 and 24:00"
type TimeOfDay string

// AssistanceService is a kind of immediate assistance the point of contact offers
// (UN Convention against Cybercrime, article 41).
// +kubebuilder:validation:Enum=TechnicalAdvice;Preservation;EvidenceCollection;LegalInformation;LocatingSuspects;EmergencyDisclosure
type AssistanceService string

const (
	// ServiceTechnicalAdvice is the provision of technical advice to a peer point of contact.
	ServiceTechnicalAdvice AssistanceService = "TechnicalAdvice"
	// ServicePreservation is the expedited preservation of stored electronic data.
	ServicePreservation AssistanceService = "Preservation"
	// ServiceEvidenceCollection is the collection of electronic evidence.
	ServiceEvidenceCollection AssistanceService = "EvidenceCollection"
	// ServiceLegalInformation is the provision of legal information.
	ServiceLegalInformation AssistanceService = "LegalInformation"
	// ServiceLocatingSuspects is help in locating suspects.
	ServiceLocatingSuspects AssistanceService = "LocatingSuspects"
	// ServiceEmergencyDisclosure is the expedited disclosure of data in an emergency.
	ServiceEmergencyDisclosure AssistanceService = "EmergencyDisclosure"
)

// Weekday is a day of the week in English, as Go's time.Weekday prints it.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type Weekday string

// Contact is a way to reach the point of contact. At least one of email and phone is set.
// +kubebuilder:validation:XValidation:rule="has(self.email) || has(self.phone)",message="a contact needs at least one of email or phone"
type Contact struct {
	// name is the person or desk this contact reaches, e.g. "Duty officer".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// email is an e-mail address monitored around the clock.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@ ]+@[^@ ]+[.][^@ ]+$')",message="must be an e-mail address such as duty@cyber.example.gov"
	Email string `json:"email,omitempty"`

	// phone is a telephone number in E.164 form, e.g. "+254700000000".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^[+][1-9][0-9]{6,14}$')",message="must be a telephone number in E.164 form: + then 7 to 15 digits, e.g. +254700000000"
	Phone string `json:"phone,omitempty"`
}

// Shift is a recurring on-call period. A shift whose end is not after its start
// crosses midnight and ends on the following day.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="start and end must differ: a shift from a time to the same time covers nothing (use 00:00 to 24:00 for a whole day)"
// +kubebuilder:validation:XValidation:rule="self.start != '24:00'",message="start must be a time of day from 00:00 to 23:59; 24:00 is only valid as an end"
type Shift struct {
	// days are the weekdays on which the shift starts.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days,omitempty"`

	// start is the local time the shift begins, "HH:MM".
	// +required
	Start TimeOfDay `json:"start,omitempty"`

	// end is the local time the shift ends, "HH:MM" up to "24:00". When it is not
	// after start, the shift ends on the next day.
	// +required
	End TimeOfDay `json:"end,omitempty"`

	// onCall names who is on call during the shift (a person, team or desk).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	OnCall string `json:"onCall,omitempty"`
}

// Roster is the on-call schedule that makes the point of contact reachable 24/7.
type Roster struct {
	// timeZone is the IANA time zone the shifts are written in, e.g. "Africa/Nairobi"
	// or "Europe/Paris". Coverage is computed in this zone, daylight-saving changes included.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+){1,2})$')",message="must be an IANA time zone name such as UTC, Africa/Nairobi or America/Argentina/Buenos_Aires"
	TimeZone string `json:"timeZone,omitempty"`

	// shifts are the recurring on-call periods. Overlaps are allowed.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Shifts []Shift `json:"shifts,omitempty"`
}

// GatewayServiceType is how the gateway's Service is exposed.
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
type GatewayServiceType string

const (
	// GatewayServiceClusterIP exposes the gateway inside the cluster only (an ingress or mesh fronts it).
	GatewayServiceClusterIP GatewayServiceType = "ClusterIP"
	// GatewayServiceNodePort exposes the gateway on every node's port.
	GatewayServiceNodePort GatewayServiceType = "NodePort"
	// GatewayServiceLoadBalancer asks the cloud or bare-metal load balancer for an address.
	GatewayServiceLoadBalancer GatewayServiceType = "LoadBalancer"
)

// GatewaySpec configures the 24/7 intake service's workload.
type GatewaySpec struct {
	// replicas is the number of gateway pods. Default 2, so one can be disrupted
	// (a PodDisruptionBudget is created from 2 replicas up).
	// +optional
	// +default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Replicas *int32 `json:"replicas,omitempty"`

	// image overrides the gateway container image. Default: the operator's own image.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// resources are the gateway container's compute requests and limits.
	// Default: requests 50m CPU and 64Mi memory, limit 256Mi memory.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// serviceType is how the gateway's Service is exposed. Default ClusterIP.
	// +optional
	// +default="ClusterIP"
	ServiceType GatewayServiceType `json:"serviceType,omitempty"`

	// externalNames are the DNS names peer States reach the gateway by (the name in
	// their CooperationChannel's peer.endpoint or peer.serverName), added to the
	// serving certificate beside the in-cluster names. A change re-issues the
	// certificate.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="gateway.externalNames must be lower-case DNS names"
	ExternalNames []string `json:"externalNames,omitempty"`
}

// CARotationPolicy says what happens when the CA certificate is due for renewal.
// +kubebuilder:validation:Enum=RenewCertificate;ReplaceKey
type CARotationPolicy string

const (
	// CARotationRenewCertificate re-signs the CA certificate with the same key, so every
	// issued leaf stays valid and peers that pinned the key keep trusting it.
	CARotationRenewCertificate CARotationPolicy = "RenewCertificate"
	// CARotationReplaceKey replaces the CA key through a phased rollout: the old and the
	// new CA are published in the trust bundle, every consumer loads it, leaves are
	// re-issued from the new CA, and only then is the old CA removed.
	CARotationReplaceKey CARotationPolicy = "ReplaceKey"
)

// IssuerKind is the kind of cert-manager issuer an IssuerReference names.
// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
type IssuerKind string

const (
	// IssuerKindIssuer is a namespaced cert-manager Issuer in the FocalPoint's namespace.
	IssuerKindIssuer IssuerKind = "Issuer"
	// IssuerKindClusterIssuer is a cluster-wide cert-manager ClusterIssuer.
	IssuerKindClusterIssuer IssuerKind = "ClusterIssuer"
)

// IssuerReference names the cert-manager issuer that issues the FocalPoint's certificates.
type IssuerReference struct {
	// name is the name of the Issuer (in the FocalPoint's namespace) or ClusterIssuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// kind is Issuer (namespaced, the default) or ClusterIssuer.
	// +optional
	// +default="Issuer"
	Kind IssuerKind `json:"kind,omitempty"`

	// group is the API group of the issuer. Default cert-manager.io; another group names
	// an external issuer whose kinds are also Issuer and ClusterIssuer.
	// +optional
	// +default="cert-manager.io"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// CertificatesSpec sets the lifetimes and keys of the certificates the operator issues
// from the FocalPoint's national CA, or has cert-manager issue (issuerRef).
// +kubebuilder:validation:XValidation:rule="!has(self.issuerRef) || !has(self.caRotationPolicy) || self.caRotationPolicy == 'RenewCertificate'",message="caRotationPolicy ReplaceKey applies to the operator's own CA and cannot be combined with issuerRef: the issuer's CA is rotated by whoever runs it"
// +kubebuilder:validation:XValidation:rule="!has(self.issuerRef) || (!has(self.caDuration) && !has(self.caRenewBefore))",message="caDuration and caRenewBefore apply to the operator's own CA and cannot be combined with issuerRef: the issuer's CA lifetime is set where the issuer is configured"
// +kubebuilder:validation:XValidation:rule="!has(self.caRenewBefore) || duration(self.caRenewBefore) < (has(self.caDuration) ? duration(self.caDuration) : duration('43800h'))",message="caRenewBefore must be shorter than caDuration (default 43800h)"
type CertificatesSpec struct {
	// The lifetime of the leaf certificates issued for the FocalPoint (leafDuration,
	// leafRenewBefore), as every kind that holds leaves declares it.
	LeafCertificateSpec `json:",inline"`

	// caDuration is the lifetime of the CA certificate. Default 43800h (5 years). A change
	// applies at the next CA renewal; leaves never outlive the CA certificate that issued them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h') && duration(self) <= duration('175200h')",message="caDuration must be between 24h and 175200h (20 years)"
	CADuration *metav1.Duration `json:"caDuration,omitempty"`

	// caRenewBefore is how long before expiry the CA certificate is renewed (or its key
	// replaced, see caRotationPolicy). Default 4320h (180 days), so a failed renewal
	// leaves months to notice.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="caRenewBefore must be at least 1h"
	CARenewBefore *metav1.Duration `json:"caRenewBefore,omitempty"`

	// keyAlgorithm is the algorithm of the CA and leaf keys. Default ECDSAP256. Changing it
	// replaces the CA key through the phased rollout and re-issues every leaf.
	// +optional
	// +default="ECDSAP256"
	KeyAlgorithm KeyAlgorithm `json:"keyAlgorithm,omitempty"`

	// caRotationPolicy says what happens when the CA certificate is due for renewal:
	// RenewCertificate (the default) re-signs it with the same key; ReplaceKey rolls out a
	// new key in phases without a moment in which a consumer distrusts a served certificate.
	// A key replacement can also be requested once with the annotation
	// cybercoop.io/force-replace-ca=<token>.
	// +optional
	// +default="RenewCertificate"
	CARotationPolicy CARotationPolicy `json:"caRotationPolicy,omitempty"`

	// caDeletionPolicy says what deleting the FocalPoint does to its national CA:
	// Retain (the default) keeps the CA Secret and the trust bundle Secret, detached, so
	// a FocalPoint created again under the same name (a helm uninstall and install, a
	// restore) adopts them and every peer still trusts it; Delete lets them go with the
	// FocalPoint, and peers must be given the new CA.
	// +optional
	// +default="Retain"
	CADeletionPolicy DeletionPolicy `json:"caDeletionPolicy,omitempty"`

	// issuerRef hands issuance to cert-manager: instead of running its own CA, the
	// operator creates a cert-manager Certificate per leaf certificate (private key
	// rotated at every issuance), issued by this Issuer or ClusterIssuer, and builds the
	// trust bundle from the ca.crt cert-manager writes into the issued Secret (an issuer
	// that leaves ca.crt empty, such as ACME, cannot be used: consumers could not
	// verify the gateway). leafDuration, leafRenewBefore and keyAlgorithm apply to the
	// Certificates. Requires cert-manager to be installed when the operator starts.
	// Immutable: switching between the operator's CA and an issuer, or between issuers,
	// changes the CA every peer trusts; create a new FocalPoint instead.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="certificates.issuerRef is immutable: a different issuer means a different CA that peers do not trust yet; create a new FocalPoint instead"
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`
}

// FocalPointSpec declares a State Party's 24/7 point of contact.
// +kubebuilder:validation:XValidation:rule="(has(self.certificates) && has(self.certificates.issuerRef)) == (has(oldSelf.certificates) && has(oldSelf.certificates.issuerRef))",message="certificates.issuerRef cannot be added or removed after creation: switching between the operator's CA and cert-manager changes the CA every peer trusts; create a new FocalPoint instead"
// +kubebuilder:validation:XValidation:rule="has(self.serviceProvider) == has(oldSelf.serviceProvider)",message="serviceProvider cannot be added or removed after creation: a State's point of contact and a service provider's endpoint answer different requests; create a new FocalPoint instead"
type FocalPointSpec struct {
	// country is the State Party's ISO 3166-1 alpha-2 code, e.g. "KE". Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="country is immutable; create a new FocalPoint instead"
	Country CountryCode `json:"country,omitempty"`

	// serviceProvider makes this FocalPoint, when set, a service provider's endpoint
	// (articles 25 to 27) rather than a State's point of contact: its gateway runs in
	// provider mode, receives only the orders a provider receives (Preservation,
	// TrafficDataDisclosure, StoredDataAccess, SubscriberInformation, ContentRemoval)
	// from the authorities its CooperationChannels name, sends none, and may contest an
	// order (unclear, overbroad, improper, conflict of laws) instead of refusing it.
	// country is then the State the provider is established in. Cannot be added or
	// removed after creation.
	// +optional
	ServiceProvider *ServiceProviderSpec `json:"serviceProvider,omitempty"`

	// authority is the name of the body designated as the point of contact.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Authority string `json:"authority,omitempty"`

	// contacts are how peers and officers reach the point of contact.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Contacts []Contact `json:"contacts,omitempty"`

	// languages are the languages requests are accepted in, as BCP 47 tags.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Languages []LanguageTag `json:"languages,omitempty"`

	// services are the kinds of immediate assistance offered.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=6
	Services []AssistanceService `json:"services,omitempty"`

	// roster is the on-call schedule; status.coverage reports how much of the week it covers.
	// +required
	Roster Roster `json:"roster,omitzero"`

	// gateway configures the intake service's pods and Service.
	// +optional
	// +default={}
	Gateway GatewaySpec `json:"gateway,omitempty"`

	// certificates sets certificate lifetimes, the key algorithm and the CA rotation policy,
	// or hands issuance to cert-manager (certificates.issuerRef). Every field is optional,
	// so it may be omitted.
	// +optional
	Certificates *CertificatesSpec `json:"certificates,omitempty"`
}

// CoverageGap is a period of the week during which nobody is on call.
type CoverageGap struct {
	// start is the first uncovered instant, RFC 3339 with the roster zone's offset.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Start string `json:"start,omitempty"`
	// end is the instant coverage resumes, RFC 3339 with the roster zone's offset.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	End string `json:"end,omitempty"`
	// minutes is the gap's length in real elapsed minutes; shifts and time-zone offsets
	// are whole minutes, so a gap lasts at least one.
	// +required
	// +kubebuilder:validation:Minimum=1
	Minutes int32 `json:"minutes,omitempty"`
}

// RosterCoverage reports how much of the current week the roster covers.
type RosterCoverage struct {
	// weekStart is the start of the week measured (Monday 00:00 in the roster's zone), RFC 3339.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	WeekStart string `json:"weekStart,omitempty"`
	// weekMinutes is the week's real length in minutes (less or more than 10080 in a
	// week with a daylight-saving change).
	// +required
	// +kubebuilder:validation:Minimum=1
	WeekMinutes int32 `json:"weekMinutes,omitempty"`
	// coveredMinutes is how many of those minutes have someone on call; 0 when no shift
	// falls in the week.
	// +required
	CoveredMinutes int32 `json:"coveredMinutes"`
	// hoursPerWeek is coveredMinutes in hours, e.g. "168", "151.5" or "0".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16
	HoursPerWeek string `json:"hoursPerWeek,omitempty"`
	// gaps are the uncovered periods in time order, at most 50 listed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Gaps []CoverageGap `json:"gaps,omitempty"`
}

// CertificatesStatus reports the FocalPoint's CA, the certificates issued from it and
// the trust bundle.
type CertificatesStatus struct {
	// ca is the national CA's current certificate.
	// +optional
	CA *CertificateStatus `json:"ca,omitempty"`
	// gatewayServing is the gateway's serving certificate.
	// +optional
	GatewayServing *CertificateStatus `json:"gatewayServing,omitempty"`
	// gatewayVaultClient is the gateway's client certificate for its evidence vault.
	// +optional
	GatewayVaultClient *CertificateStatus `json:"gatewayVaultClient,omitempty"`
	// officer is the local officers' credential (Secret <name>-officer): a client
	// certificate the gateway's outbound API admits, for the 24/7 desk.
	// +optional
	Officer *CertificateStatus `json:"officer,omitempty"`
	// operatorClient is the operator's credential for the gateway's cases summary
	// (Secret <name>-gateway-operator-client), from which it counts each
	// channel's open and overdue requests.
	// +optional
	OperatorClient *CertificateStatus `json:"operatorClient,omitempty"`
	// trustBundle is the set of CA certificates consumers trust.
	// +optional
	TrustBundle *TrustBundleStatus `json:"trustBundle,omitempty"`
	// rotation is the state of a CA key replacement.
	// +optional
	Rotation *CARotationStatus `json:"rotation,omitempty"`
}

// FocalPointStatus reports whether the point of contact is operating.
type FocalPointStatus struct {
	// conditions are Ready, Available, CertificateReady and CoverageComplete.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the status was computed from.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// coverage is the roster's coverage of the current week.
	// +optional
	Coverage *RosterCoverage `json:"coverage,omitempty"`

	// endpoint is the gateway's in-cluster address.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint,omitempty"`

	// gatewayReplicas is "available/desired" gateway pods, e.g. "2/2".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	GatewayReplicas string `json:"gatewayReplicas,omitempty"`

	// certificates reports the national CA, the issued certificates and the trust bundle.
	// +optional
	Certificates *CertificatesStatus `json:"certificates,omitempty"`
}

// FocalPoint is a State Party's 24/7 point of contact (article 41): the designated
// authority, its contacts and on-call roster, and the gateway service peers call.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fp,categories=cybercoop
// +kubebuilder:printcolumn:name="Country",type=string,JSONPath=".spec.country"
// +kubebuilder:printcolumn:name="Coverage",type=string,JSONPath=".status.coverage.hoursPerWeek",description="Hours per week someone is on call"
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=".status.gatewayReplicas",priority=1
// +kubebuilder:printcolumn:name="Certificates",type=string,JSONPath=".status.conditions[?(@.type==\"CertificateReady\")].status",priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type FocalPoint struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the point of contact.
	// +required
	Spec FocalPointSpec `json:"spec,omitzero"`

	// status is written by the operator.
	// +optional
	Status FocalPointStatus `json:"status,omitempty"`
}

// FocalPointList is a list of FocalPoints.
// +kubebuilder:object:root=true
type FocalPointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FocalPoint `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FocalPoint{}, &FocalPointList{})
}

// Party is the FocalPoint's identifier on the wire: its State's country code, or
// the service provider's identifier when it is a provider's endpoint.
func (s FocalPointSpec) Party() string {
	if s.ServiceProvider != nil {
		return string(s.ServiceProvider.ID)
	}
	return string(s.Country)
}
