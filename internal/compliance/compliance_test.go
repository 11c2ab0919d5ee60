package compliance

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// now is Wednesday 18 November 2026, noon in Nairobi.
var now = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }

func cert(secret string) *v1.CertificateStatus {
	return &v1.CertificateStatus{SecretName: secret, NotBefore: at(-30 * 24 * time.Hour), NotAfter: at(60 * 24 * time.Hour),
		RenewalTime: at(30 * 24 * time.Hour), SerialNumber: "0A", SHA256Fingerprint: "AA", CAGeneration: 1}
}

func cond(t string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg}
}

var allDays = []v1.Weekday{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// healthy is Kenya's namespace with every control passing (but the one that cannot
// be decided yet).
func healthy() Inputs {
	fp := v1.FocalPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc", UID: "fp-uid"},
		Spec: v1.FocalPointSpec{
			Country: "KE", Authority: "NC4", Languages: []v1.LanguageTag{"en", "sw"},
			Services: []v1.AssistanceService{v1.ServiceTechnicalAdvice, v1.ServicePreservation},
			Roster: v1.Roster{TimeZone: "Africa/Nairobi", Shifts: []v1.Shift{
				{Days: allDays, Start: "08:00", End: "20:00", OnCall: "Day desk"},
				{Days: allDays, Start: "20:00", End: "08:00", OnCall: "Night desk"},
			}},
		},
		Status: v1.FocalPointStatus{
			Conditions:   []metav1.Condition{cond(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid, "")},
			Certificates: &v1.CertificatesStatus{CA: cert("ke-poc-ca"), GatewayServing: cert("ke-poc-gateway-tls")},
		},
	}
	dep := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway", OwnerReferences: []metav1.OwnerReference{
			{Kind: "FocalPoint", Name: "ke-poc", UID: "fp-uid", Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "gateway", "fp": "ke-poc"}}}},
		Status: appsv1.DeploymentStatus{AvailableReplicas: 2},
	}
	pdb := policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"fp": "ke-poc"}}},
	}
	ev := v1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-evidence", CreationTimestamp: at(-30 * 24 * time.Hour)},
		Spec:       v1.EvidenceVaultSpec{FocalPointRef: v1.FocalPointReference{Name: "ke-poc"}, Retention: &v1.RetentionSpec{MinimumDays: 90}},
		Status: v1.EvidenceVaultStatus{
			Conditions: []metav1.Condition{
				cond(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid, ""),
				cond(v1.ConditionIntegrityVerified, metav1.ConditionTrue, v1.ReasonLogConsistent, ""),
			},
			LastVerification: &v1.VerificationStatus{Time: at(-2 * time.Hour), Result: "Passed", Objects: 12},
			Certificates:     &v1.EvidenceVaultCertificatesStatus{Serving: cert("ke-evidence-tls")},
		},
	}
	cc := v1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "to-fr"},
		Spec: v1.CooperationChannelSpec{
			FocalPointRef:  v1.FocalPointReference{Name: "ke-poc"},
			Peer:           v1.PeerSpec{Country: "FR", Endpoint: "https://gateway.fr.example"},
			RequestTypes:   []v1.RequestType{v1.RequestPreservation, v1.RequestStoredDataAccess},
			DataProtection: v1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42", OnwardTransfer: v1.OnwardTransferProhibited, RetentionDays: 365},
			Languages:      []v1.LanguageTag{"fr", "en"},
		},
		Status: v1.CooperationChannelStatus{
			Conditions: []metav1.Condition{
				cond(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid, ""),
				cond(v1.ConditionPeerTrusted, metav1.ConditionTrue, v1.ReasonTrustBundleValid, ""),
				cond(v1.ConditionPeerReachable, metav1.ConditionTrue, v1.ReasonPeerHandshakeSucceeded, ""),
			},
			Peer: &v1.PeerStatus{TrustedCAs: []v1.TrustedCA{{Subject: "CN=FR CA", NotAfter: at(365 * 24 * time.Hour), Source: "Spec"}},
				HandshakeRoundTripMilliseconds: ptr.To(int64(12))},
			Certificates: &v1.CooperationChannelCertificatesStatus{Client: cert("to-fr-client")},
			Requests:     &v1.ChannelRequestsStatus{Open: ptr.To(int32(2)), Overdue: ptr.To(int32(0))},
		},
	}
	profile := &v1.ConventionProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "ke"},
		Spec: v1.ConventionProfileSpec{
			Country: "KE",
			CentralAuthority: v1.CentralAuthority{Name: "Office of the Attorney General", Languages: []v1.LanguageTag{"en", "sw"},
				PointOfContact: v1.PointOfContactSeparate, Coordination: "the duty officer calls the on-call counsel"},
			AcceptedRequestTypes: []v1.RequestType{v1.RequestPreservation, v1.RequestStoredDataAccess, v1.RequestSubscriberInformation},
		},
	}
	return Inputs{
		Profile: profile, FocalPoints: []v1.FocalPoint{fp}, Vaults: []v1.EvidenceVault{ev}, Channels: []v1.CooperationChannel{cc},
		Deployments: []appsv1.Deployment{dep}, DisruptionBudgets: []policyv1.PodDisruptionBudget{pdb},
		Gateway: GatewayRules{
			Intrusive: func(t v1.RequestType) bool {
				return t == v1.RequestStoredDataAccess || t == v1.RequestRealTimeTrafficData || t == v1.RequestInterception
			},
			AuthorisationRequired: func(t v1.RequestType) bool {
				return t == v1.RequestStoredDataAccess || t == v1.RequestRealTimeTrafficData || t == v1.RequestInterception
			},
		},
	}
}

