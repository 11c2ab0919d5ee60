package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/compliance"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// now is Wednesday 18 November 2026, noon in Nairobi.
var now = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }

func cert(secret string, notAfter, renewal time.Duration) *v1.CertificateStatus {
	return &v1.CertificateStatus{SecretName: secret, NotBefore: at(-30 * 24 * time.Hour), NotAfter: at(notAfter), RenewalTime: at(renewal),
		SerialNumber: "0A1B", SHA256Fingerprint: "AB:CD", CAGeneration: 1}
}

func cond(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: "-", LastTransitionTime: at(-48 * time.Hour)}
}

var everyDay = []v1.Weekday{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// country is one State's stack whose profile's status is the report the controller
// would write at now; shifts and a renewal time in the past make it fail where a
// test wants.
func country(ns, code, peer string, shifts []v1.Shift, gatewayRenewal time.Duration) []client.Object {
	fp := &v1.FocalPoint{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(code) + "-poc", Namespace: ns, UID: types.UID("uid-" + code)},
		Spec: v1.FocalPointSpec{Country: v1.CountryCode(code), Authority: "Authority of " + code, Languages: []v1.LanguageTag{"en", "fr"},
			Contacts: []v1.Contact{{Name: "Duty officer", Email: "duty@" + strings.ToLower(code) + ".example"}},
			Services: []v1.AssistanceService{v1.ServicePreservation}, Roster: v1.Roster{TimeZone: "Africa/Nairobi", Shifts: shifts}},
		Status: v1.FocalPointStatus{
			Conditions: []metav1.Condition{
				cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonAllConditionsMet),
				cond(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid),
			},
			Coverage:        &v1.RosterCoverage{WeekStart: "2026-11-16T00:00:00+03:00", WeekMinutes: 10080, CoveredMinutes: 10080, HoursPerWeek: "168"},
			GatewayReplicas: "2/2",
			Certificates: &v1.CertificatesStatus{CA: cert(strings.ToLower(code)+"-poc-ca", 5*365*24*time.Hour, 4*365*24*time.Hour),
				GatewayServing: cert(strings.ToLower(code)+"-poc-gateway-tls", 60*24*time.Hour, gatewayRenewal)},
		},
	}
	if len(shifts) == 1 {
		fp.Status.Coverage = &v1.RosterCoverage{WeekStart: "2026-11-16T00:00:00+03:00", WeekMinutes: 10080, CoveredMinutes: 5040, HoursPerWeek: "84",
			Gaps: []v1.CoverageGap{{Start: "2026-11-16T00:00:00+03:00", End: "2026-11-16T08:00:00+03:00", Minutes: 480}}}
		fp.Status.Conditions = append(fp.Status.Conditions, cond(v1.ConditionCoverageComplete, metav1.ConditionFalse, v1.ReasonCoverageGaps))
		fp.Status.Conditions[0] = cond(v1.ConditionReady, metav1.ConditionFalse, v1.ReasonNotReady)
	}
	ev := &v1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(code) + "-evidence", Namespace: ns, CreationTimestamp: at(-30 * 24 * time.Hour)},
		Spec: v1.EvidenceVaultSpec{FocalPointRef: v1.FocalPointReference{Name: fp.Name}, Storage: &v1.VaultStorage{Size: resource.MustParse("20Gi")},
			Retention: &v1.RetentionSpec{MinimumDays: 90}},
		Status: v1.EvidenceVaultStatus{
			Conditions: []metav1.Condition{
				cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonAllConditionsMet),
				cond(v1.ConditionIntegrityVerified, metav1.ConditionTrue, v1.ReasonLogConsistent),
			},
			Objects: ptr.To(int64(12)), Size: "1.2 MiB",
			LastVerification: &v1.VerificationStatus{Time: at(-2 * time.Hour), Result: "Passed", Objects: 12},
			Certificates:     &v1.EvidenceVaultCertificatesStatus{Serving: cert(strings.ToLower(code)+"-evidence-tls", 80*24*time.Hour, 50*24*time.Hour)},
		},
	}
	cc := &v1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "to-" + strings.ToLower(peer), Namespace: ns},
		Spec: v1.CooperationChannelSpec{FocalPointRef: v1.FocalPointReference{Name: fp.Name},
			Peer: v1.PeerSpec{Country: v1.CountryCode(peer), Endpoint: "https://gateway." + strings.ToLower(peer) + ".example",
				TrustBundle: v1.PeerTrustBundle{PEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}},
			RequestTypes:   []v1.RequestType{v1.RequestPreservation},
			DataProtection: v1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42 | bilateral MoU", OnwardTransfer: v1.OnwardTransferProhibited}},
		Status: v1.CooperationChannelStatus{
			Conditions: []metav1.Condition{
				cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonAllConditionsMet),
				cond(v1.ConditionPeerTrusted, metav1.ConditionTrue, v1.ReasonTrustBundleValid),
				cond(v1.ConditionPeerReachable, metav1.ConditionTrue, v1.ReasonPeerHandshakeSucceeded),
			},
			Peer: &v1.PeerStatus{TrustedCAs: []v1.TrustedCA{{Subject: "CN=" + peer + " CA", NotAfter: at(3 * 365 * 24 * time.Hour), Source: "Spec",
				SHA256Fingerprint: strings.Repeat("AB:", 31) + "AB", Since: at(-90 * 24 * time.Hour)}},
				HandshakeTime: ptr.To(at(-time.Minute)), HandshakeRoundTripMilliseconds: ptr.To(int64(23))},
			Certificates: &v1.CooperationChannelCertificatesStatus{Client: cert("to-"+strings.ToLower(peer)+"-client", 70*24*time.Hour, 40*24*time.Hour)},
			Requests:     &v1.ChannelRequestsStatus{Open: ptr.To(int32(3)), Overdue: ptr.To(int32(1)), OverdueRequests: []string{"rq-9f2c41d07b1e4a6a8c55e1d0f3b2a917"}},
		},
	}
	profile := &v1.ConventionProfile{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(code), Namespace: ns, Generation: 1},
		Spec: v1.ConventionProfileSpec{Country: v1.CountryCode(code),
			CentralAuthority: v1.CentralAuthority{Name: "Central authority of " + code, Languages: []v1.LanguageTag{"en"},
				Contact:        v1.Contact{Name: "Liaison", Email: "mla@" + strings.ToLower(code) + ".example"},
				PointOfContact: v1.PointOfContactPartOfCentralAuthority},
			AcceptedRequestTypes: []v1.RequestType{v1.RequestPreservation}},
	}
	labels := map[string]string{"fp": fp.Name}
	result := compliance.Evaluate(compliance.Inputs{
		Profile: profile, FocalPoints: []v1.FocalPoint{*fp}, Vaults: []v1.EvidenceVault{*ev}, Channels: []v1.CooperationChannel{*cc},
		Deployments: []appsv1.Deployment{{
			ObjectMeta: metav1.ObjectMeta{Name: fp.Name + "-gateway", OwnerReferences: []metav1.OwnerReference{{Kind: "FocalPoint", Name: fp.Name, Controller: ptr.To(true)}}},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}},
			Status:     appsv1.DeploymentStatus{AvailableReplicas: 2},
		}},
		DisruptionBudgets: []policyv1.PodDisruptionBudget{{ObjectMeta: metav1.ObjectMeta{Name: fp.Name + "-gateway"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}}}},
		Gateway: compliance.GatewayRulesOfThisRelease(),
	}, now)
	earlier := now.Add(-72 * time.Hour)
	profile.Status.Controls, _ = compliance.Merge(nil, result.Controls, earlier)
	summary := compliance.Summarise(profile.Status.Controls)
	profile.Status.Summary = &summary
	profile.Status.LastChangeTime = ptr.To(metav1.NewTime(earlier))
	profile.Status.ObservedGeneration = 1
	compliant := compliance.CompliantCondition(profile.Status.Controls)
	ready := reconciler.NewCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonReportComputed, "computed")
	compliant.LastTransitionTime, ready.LastTransitionTime = metav1.NewTime(earlier), metav1.NewTime(earlier)
	reconciler.SetConditions(&profile.Status.Conditions, 1, compliant, ready)
	ji := &v1.JointInvestigation{
		ObjectMeta: metav1.ObjectMeta{Name: "jit-" + strings.ToLower(code), Namespace: ns},
		Spec: v1.JointInvestigationSpec{FocalPointRef: v1.FocalPointReference{Name: fp.Name}, CaseID: "JIT-2026-" + code + "-01",
			Agreement: "joint investigation agreement (example)", Purpose: "ransomware", Parties: []v1.JointInvestigationParty{{Channel: cc.Name}},
			EndDate: ptr.To(at(200 * 24 * time.Hour))},
		Status: v1.JointInvestigationStatus{
			Conditions:  []metav1.Condition{cond(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonAllConditionsMet)},
			Parties:     []v1.JointInvestigationPartyStatus{{Channel: cc.Name, Country: v1.CountryCode(peer), Reachable: metav1.ConditionTrue, Fetched: ptr.To(int32(1))}},
			SharedItems: ptr.To(int32(2)),
		},
	}
	return []client.Object{fp, ev, cc, profile, ji}
}

