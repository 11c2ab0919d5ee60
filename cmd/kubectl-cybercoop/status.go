package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// resourceStatus is one resource as `status` prints it.
type resourceStatus struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Ready     string `json:"ready"`
	Reason    string `json:"reason,omitempty"`
	// NotTrue are the conditions that are not True, as Type=Status(Reason).
	NotTrue []string `json:"conditionsNotTrue,omitempty"`
	Details string   `json:"details,omitempty"`
	// Gaps are the roster's uncovered periods (FocalPoint).
	Gaps []v1.CoverageGap `json:"rosterGaps,omitempty"`
	// HandshakeRoundTripMilliseconds is the round trip of the probe that confirmed the
	// peer as status reports it (CooperationChannel, status.peer).
	HandshakeRoundTripMilliseconds *int64 `json:"handshakeRoundTripMilliseconds,omitempty"`
}

// certificateExpiry is one certificate as `status` prints it.
type certificateExpiry struct {
	Namespace string      `json:"namespace"`
	Resource  string      `json:"resource"`
	Role      string      `json:"role"`
	Secret    string      `json:"secret"`
	NotAfter  metav1.Time `json:"notAfter"`
	Renewal   metav1.Time `json:"renewalTime"`
	DaysLeft  int         `json:"daysLeft"`
	// InRenewalWindow is true once the renewal time has passed: the operator should
	// have renewed it.
	InRenewalWindow bool `json:"inRenewalWindow"`
	Expired         bool `json:"expired"`
}

type statusReport struct {
	Resources    []resourceStatus    `json:"resources"`
	Certificates []certificateExpiry `json:"certificates"`
}

func runStatus(ctx context.Context, c client.Reader, ns, output string, now time.Time, out io.Writer) error {
	switch output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("-o %s: status prints table, json or yaml", output)
	}
	fps := &v1.FocalPointList{}
	evs := &v1.EvidenceVaultList{}
	ccs := &v1.CooperationChannelList{}
	profiles := &v1.ConventionProfileList{}
	jis := &v1.JointInvestigationList{}
	for _, l := range []client.ObjectList{fps, evs, ccs, profiles, jis} {
		if err := list(ctx, c, ns, l); err != nil {
			return fmt.Errorf("listing %T: %w", l, err)
		}
	}
	report := collectStatus(fps.Items, evs.Items, ccs.Items, profiles.Items, jis.Items, now)
	switch output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	case "yaml":
		raw, err := yaml.Marshal(report)
		if err != nil {
			return err
		}
		_, err = out.Write(raw)
		return err
	}
	return statusTable(out, report, ns)
}