func results(controls []v1.ComplianceControl) map[string]v1.ComplianceControl {
	out := map[string]v1.ComplianceControl{}
	for _, c := range controls {
		out[c.ID] = c
	}
	return out
}

func TestHealthyNamespacePassesEveryControl(t *testing.T) {
	r := Evaluate(healthy(), now)
	if len(r.Controls) != 13 {
		t.Fatalf("%d controls, want 13", len(r.Controls))
	}
	for _, c := range r.Controls {
		want := v1.ControlPass
		if c.Result != want {
			t.Errorf("%s = %s (%s: %s), want %s", c.ID, c.Result, c.Reason, c.Message, want)
		}
		if c.Article.UN == "" || c.Article.Budapest == "" || c.Description == "" || c.Reason == "" || c.Message == "" {
			t.Errorf("%s is incomplete: %+v", c.ID, c)
		}
	}
	if c := results(r.Controls)[ControlRequestsNotOverdue]; c.Reason != "NoneOverdue" || !strings.Contains(c.Message, "2 requests from FR not decided, none past its deadline") {
		t.Errorf("requests-not-overdue = %s: %s", c.Reason, c.Message)
	}
	// The earliest time-based change: the vault's next verification is due at
	// its last one plus 24h, plus an hour's grace.
	if want := now.Add(-2*time.Hour + 25*time.Hour); !r.NextCheck.Equal(want) {
		t.Errorf("NextCheck = %s, want %s", r.NextCheck, want)
	}
}