func cluster() client.Reader {
	full := []v1.Shift{{Days: everyDay, Start: "08:00", End: "20:00", OnCall: "Day desk"}, {Days: everyDay, Start: "20:00", End: "08:00", OnCall: "Night desk"}}
	objs := country("cybercoop-ke", "KE", "FR", full[:1], -2*time.Hour)
	objs = append(objs, country("cybercoop-fr", "FR", "KE", full, 30*24*time.Hour)...)
	return fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).Build()
}

// run runs the plugin with args against the fake cluster; the kubeconfig's
// namespace is cybercoop-ke.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(&out, func(*options) (client.Reader, string, error) { return cluster(), "cybercoop-ke", nil },
		func() time.Time { return now })
	root.SetArgs(args)
	root.SetOut(&out)
	err := root.Execute()
	return out.String(), err
}

func TestGolden(t *testing.T) {
	cases := []struct {
		golden string
		args   []string
	}{
		{"audit-table.golden", []string{"audit"}},
		{"audit-markdown.golden", []string{"audit", "-n", "cybercoop-ke", "-o", "markdown"}},
		{"audit-json.golden", []string{"audit", "--namespace", "cybercoop-fr", "-o", "json"}},
		{"audit-html.golden", []string{"audit", "-A", "-o", "html"}},
		{"audit-all-table.golden", []string{"audit", "-A"}},
		{"audit-empty.golden", []string{"audit", "-n", "cybercoop-vn"}},
		{"status-table.golden", []string{"status"}},
		{"status-all-table.golden", []string{"status", "--all-namespaces"}},
		{"status-json.golden", []string{"status", "-n", "cybercoop-ke", "-o", "json"}},
		{"status-yaml.golden", []string{"status", "-n", "cybercoop-fr", "-o", "yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := run(t, tc.args...)
			if err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run the tests with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("kubectl cybercoop %s differs from %s (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s",
					strings.Join(tc.args, " "), path, got, want)
			}
		})
	}
}