func collectStatus(fps []v1.FocalPoint, evs []v1.EvidenceVault, ccs []v1.CooperationChannel, profiles []v1.ConventionProfile,
	jis []v1.JointInvestigation, now time.Time) statusReport {
	r := statusReport{Resources: []resourceStatus{}, Certificates: []certificateExpiry{}}
	addCerts := func(ns, resource string, byRole map[string]*v1.CertificateStatus) {
		for role, c := range byRole {
			if c == nil {
				continue
			}
			left := c.NotAfter.Sub(now)
			r.Certificates = append(r.Certificates, certificateExpiry{
				Namespace: ns, Resource: resource, Role: role, Secret: c.SecretName, NotAfter: c.NotAfter, Renewal: c.RenewalTime,
				DaysLeft: int(math.Floor(left.Hours() / 24)), InRenewalWindow: !now.Before(c.RenewalTime.Time), Expired: left <= 0,
			})
		}
	}
	for _, fp := range fps {
		rs := baseStatus(fp.Namespace, "FocalPoint", fp.Name, fp.Status.Conditions)
		var details []string
		if sp := fp.Spec.ServiceProvider; sp != nil {
			details = append(details, fmt.Sprintf("service provider %s (%s), established in %s", sp.ID, sp.Name, fp.Spec.Country))
		}
		if cov := fp.Status.Coverage; cov != nil {
			gaps := "no gap"
			if n := len(cov.Gaps); n > 0 {
				gaps = fmt.Sprintf("%d gap(s), the first %s to %s", n, cov.Gaps[0].Start, cov.Gaps[0].End)
				rs.Gaps = cov.Gaps
			}
			details = append(details, fmt.Sprintf("on call %s h/week, %s", cov.HoursPerWeek, gaps))
		}
		if fp.Status.GatewayReplicas != "" {
			details = append(details, "gateway "+fp.Status.GatewayReplicas)
		}
		rs.Details = strings.Join(details, "; ")
		r.Resources = append(r.Resources, rs)
		if c := fp.Status.Certificates; c != nil {
			addCerts(fp.Namespace, "FocalPoint/"+fp.Name, map[string]*v1.CertificateStatus{
				"ca": c.CA, "gateway-serving": c.GatewayServing, "gateway-vault-client": c.GatewayVaultClient, "officer": c.Officer,
				"gateway-operator-client": c.OperatorClient})
		}
	}
	for _, ev := range evs {
		rs := baseStatus(ev.Namespace, "EvidenceVault", ev.Name, ev.Status.Conditions)
		var details []string
		if ev.Status.Objects != nil {
			d := fmt.Sprintf("%d object(s)", *ev.Status.Objects)
			if ev.Status.Size != "" {
				d += " (" + ev.Status.Size + ")"
			}
			details = append(details, d)
		}
		if lv := ev.Status.LastVerification; lv != nil {
			details = append(details, fmt.Sprintf("verified %s: %s", timeOf(&lv.Time), lv.Result))
		} else {
			details = append(details, "never verified")
		}
		rs.Details = strings.Join(details, "; ")
		r.Resources = append(r.Resources, rs)
		if c := ev.Status.Certificates; c != nil {
			addCerts(ev.Namespace, "EvidenceVault/"+ev.Name, map[string]*v1.CertificateStatus{"vault-serving": c.Serving, "operator-client": c.OperatorClient})
		}
	}
	for _, cc := range ccs {
		rs := baseStatus(cc.Namespace, "CooperationChannel", cc.Name, cc.Status.Conditions)
		details := []string{"peer " + cc.Spec.Peer.Party()}
		if p := cc.Status.Peer; p != nil {
			// The handshake that confirmed what status reports, not the latest probe
			// (a metric): status changes only when what the probe finds changes.
			if p.HandshakeTime != nil {
				d := "confirmed by a handshake at " + timeOf(p.HandshakeTime)
				if p.HandshakeRoundTripMilliseconds != nil {
					rs.HandshakeRoundTripMilliseconds = p.HandshakeRoundTripMilliseconds
					d += fmt.Sprintf(" (round trip %d ms)", *p.HandshakeRoundTripMilliseconds)
				}
				details = append(details, d)
			}
		}
		if rq := cc.Status.Requests; rq != nil && rq.Open != nil && rq.Overdue != nil {
			d := fmt.Sprintf("%d request(s) open, %d overdue", *rq.Open, *rq.Overdue)
			if len(rq.OverdueRequests) > 0 {
				d += " (" + strings.Join(rq.OverdueRequests, ", ") + ")"
			}
			details = append(details, d)
		}
		if cc.Spec.Suspend != nil && *cc.Spec.Suspend {
			details = append(details, "suspended")
		}
		rs.Details = strings.Join(details, "; ")
		r.Resources = append(r.Resources, rs)
		if c := cc.Status.Certificates; c != nil {
			addCerts(cc.Namespace, "CooperationChannel/"+cc.Name, map[string]*v1.CertificateStatus{"channel-client": c.Client})
		}
	}
	for _, p := range profiles {
		rs := baseStatus(p.Namespace, "ConventionProfile", p.Name, p.Status.Conditions)
		rs.Details = fmt.Sprintf("compliant %s; %s", conditionText(meta.FindStatusCondition(p.Status.Conditions, v1.ConditionCompliant)),
			summaryText(p.Status.Summary))
		r.Resources = append(r.Resources, rs)
	}
	r.Resources = append(r.Resources, jointStatus(jis)...)
	kindOrder := map[string]int{"FocalPoint": 0, "EvidenceVault": 1, "CooperationChannel": 2, "ConventionProfile": 3, "JointInvestigation": 4}
	slices.SortFunc(r.Resources, func(a, b resourceStatus) int {
		if a.Namespace != b.Namespace {
			return strings.Compare(a.Namespace, b.Namespace)
		}
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] - kindOrder[b.Kind]
		}
		return strings.Compare(a.Name, b.Name)
	})
	slices.SortFunc(r.Certificates, func(a, b certificateExpiry) int {
		if c := a.NotAfter.Compare(b.NotAfter.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace+a.Resource+a.Role, b.Namespace+b.Resource+b.Role)
	})
	return r
}

// jointStatus is each JointInvestigation: its case, end date and what it shared.
func jointStatus(jis []v1.JointInvestigation) []resourceStatus {
	var out []resourceStatus
	for _, ji := range jis {
		rs := baseStatus(ji.Namespace, "JointInvestigation", ji.Name, ji.Status.Conditions)
		details := []string{"case " + ji.Spec.CaseID}
		if ji.Spec.EndDate != nil {
			details = append(details, "until "+timeOf(ji.Spec.EndDate))
		}
		if n := ji.Status.SharedItems; n != nil {
			details = append(details, fmt.Sprintf("%d item(s) shared", *n))
		}
		for _, p := range ji.Status.Parties {
			if p.Fetched != nil {
				details = append(details, fmt.Sprintf("%s fetched %d", p.Country, *p.Fetched))
			}
		}
		rs.Details = strings.Join(details, "; ")
		out = append(out, rs)
	}
	return out
}

func baseStatus(ns, kind, name string, conds []metav1.Condition) resourceStatus {
	rs := resourceStatus{Namespace: ns, Kind: kind, Name: name, Ready: "Unknown"}
	for _, c := range conds {
		if c.Type == v1.ConditionReady {
			rs.Ready, rs.Reason = string(c.Status), c.Reason
			continue
		}
		if c.Status != metav1.ConditionTrue {
			rs.NotTrue = append(rs.NotTrue, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Reason))
		}
	}
	return rs
}

func statusTable(out io.Writer, r statusReport, ns string) error {
	if len(r.Resources) == 0 {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(out, "No cybercoop resource in %s.\n", where)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tKIND\tNAME\tREADY\tREASON\tNOT TRUE\tDETAILS")
	for _, rs := range r.Resources {
		notTrue := "-"
		if len(rs.NotTrue) > 0 {
			notTrue = strings.Join(rs.NotTrue, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rs.Namespace, rs.Kind, rs.Name, rs.Ready, dash(rs.Reason), notTrue, dash(rs.Details))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Certificates) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nCERTIFICATES (earliest expiry first)")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tRESOURCE\tROLE\tSECRET\tNOT AFTER\tDAYS LEFT\tRENEWAL")
	for _, c := range r.Certificates {
		renewal := timeOf(&c.Renewal)
		switch {
		case c.Expired:
			renewal += "  EXPIRED"
		case c.InRenewalWindow:
			renewal += "  DUE: inside the renewal window, not renewed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Namespace, c.Resource, c.Role, c.Secret, timeOf(&c.NotAfter), c.DaysLeft, renewal)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