// TestEveryControlFailsForEachReason breaks one input at a time: exactly the named
// control changes, to the named result and reason, and every other control keeps
// the healthy namespace's result.
func TestEveryControlFailsForEachReason(t *testing.T) {
	fail, unknown := v1.ControlFail, v1.ControlUnknown
	cases := []struct {
		name    string
		mutate  func(in *Inputs)
		control string
		result  v1.ControlResult
		reason  string
		// also lists further controls the same break changes, with their reasons.
		also    map[string]string
		message string
	}{
		// roster-24x7
		{"a shift removed", func(in *Inputs) { in.FocalPoints[0].Spec.Roster.Shifts = in.FocalPoints[0].Spec.Roster.Shifts[:1] },
			ControlRoster, fail, "CoverageGaps", nil, "84 of 168 hours covered"},
		{"a time zone not in the database", func(in *Inputs) { in.FocalPoints[0].Spec.Roster.TimeZone = "Mars/Olympus" },
			ControlRoster, fail, "InvalidTimeZone", nil, "Mars/Olympus"},
		{"a shift that predates validation", func(in *Inputs) { in.FocalPoints[0].Spec.Roster.Shifts[0].Start = "25:00" },
			ControlRoster, fail, "InvalidRoster", nil, "spec.roster.shifts[0].start"},
		// no FocalPoint fails every control that needs one
		{"no FocalPoint of the profile's country", func(in *Inputs) { in.FocalPoints[0].Spec.Country = "TZ" },
			ControlRoster, fail, "NoFocalPoint", map[string]string{
				ControlGateway: "NoFocalPoint", ControlPreservationOffered: "NoFocalPoint", ControlCertificates: "NoFocalPoint",
				ControlVaultRetention: "NoFocalPoint", ControlVaultIntegrity: "NoFocalPoint", ControlLanguages: "NoFocalPoint",
				ControlChannelsReachable: "NoChannels", ControlRequestsNotOverdue: "NoChannels"},
			"no FocalPoint of KE in the namespace (there are FocalPoints of TZ, another State)"},
		// gateway-available
		{"one gateway replica declared", func(in *Inputs) { in.FocalPoints[0].Spec.Gateway.Replicas = ptr.To(int32(1)) },
			ControlGateway, fail, "TooFewReplicas", nil, "spec.gateway.replicas is 1"},
		{"no gateway Deployment", func(in *Inputs) { in.Deployments = nil },
			ControlGateway, fail, "GatewayMissing", nil, ""},
		{"a Deployment of another FocalPoint", func(in *Inputs) { in.Deployments[0].OwnerReferences[0].Name = "other" },
			ControlGateway, fail, "GatewayMissing", nil, ""},
		{"one replica available", func(in *Inputs) { in.Deployments[0].Status.AvailableReplicas = 1 },
			ControlGateway, fail, "GatewayUnavailable", nil, "1 of 2 gateway replicas available"},
		{"no disruption budget", func(in *Inputs) { in.DisruptionBudgets = nil },
			ControlGateway, fail, "NoDisruptionBudget", nil, ""},
		{"a budget selecting other pods", func(in *Inputs) {
			in.DisruptionBudgets[0].Spec.Selector.MatchLabels = map[string]string{"fp": "tz-poc"}
		},
			ControlGateway, fail, "NoDisruptionBudget", nil, ""},
		{"a budget letting every pod go", func(in *Inputs) {
			in.DisruptionBudgets[0].Spec.MaxUnavailable = ptr.To(intstr.FromString("100%"))
		}, ControlGateway, fail, "DisruptionBudgetAllowsAll", nil, "maxUnavailable 100%"},
		{"a budget with minAvailable 0", func(in *Inputs) {
			in.DisruptionBudgets[0].Spec.MaxUnavailable, in.DisruptionBudgets[0].Spec.MinAvailable = nil, ptr.To(intstr.FromInt32(0))
		}, ControlGateway, fail, "DisruptionBudgetAllowsAll", nil, "minAvailable 0"},
		// services-preservation
		{"preservation not offered", func(in *Inputs) { in.FocalPoints[0].Spec.Services = []v1.AssistanceService{v1.ServiceTechnicalAdvice} },
			ControlPreservationOffered, fail, "PreservationNotOffered", nil, ""},
		// central-authority-coordination
		{"a separate point of contact without coordination", func(in *Inputs) { in.Profile.Spec.CentralAuthority.Coordination = " " },
			ControlCoordination, fail, "CoordinationNotDeclared", nil, ""},
		{"no placement declared", func(in *Inputs) { in.Profile.Spec.CentralAuthority.PointOfContact = "" },
			ControlCoordination, fail, "PlacementNotDeclared", nil, ""},
		// certificates-valid
		{"an expired certificate", func(in *Inputs) { in.FocalPoints[0].Status.Certificates.GatewayServing.NotAfter = at(-time.Minute) },
			ControlCertificates, fail, "CertificateExpired", nil, "gateway serving certificate (Secret ke-poc-gateway-tls"},
		{"a certificate not valid yet", func(in *Inputs) { in.Vaults[0].Status.Certificates.Serving.NotBefore = at(time.Hour) },
			ControlCertificates, fail, "CertificateNotYetValid", nil, "EvidenceVault ke-evidence"},
		{"a certificate renewed only after it expires", func(in *Inputs) {
			in.Channels[0].Status.Certificates.Client.RenewalTime = in.Channels[0].Status.Certificates.Client.NotAfter
		}, ControlCertificates, fail, "RenewalAfterExpiry", nil, "CooperationChannel to-fr"},
		{"a certificate past its renewal time", func(in *Inputs) { in.FocalPoints[0].Status.Certificates.CA.RenewalTime = at(-2 * time.Hour) },
			ControlCertificates, fail, "RenewalOverdue", nil, "CA certificate"},
		{"a CA whose key is lost", func(in *Inputs) {
			in.FocalPoints[0].Status.Conditions[0] = cond(v1.ConditionCertificateReady, metav1.ConditionFalse, v1.ReasonCAKeyLost, "restore the CA Secret")
		}, ControlCertificates, fail, "CertificateNotReady", nil, "CAKeyLost"},
		{"certificates not reported yet", func(in *Inputs) { in.Channels[0].Status.Certificates = nil },
			ControlCertificates, unknown, "CertificatesNotReported", nil, "CooperationChannel to-fr reports no certificate yet"},
		// vault-retention
		{"no vault", func(in *Inputs) { in.Vaults = nil },
			ControlVaultRetention, fail, "NoVault", map[string]string{ControlVaultIntegrity: "NoVault"}, "FocalPoint ke-poc has no EvidenceVault"},
		{"a vault of another FocalPoint", func(in *Inputs) { in.Vaults[0].Spec.FocalPointRef.Name = "tz-poc" },
			ControlVaultRetention, fail, "NoVault", map[string]string{ControlVaultIntegrity: "NoVault"}, ""},
		{"retention below 60 days", func(in *Inputs) { in.Vaults[0].Spec.Retention.MinimumDays = 30 },
			ControlVaultRetention, fail, "RetentionTooShort", nil, "30 days"},
		// vault-integrity
		{"a failed verification", func(in *Inputs) {
			in.Vaults[0].Status.LastVerification.Result, in.Vaults[0].Status.LastVerification.Findings = "Failed", 2
			in.Vaults[0].Status.Conditions[1] = cond(v1.ConditionIntegrityVerified, metav1.ConditionFalse, v1.ReasonVerificationFailed, "2 damaged objects")
		}, ControlVaultIntegrity, fail, "VerificationFailed", nil, "failed with 2 finding(s)"},
		{"an inconsistent custody log", func(in *Inputs) {
			in.Vaults[0].Status.Conditions[1] = cond(v1.ConditionIntegrityVerified, metav1.ConditionFalse, v1.ReasonLogInconsistent, "the log shrank")
		}, ControlVaultIntegrity, fail, "LogInconsistent", nil, "the log shrank"},
		{"a verification overdue", func(in *Inputs) { in.Vaults[0].Status.LastVerification.Time = at(-26 * time.Hour) },
			ControlVaultIntegrity, fail, "VerificationOverdue", nil, "due every 24h0m0s"},
		{"never verified, long after creation", func(in *Inputs) { in.Vaults[0].Status.LastVerification = nil },
			ControlVaultIntegrity, fail, "VerificationOverdue", nil, "never been verified"},
		{"never verified, just created", func(in *Inputs) {
			in.Vaults[0].Status.LastVerification, in.Vaults[0].CreationTimestamp = nil, at(-time.Hour)
		}, ControlVaultIntegrity, unknown, "NotVerifiedYet", nil, ""},
		{"a vault that cannot be reached", func(in *Inputs) {
			in.Vaults[0].Status.Conditions[1] = cond(v1.ConditionIntegrityVerified, metav1.ConditionUnknown, v1.ReasonVaultUnreachable, "connection refused")
		}, ControlVaultIntegrity, unknown, "IntegrityUnknown", nil, "VaultUnreachable since"},
		// channels-reachable
		{"no channel", func(in *Inputs) { in.Channels = nil },
			ControlChannelsReachable, fail, "NoChannels", map[string]string{ControlIntrusiveAuthorised: "NoIntrusiveTypes",
				ControlDataProtection: "NoChannels", ControlRequestTypesAccepted: "NoChannels", ControlRequestsNotOverdue: "NoChannels"}, "no CooperationChannel"},
		// requests-not-overdue
		{"an overdue request", func(in *Inputs) {
			in.Channels[0].Status.Requests = &v1.ChannelRequestsStatus{Open: ptr.To(int32(3)), Overdue: ptr.To(int32(1)), OverdueRequests: []string{"rq-1"}}
		}, ControlRequestsNotOverdue, fail, "RequestsOverdue", nil, "1 of the 3 requests from FR not decided are past their deadline (rq-1)"},
		{"requests not counted yet", func(in *Inputs) { in.Channels[0].Status.Requests = nil },
			ControlRequestsNotOverdue, v1.ControlUnknown, "RequestsNotCounted", nil, "CooperationChannel to-fr has no request counts yet"},
		{"every channel suspended", func(in *Inputs) { in.Channels[0].Spec.Suspend = ptr.To(true) },
			ControlChannelsReachable, fail, "NoChannels", nil, "every CooperationChannel is suspended"},
		{"an unreachable peer", func(in *Inputs) {
			in.Channels[0].Status.Conditions[2] = cond(v1.ConditionPeerReachable, metav1.ConditionFalse, v1.ReasonPeerUnreachable, "connection refused")
		}, ControlChannelsReachable, fail, "PeerUnreachable", nil, "the peer at https://gateway.fr.example has been unreachable since"},
		{"an expired peer CA", func(in *Inputs) { in.Channels[0].Status.Peer.TrustedCAs[0].NotAfter = at(-time.Second) },
			ControlChannelsReachable, fail, "PeerCAExpired", nil, "every trusted CA certificate of the peer has expired"},
		{"a peer not trusted", func(in *Inputs) {
			in.Channels[0].Status.Peer.TrustedCAs = nil
			in.Channels[0].Status.Conditions[1] = cond(v1.ConditionPeerTrusted, metav1.ConditionFalse, v1.ReasonTrustBundleInvalid, "the Secret fr-ca is missing")
		}, ControlChannelsReachable, fail, "PeerNotTrusted", nil, "fr-ca is missing"},
		{"a peer whose CAs are not read yet", func(in *Inputs) { in.Channels[0].Status.Peer = nil },
			ControlChannelsReachable, unknown, "PeerTrustUnknown", nil, ""},
		{"a peer not probed yet", func(in *Inputs) { in.Channels[0].Status.Conditions = in.Channels[0].Status.Conditions[:2] },
			ControlChannelsReachable, unknown, "NotProbedYet", nil, ""},
		// data-protection
		{"no legal basis", func(in *Inputs) { in.Channels[0].Spec.DataProtection.LegalBasis = "  " },
			ControlDataProtection, fail, "NoLegalBasis", nil, "legalBasis is empty"},
		{"onward transfer unrestricted", func(in *Inputs) { in.Channels[0].Spec.DataProtection.OnwardTransfer = "Permitted" },
			ControlDataProtection, fail, "OnwardTransferUnrestricted", nil, `"Permitted"`},
		// languages-declared
		{"no central authority language", func(in *Inputs) { in.Profile.Spec.CentralAuthority.Languages = nil },
			ControlLanguages, fail, "NoLanguages", nil, "spec.centralAuthority.languages is empty"},
		{"no point of contact language", func(in *Inputs) { in.FocalPoints[0].Spec.Languages = nil },
			ControlLanguages, fail, "NoLanguages", nil, "FocalPoint ke-poc: spec.languages is empty"},
		{"a channel in a language the desk does not read", func(in *Inputs) { in.Channels[0].Spec.Languages = []v1.LanguageTag{"fr"} },
			ControlLanguages, fail, "ChannelLanguageNotAccepted", nil, "include none of FocalPoint ke-poc's (en, sw)"},
		// request-types-accepted
		{"a channel permitting a type not accepted", func(in *Inputs) {
			in.Channels[0].Spec.RequestTypes = append(in.Channels[0].Spec.RequestTypes, v1.RequestEmergencyDisclosure)
		}, ControlRequestTypesAccepted, fail, "RequestTypeNotAccepted", nil, "permits EmergencyDisclosure"},
		// intrusive-authorisation
		{"an intrusive type without a required authorisation", func(in *Inputs) {
			in.Gateway.AuthorisationRequired = func(v1.RequestType) bool { return false }
		}, ControlIntrusiveAuthorised, fail, "AuthorisationNotRequired", nil, "StoredDataAccess"},
		{"the gateway's rules not given", func(in *Inputs) { in.Gateway = GatewayRules{} },
			ControlIntrusiveAuthorised, unknown, "GatewayRulesUnknown", nil, ""},
	}
	baseline := results(Evaluate(healthy(), now).Controls)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy()
			tc.mutate(&in)
			got := results(Evaluate(in, now).Controls)
			c := got[tc.control]
			if c.Result != tc.result || c.Reason != tc.reason {
				t.Errorf("%s = %s/%s (%s), want %s/%s", tc.control, c.Result, c.Reason, c.Message, tc.result, tc.reason)
			}
			if !strings.Contains(c.Message, tc.message) {
				t.Errorf("%s message %q does not say %q", tc.control, c.Message, tc.message)
			}
			for id, b := range baseline {
				if id == tc.control {
					continue
				}
				if reason, ok := tc.also[id]; ok {
					if got[id].Reason != reason {
						t.Errorf("%s = %s/%s, want reason %s", id, got[id].Result, got[id].Reason, reason)
					}
					continue
				}
				if got[id].Result != b.Result {
					t.Errorf("%s changed from %s to %s/%s (%s): only %s should", id, b.Result, got[id].Result, got[id].Reason, got[id].Message, tc.control)
				}
			}
		})
	}
}

