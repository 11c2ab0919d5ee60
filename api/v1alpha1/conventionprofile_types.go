package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PointOfContactPlacement says where the 24/7 point of contact sits relative to the
// central authority for mutual legal assistance (article 41).
// +kubebuilder:validation:Enum=PartOfCentralAuthority;Separate
type PointOfContactPlacement string

const (
	// PointOfContactPartOfCentralAuthority: the 24/7 point of contact belongs to the
	// central authority, so the two coordinate within one body.
	PointOfContactPartOfCentralAuthority PointOfContactPlacement = "PartOfCentralAuthority"
	// PointOfContactSeparate: the point of contact is another body, which must be able
	// to coordinate with the central authority on an expedited basis; the profile says how.
	PointOfContactSeparate PointOfContactPlacement = "Separate"
)

// CentralAuthority is the authority designated to send, receive and execute requests
// for mutual legal assistance (article 40), and how the 24/7 point of contact works
// with it (article 41).
// +kubebuilder:validation:XValidation:rule="self.pointOfContact != 'Separate' || has(self.coordination)",message="centralAuthority.coordination is required when pointOfContact is Separate: say how the 24/7 point of contact coordinates with the central authority on an expedited basis (article 41)"
type CentralAuthority struct {
	// name is the designated authority, e.g. "Office of the Attorney General, International
	// Cooperation Unit".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name,omitempty"`

	// contact is how peer States' central authorities reach it.
	// +required
	Contact Contact `json:"contact,omitzero"`

	// languages are the languages the central authority accepts requests in, as BCP 47
	// tags (article 40 lets each State declare them).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Languages []LanguageTag `json:"languages,omitempty"`

	// pointOfContact says whether the 24/7 point of contact is part of the central
	// authority (PartOfCentralAuthority) or another body (Separate).
	// +required
	PointOfContact PointOfContactPlacement `json:"pointOfContact,omitempty"`

	// coordination says how a Separate point of contact coordinates with the central
	// authority on an expedited basis, e.g. "duty officer calls the unit's on-call
	// prosecutor; shared case register". Required when pointOfContact is Separate.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Coordination string `json:"coordination,omitempty"`
}

// ArticleStatement is a reservation or declaration the State Party made on one
// article of the convention, as free text.
type ArticleStatement struct {
	// article is the convention article (UN numbering) the statement is about, with its
	// paragraph and subparagraph if any, e.g. "41", "42(4)" or "40(8)(b)".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^[1-9][0-9]?(\\\\([1-9][0-9]?\\\\))?(\\\\([a-z]\\\\))?$')",message="must be an article of the convention, optionally with paragraph and subparagraph, e.g. 41, 42(4) or 40(8)(b)"
	Article string `json:"article,omitempty"`

	// text is the statement as deposited or as the State words it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Text string `json:"text,omitempty"`
}

// ConventionProfileSpec is a State Party's declarations under the convention.
type ConventionProfileSpec struct {
	// country is the State Party, an ISO 3166-1 alpha-2 code. The report looks at the
	// FocalPoints of this country in the namespace. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="country is immutable; create a new ConventionProfile instead"
	Country CountryCode `json:"country,omitempty"`

	// centralAuthority is the authority for mutual legal assistance and how the 24/7
	// point of contact coordinates with it.
	// +required
	CentralAuthority CentralAuthority `json:"centralAuthority,omitzero"`

	// acceptedRequestTypes are the request types the State accepts from peer States.
	// Every CooperationChannel in the namespace may permit only these (control
	// request-types-accepted).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	AcceptedRequestTypes []RequestType `json:"acceptedRequestTypes,omitempty"`

	// reservations are the reservations the State made, each on one article.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Reservations []ArticleStatement `json:"reservations,omitempty"`

	// declarations are the declarations and notifications the State made, each on one
	// article.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Declarations []ArticleStatement `json:"declarations,omitempty"`
}

// ControlResult is the outcome of one compliance control.
// +kubebuilder:validation:Enum=Pass;Fail;Unknown
type ControlResult string

const (
	// ControlPass: the resources looked at meet the obligation.
	ControlPass ControlResult = "Pass"
	// ControlFail: they do not; the reason and message say what is missing.
	ControlFail ControlResult = "Fail"
	// ControlUnknown: the operator cannot tell yet (nothing observed so far, or the
	// feature that would show it does not exist yet); the message says why.
	ControlUnknown ControlResult = "Unknown"
)