// TestGoldenContent checks what the golden files must show, so a golden file
// rewritten with -update cannot lose it unnoticed.
func TestGoldenContent(t *testing.T) {
	for file, wants := range map[string][]string{
		"audit-table.golden": {"Compliance report of KE", "Compliant: False (ControlsFailing)", "roster-24x7", "CoverageGaps",
			"certificates-valid", "RenewalOverdue", "requests-not-overdue", "RequestsOverdue", "rq-9f2c41d07b1e4a6a8c55e1d0f3b2a917", "Findings:", "looked at: FocalPoint/ke-poc"},
		"audit-html.golden": {"<!DOCTYPE html>", "<h1>Compliance report: KE</h1>", "<h1>Compliance report: FR</h1>", `<tr class="fail" id="control-roster-24x7">`,
			"UNCC art. 40-42 | bilateral MoU", "@media print"},
		"audit-markdown.golden": {"# Compliance report: KE", "| `roster-24x7` | 41 | 35 | **Fail** | CoverageGaps |", `UNCC art. 40-42 \| bilateral MoU`},
		"audit-json.golden":     {`"country": "FR"`, `"id": "intrusive-authorisation"`, `"lastTransitionTime": "2026-11-15T09:00:00Z"`},
		"status-table.golden": {"JointInvestigation  jit-ke", "2 item(s) shared; FR fetched 1", "3 request(s) open, 1 overdue", "FocalPoint", "on call 84 h/week, 1 gap(s), the first 2026-11-16T00:00:00+03:00", "CoverageComplete=False(CoverageGaps)",
			"round trip 23 ms)", "DUE: inside the renewal window, not renewed", "compliant False (ControlsFailing)"},
		"status-all-table.golden": {"cybercoop-fr", "cybercoop-ke"},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(raw), w) {
				t.Errorf("%s does not show %q", file, w)
			}
		}
	}
	// Each namespace's table shows only its own resources.
	raw, _ := os.ReadFile(filepath.Join("testdata", "status-table.golden"))
	if strings.Contains(string(raw), "cybercoop-fr ") {
		t.Error("status without -n or -A shows another namespace than the kubeconfig's")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "-n", "x", "-A"}, "exclude each other"},
		{[]string{"audit", "-o", "yaml"}, "audit prints table, json, markdown or html"},
		{[]string{"status", "-o", "markdown"}, "status prints table, json or yaml"},
		{[]string{"status", "extra"}, "unknown command"},
	} {
		if _, err := run(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}