func TestPassReasons(t *testing.T) {
	cases := []struct {
		name            string
		mutate          func(in *Inputs)
		control, reason string
	}{
		{"point of contact part of the central authority", func(in *Inputs) {
			in.Profile.Spec.CentralAuthority.PointOfContact, in.Profile.Spec.CentralAuthority.Coordination = v1.PointOfContactPartOfCentralAuthority, ""
		}, ControlCoordination, "PartOfCentralAuthority"},
		{"a separate point of contact that coordinates", func(in *Inputs) {}, ControlCoordination, "CoordinationDeclared"},
		{"no intrusive type permitted", func(in *Inputs) { in.Channels[0].Spec.RequestTypes = []v1.RequestType{v1.RequestPreservation} },
			ControlIntrusiveAuthorised, "NoIntrusiveTypes"},
		{"a channel using its FocalPoint's languages", func(in *Inputs) { in.Channels[0].Spec.Languages = nil }, ControlLanguages, "LanguagesDeclared"},
		{"a suspended channel beside a reachable one", func(in *Inputs) {
			off := in.Channels[0].DeepCopy()
			off.Name, off.Spec.Suspend, off.Status = "to-tz", ptr.To(true), v1.CooperationChannelStatus{}
			off.Status.Certificates = in.Channels[0].Status.Certificates
			in.Channels = append(in.Channels, *off)
		}, ControlChannelsReachable, "PeersReachable"},
		{"the default retention", func(in *Inputs) { in.Vaults[0].Spec.Retention = nil }, ControlVaultRetention, "RetentionSufficient"},
		{"a percentage budget keeping one pod", func(in *Inputs) {
			in.DisruptionBudgets[0].Spec.MaxUnavailable = ptr.To(intstr.FromString("50%"))
		}, ControlGateway, "GatewayAvailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy()
			tc.mutate(&in)
			c := results(Evaluate(in, now).Controls)[tc.control]
			if c.Result != v1.ControlPass || c.Reason != tc.reason {
				t.Errorf("%s = %s/%s (%s), want Pass/%s", tc.control, c.Result, c.Reason, c.Message, tc.reason)
			}
		})
	}
}