// ArticleReference names the convention article a control checks, with its Budapest
// Convention equivalent.
type ArticleReference struct {
	// un is the article (or articles) of the UN Convention against Cybercrime, e.g. "41"
	// or "25, 42".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	UN string `json:"un,omitempty"`

	// budapest is the equivalent in the Budapest Convention (or its Second Additional
	// Protocol), e.g. "35" or "2nd Protocol 14"; "-" when there is none.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Budapest string `json:"budapest,omitempty"`
}

// ControlResource is one resource a control looked at.
type ControlResource struct {
	// kind is the resource's kind, e.g. FocalPoint or Deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`

	// name is the resource's name in the profile's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// ComplianceControl is the result of checking one obligation.
type ComplianceControl struct {
	// id names the control, e.g. roster-24x7; stable across releases.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id,omitempty"`

	// description says what the control checks.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`

	// article is the obligation's article in the UN convention and its Budapest
	// Convention equivalent.
	// +required
	Article ArticleReference `json:"article,omitzero"`

	// result is Pass, Fail or Unknown.
	// +required
	Result ControlResult `json:"result,omitempty"`

	// reason is a CamelCase word for the result, e.g. CoverageGaps.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// message says what was found, for people.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`

	// resources are the resources the control looked at, at most 256 listed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Resources []ControlResource `json:"resources,omitempty"`

	// lastTransitionTime is when the result last changed: a recomputation with the same
	// result keeps it.
	// +required
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitzero"`
}

// ComplianceSummary counts the controls by result.
type ComplianceSummary struct {
	// total is the number of controls.
	// +required
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total"`
	// pass is the number of controls that passed.
	// +required
	// +kubebuilder:validation:Minimum=0
	Pass int32 `json:"pass"`
	// fail is the number of controls that failed.
	// +required
	// +kubebuilder:validation:Minimum=0
	Fail int32 `json:"fail"`
	// unknown is the number of controls whose result is unknown.
	// +required
	// +kubebuilder:validation:Minimum=0
	Unknown int32 `json:"unknown"`
}

// ConventionProfileStatus is the compliance report.
type ConventionProfileStatus struct {
	// conditions are Ready (the report is computed from the namespace's current
	// resources) and Compliant (every control passes).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the report was computed from.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// controls are the per-obligation results, in a fixed order.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Controls []ComplianceControl `json:"controls,omitempty"`

	// summary counts the controls by result.
	// +optional
	Summary *ComplianceSummary `json:"summary,omitempty"`

	// lastChangeTime is when the report last changed: a control's result, reason,
	// message or resources. The report is recomputed whenever an input changes; one that
	// comes out the same is not written again, so Ready's observedGeneration and this
	// time together say how current it is.
	// +optional
	LastChangeTime *metav1.Time `json:"lastChangeTime,omitempty"`
}

// ConventionProfile is a State Party's declarations under the convention (central
// authority, accepted request types, reservations and declarations); its status is
// the article-by-article compliance report, computed from the namespace's
// FocalPoints, EvidenceVaults and CooperationChannels.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=profile,categories=cybercoop
// +kubebuilder:printcolumn:name="Country",type=string,JSONPath=".spec.country"
// +kubebuilder:printcolumn:name="Pass",type=integer,JSONPath=".status.summary.pass"
// +kubebuilder:printcolumn:name="Fail",type=integer,JSONPath=".status.summary.fail"
// +kubebuilder:printcolumn:name="Unknown",type=integer,JSONPath=".status.summary.unknown"
// +kubebuilder:printcolumn:name="Compliant",type=string,JSONPath=".status.conditions[?(@.type==\"Compliant\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Compliant\")].reason",priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type ConventionProfile struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the State Party's declarations.
	// +required
	Spec ConventionProfileSpec `json:"spec,omitzero"`

	// status is the compliance report, written by the operator.
	// +optional
	Status ConventionProfileStatus `json:"status,omitempty"`
}

// ConventionProfileList is a list of ConventionProfiles.
// +kubebuilder:object:root=true
type ConventionProfileList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the ConventionProfiles.
	Items []ConventionProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ConventionProfile{}, &ConventionProfileList{})
}
