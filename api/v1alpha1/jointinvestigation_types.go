package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JointInvestigationParty is one of the other States of a joint investigation,
// named by this State's CooperationChannel to it.
type JointInvestigationParty struct {
	// channel is the name of the CooperationChannel (same namespace) to the party.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Channel string `json:"channel,omitempty"`
}

// JointInvestigationSpec declares a joint investigation (article 48): the case
// identifier requests and evidence carry, the agreement, and the States taking part.
type JointInvestigationSpec struct {
	// focalPointRef names the FocalPoint (same namespace) whose gateway shares this
	// State's evidence marked for the case with the other parties. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="focalPointRef is immutable"
	FocalPointRef FocalPointReference `json:"focalPointRef,omitzero"`

	// caseId is the case identifier every party uses for the investigation: upper-case
	// letters, digits and hyphens, 3 to 64 characters, e.g. JIT-2026-RANSOM-01. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Z0-9][A-Z0-9-]*[A-Z0-9]$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="caseId is immutable: requests and evidence already carry it"
	CaseID string `json:"caseId,omitempty"`

	// agreement identifies the agreement or arrangement that set up the joint
	// investigation (article 48), e.g. its title and date.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Agreement string `json:"agreement,omitempty"`

	// purpose is what the parties investigate together.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Purpose string `json:"purpose,omitempty"`

	// parties are the other States taking part, by this State's channel to each.
	// Evidence this State marks for the case can be fetched by them, and only by
	// them, through their channels.
	// +required
	// +listType=map
	// +listMapKey=channel
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Parties []JointInvestigationParty `json:"parties,omitempty"`

	// endDate is when the joint investigation ends: from then on no party can fetch
	// evidence shared for it.
	// +required
	EndDate *metav1.Time `json:"endDate,omitempty"`
}

// JointInvestigationPartyStatus is one party as the operator sees it.
type JointInvestigationPartyStatus struct {
	// channel is the party's CooperationChannel.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Channel string `json:"channel,omitempty"`
	// country is the party's country, from its channel; absent when the channel does
	// not exist.
	// +optional
	Country CountryCode `json:"country,omitempty"`
	// reachable is the channel's PeerReachable status: True, False or Unknown.
	// +optional
	// +kubebuilder:validation:Enum=True;False;Unknown
	Reachable metav1.ConditionStatus `json:"reachable,omitempty"`
	// fetched counts the times the party fetched evidence shared for the case, as
	// the gateway's custody records say.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Fetched *int32 `json:"fetched,omitempty"`
}

// JointInvestigationStatus reports the parties and what was shared.
type JointInvestigationStatus struct {
	// conditions are Ready (every party's channel exists and the gateway shares the
	// case) and Active (before endDate).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the last generation reconciled.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// parties are the parties, in spec order.
	// +optional
	// +listType=map
	// +listMapKey=channel
	// +kubebuilder:validation:MaxItems=32
	Parties []JointInvestigationPartyStatus `json:"parties,omitempty"`

	// sharedItems counts the evidence items this State marked for the case.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SharedItems *int32 `json:"sharedItems,omitempty"`
}

// JointInvestigation is a joint investigation with other States (article 48): a
// case identifier, the agreement, and the evidence shared with exactly its parties.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ji,categories=cybercoop
// +kubebuilder:printcolumn:name="Case",type=string,JSONPath=".spec.caseId"
// +kubebuilder:printcolumn:name="Ends",type=string,JSONPath=".spec.endDate"
// +kubebuilder:printcolumn:name="Shared",type=integer,JSONPath=".status.sharedItems"
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=".status.conditions[?(@.type==\"Active\")].status"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type JointInvestigation struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the joint investigation.
	// +required
	Spec JointInvestigationSpec `json:"spec,omitzero"`

	// status is written by the operator.
	// +optional
	Status JointInvestigationStatus `json:"status,omitempty"`
}

// JointInvestigationList is a list of JointInvestigations.
// +kubebuilder:object:root=true
type JointInvestigationList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the JointInvestigations.
	Items []JointInvestigation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&JointInvestigation{}, &JointInvestigationList{})
}