func TestResourcesLookedAt(t *testing.T) {
	got := results(Evaluate(healthy(), now).Controls)
	want := map[string][]v1.ControlResource{
		ControlGateway: {{Kind: "Deployment", Name: "ke-poc-gateway"}, {Kind: "FocalPoint", Name: "ke-poc"},
			{Kind: "PodDisruptionBudget", Name: "ke-poc-gateway"}},
		ControlCertificates:       {{Kind: "CooperationChannel", Name: "to-fr"}, {Kind: "EvidenceVault", Name: "ke-evidence"}, {Kind: "FocalPoint", Name: "ke-poc"}},
		ControlRequestsNotOverdue: {{Kind: "CooperationChannel", Name: "to-fr"}},
	}
	for id, w := range want {
		if g := got[id].Resources; len(g) != len(w) || (len(w) > 0 && !equalResources(g, w)) {
			t.Errorf("%s looked at %v, want %v", id, g, w)
		}
	}
}

func equalResources(a, b []v1.ControlResource) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNextCheck: the report asks to be recomputed when a result changes with no
// input changing, and at no other time.
func TestNextCheck(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(in *Inputs)
		want   time.Time
	}{
		{"a certificate reaching its renewal time", func(in *Inputs) {
			in.FocalPoints[0].Status.Certificates.GatewayServing.RenewalTime = at(3 * time.Hour)
		}, now.Add(4 * time.Hour)},
		{"the peer's last CA expiring", func(in *Inputs) { in.Channels[0].Status.Peer.TrustedCAs[0].NotAfter = at(90 * time.Minute) },
			now.Add(90 * time.Minute)},
		{"a new roster week", func(in *Inputs) {
			in.Vaults[0].Status.LastVerification.Time = at(0)
			in.Vaults[0].Spec.Verification = &v1.VerificationSpec{Interval: &metav1.Duration{Duration: 30 * 24 * time.Hour}}
		}, time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy()
			tc.mutate(&in)
			if got := Evaluate(in, now).NextCheck; !got.Equal(tc.want) {
				t.Errorf("NextCheck = %s, want %s", got, tc.want)
			}
		})
	}
	// At that time the result does change.
	in := healthy()
	in.Channels[0].Status.Peer.TrustedCAs[0].NotAfter = at(90 * time.Minute)
	if c := results(Evaluate(in, now.Add(90*time.Minute)).Controls)[ControlChannelsReachable]; c.Reason != "PeerCAExpired" {
		t.Errorf("at the CA's expiry channels-reachable = %s/%s, want Fail/PeerCAExpired", c.Result, c.Reason)
	}
}

func TestMergeKeepsTransitionTimeOfAnUnchangedResult(t *testing.T) {
	first, changed := Merge(nil, Evaluate(healthy(), now).Controls, now)
	if !changed {
		t.Fatal("a first report is a change")
	}
	later := now.Add(time.Hour)
	in := healthy()
	in.Deployments[0].Status.AvailableReplicas = 1
	second, changed := Merge(first, Evaluate(in, later).Controls, later)
	if !changed {
		t.Fatal("a failing gateway is a change")
	}
	for i, c := range second {
		want := first[i].LastTransitionTime
		if c.ID == ControlGateway {
			want = metav1.NewTime(later)
		}
		if !c.LastTransitionTime.Equal(&want) {
			t.Errorf("%s lastTransitionTime = %s, want %s", c.ID, c.LastTransitionTime, want)
		}
	}
	// The same report again is no change, and keeps every time.
	third, changed := Merge(second, Evaluate(in, later.Add(time.Minute)).Controls, later.Add(time.Minute))
	if changed {
		t.Error("the same report again counts as a change")
	}
	for i := range third {
		if !third[i].LastTransitionTime.Equal(&second[i].LastTransitionTime) {
			t.Errorf("%s lastTransitionTime moved", third[i].ID)
		}
	}
	// A new message with the same result is a change but keeps the time.
	in.Deployments[0].Status.AvailableReplicas = 0
	fourth, changed := Merge(third, Evaluate(in, later.Add(2*time.Minute)).Controls, later.Add(2*time.Minute))
	if !changed {
		t.Error("a new message is a change")
	}
	for i := range fourth {
		if !fourth[i].LastTransitionTime.Equal(&third[i].LastTransitionTime) {
			t.Errorf("%s lastTransitionTime moved though its result did not", fourth[i].ID)
		}
	}
}

func TestSummaryAndCompliantCondition(t *testing.T) {
	controls := Evaluate(healthy(), now).Controls
	if s := Summarise(controls); s != (v1.ComplianceSummary{Total: 13, Pass: 13}) {
		t.Errorf("summary = %+v", s)
	}
	c := CompliantCondition(controls)
	if c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonAllControlsPass {
		t.Errorf("Compliant = %s/%s %q, want True/AllControlsPass", c.Status, c.Reason, c.Message)
	}
	uncounted := healthy()
	uncounted.Channels[0].Status.Requests = nil
	c = CompliantCondition(Evaluate(uncounted, now).Controls)
	if c.Status != metav1.ConditionUnknown || c.Reason != v1.ReasonControlsUnknown || !strings.Contains(c.Message, ControlRequestsNotOverdue) {
		t.Errorf("Compliant = %s/%s %q, want Unknown/ControlsUnknown naming %s", c.Status, c.Reason, c.Message, ControlRequestsNotOverdue)
	}
	in := healthy()
	in.FocalPoints[0].Spec.Roster.Shifts = in.FocalPoints[0].Spec.Roster.Shifts[:1]
	controls = Evaluate(in, now).Controls
	if s := Summarise(controls); s != (v1.ComplianceSummary{Total: 13, Pass: 12, Fail: 1}) {
		t.Errorf("summary = %+v", s)
	}
	c = CompliantCondition(controls)
	if c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonControlsFailing || !strings.Contains(c.Message, "roster-24x7 (art. 41: CoverageGaps)") {
		t.Errorf("Compliant = %s/%s %q", c.Status, c.Reason, c.Message)
	}
	var decided []v1.ComplianceControl
	for _, c := range Evaluate(healthy(), now).Controls {
		if c.Result == v1.ControlPass {
			decided = append(decided, c)
		}
	}
	if c := CompliantCondition(decided); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonAllControlsPass {
		t.Errorf("Compliant of passing controls = %s/%s", c.Status, c.Reason)
	}
}

// TestGatewayRulesOfThisRelease: the gateway this release ships requires an
// authorisation in every intrusive request type's schema, and treats the types the
// API documents as intrusive as such.
func TestGatewayRulesOfThisRelease(t *testing.T) {
	rules := GatewayRulesOfThisRelease()
	for _, typ := range []v1.RequestType{v1.RequestStoredDataAccess, v1.RequestRealTimeTrafficData, v1.RequestInterception} {
		if !rules.Intrusive(typ) || !rules.AuthorisationRequired(typ) {
			t.Errorf("%s: intrusive %v, authorisation required %v; want both", typ, rules.Intrusive(typ), rules.AuthorisationRequired(typ))
		}
	}
	if rules.Intrusive(v1.RequestPreservation) || rules.AuthorisationRequired(v1.RequestPreservation) {
		t.Error("Preservation is neither intrusive nor needs an authorisation")
	}
	if rules.AuthorisationRequired("NoSuchType") {
		t.Error("a type without a schema cannot require anything")
	}
}

func TestMessagesAndResourcesAreBounded(t *testing.T) {
	in := healthy()
	for i := 0; i < 400; i++ {
		cc := in.Channels[0].DeepCopy()
		cc.Name = "to-" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + strings.Repeat("y", i%7) + time.Duration(i).String()
		cc.Status.Conditions[2] = cond(v1.ConditionPeerReachable, metav1.ConditionFalse, v1.ReasonPeerUnreachable, strings.Repeat("refused ", 20))
		in.Channels = append(in.Channels, *cc)
	}
	for _, c := range Evaluate(in, now).Controls {
		if len(c.Message) > maxMessage || len(c.Resources) > maxResources {
			t.Errorf("%s: message of %d bytes, %d resources", c.ID, len(c.Message), len(c.Resources))
		}
	}
}

// TestProbesAloneDoNotChangeTheReport: what every probe or vault call rewrites (the
// round-trip time, the probe time in a condition's message) is not in the report,
// so the report is not rewritten at every probe.
func TestProbesAloneDoNotChangeTheReport(t *testing.T) {
	for _, reachable := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse} {
		in := healthy()
		in.Channels[0].Status.Conditions[2].Status = reachable
		in.Channels[0].Status.Conditions[2].Message = "probed at 09:00"
		in.Vaults[0].Status.Conditions[1] = cond(v1.ConditionIntegrityVerified, metav1.ConditionUnknown, v1.ReasonVaultUnreachable, "refused at 09:00")
		first, _ := Merge(nil, Evaluate(in, now).Controls, now)
		in.Channels[0].Status.Conditions[2].Message = "probed at 09:05"
		in.Channels[0].Status.Peer.HandshakeRoundTripMilliseconds = ptr.To(int64(40))
		in.Vaults[0].Status.Conditions[1].Message = "refused at 09:05"
		if _, changed := Merge(first, Evaluate(in, now.Add(5*time.Minute)).Controls, now.Add(5*time.Minute)); changed {
			t.Errorf("PeerReachable %s: a probe that found the same changed the report", reachable)
		}
	}
}
