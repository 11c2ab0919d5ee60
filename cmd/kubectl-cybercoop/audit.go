package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// auditReport is one ConventionProfile's report as `audit -o json` prints it.
type auditReport struct {
	Namespace          string                 `json:"namespace"`
	Name               string                 `json:"name"`
	Country            v1.CountryCode         `json:"country"`
	Compliant          *metav1.Condition      `json:"compliant,omitempty"`
	Ready              *metav1.Condition      `json:"ready,omitempty"`
	Summary            *v1.ComplianceSummary  `json:"summary,omitempty"`
	LastChangeTime     *metav1.Time           `json:"lastChangeTime,omitempty"`
	ObservedGeneration int64                  `json:"observedGeneration"`
	Generation         int64                  `json:"generation"`
	Controls           []v1.ComplianceControl `json:"controls"`
}

func runAudit(ctx context.Context, c client.Reader, ns, output string, now time.Time, out io.Writer) error {
	switch output {
	case "table", "json", "markdown", "html":
	default:
		return fmt.Errorf("-o %s: audit prints table, json, markdown or html", output)
	}
	profiles := &v1.ConventionProfileList{}
	if err := list(ctx, c, ns, profiles); err != nil {
		return fmt.Errorf("listing ConventionProfiles: %w", err)
	}
	if len(profiles.Items) == 0 && output != "json" {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(out, "No ConventionProfile in %s: apply one (config/samples has Kenya's and France's) for a compliance report.\n", where)
		return err
	}
	reports := make([]auditReport, 0, len(profiles.Items))
	for i := range profiles.Items {
		reports = append(reports, reportOf(&profiles.Items[i]))
	}
	slices.SortFunc(reports, func(a, b auditReport) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	switch output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"reports": reports})
	case "markdown":
		return auditMarkdown(out, reports)
	case "html":
		return auditHTML(out, reports, now)
	}
	return auditTable(out, reports)
}

func reportOf(p *v1.ConventionProfile) auditReport {
	return auditReport{
		Namespace: p.Namespace, Name: p.Name, Country: p.Spec.Country,
		Compliant:          meta.FindStatusCondition(p.Status.Conditions, v1.ConditionCompliant),
		Ready:              meta.FindStatusCondition(p.Status.Conditions, v1.ConditionReady),
		Summary:            p.Status.Summary,
		LastChangeTime:     p.Status.LastChangeTime,
		ObservedGeneration: p.Status.ObservedGeneration,
		Generation:         p.Generation,
		Controls:           p.Status.Controls,
	}
}

func timeOf(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func conditionText(c *metav1.Condition) string {
	if c == nil {
		return "not computed yet"
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}

func summaryText(s *v1.ComplianceSummary) string {
	if s == nil {
		return "no controls computed yet"
	}
	return fmt.Sprintf("%d pass, %d fail, %d unknown of %d controls", s.Pass, s.Fail, s.Unknown, s.Total)
}

// staleness says when the report does not reflect the profile's current spec.
func staleness(r auditReport) string {
	if r.ObservedGeneration != r.Generation {
		return fmt.Sprintf(" (computed for generation %d; the spec is at %d)", r.ObservedGeneration, r.Generation)
	}
	return ""
}

func resourcesText(rs []v1.ControlResource) string {
	if len(rs) == 0 {
		return "-"
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Kind + "/" + r.Name
	}
	return strings.Join(out, ", ")
}

func auditTable(out io.Writer, reports []auditReport) error {
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Compliance report of %s (ConventionProfile %s/%s)\n", r.Country, r.Namespace, r.Name)
		fmt.Fprintf(out, "Compliant: %s; %s; last changed %s%s\n\n", conditionText(r.Compliant), summaryText(r.Summary), timeOf(r.LastChangeTime), staleness(r))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTROL\tUN ART.\tBUDAPEST\tRESULT\tREASON\tSINCE")
		for _, c := range r.Controls {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Article.UN, c.Article.Budapest, c.Result, c.Reason, timeOf(&c.LastTransitionTime))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		var notPassing []v1.ComplianceControl
		for _, c := range r.Controls {
			if c.Result != v1.ControlPass {
				notPassing = append(notPassing, c)
			}
		}
		if len(notPassing) > 0 {
			fmt.Fprintln(out, "\nFindings:")
			for _, c := range notPassing {
				fmt.Fprintf(out, "  %s (%s): %s\n    looked at: %s\n", c.ID, c.Result, c.Message, resourcesText(c.Resources))
			}
		}
	}
	return nil
}

// markdownCell escapes what would break a Markdown table cell.
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

func auditMarkdown(out io.Writer, reports []auditReport) error {
	var b strings.Builder
	for i, r := range reports {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "# Compliance report: %s\n\n", r.Country)
		fmt.Fprintf(&b, "ConventionProfile `%s` in namespace `%s`. Compliant: **%s**; %s. Report last changed %s%s.\n\n",
			r.Name, r.Namespace, conditionText(r.Compliant), summaryText(r.Summary), timeOf(r.LastChangeTime), staleness(r))
		if r.Compliant != nil {
			fmt.Fprintf(&b, "> %s\n\n", markdownCell(r.Compliant.Message))
		}
		b.WriteString("| Control | UN art. | Budapest | Result | Reason | Since | Finding | Evidence |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Controls {
			result := string(c.Result)
			if c.Result != v1.ControlPass {
				result = "**" + result + "**"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", c.ID, markdownCell(c.Article.UN), markdownCell(c.Article.Budapest),
				result, markdownCell(c.Reason), timeOf(&c.LastTransitionTime), markdownCell(c.Message), markdownCell(resourcesText(c.Resources)))
		}
		b.WriteString("\nWhat each control checks:\n\n")
		for _, c := range r.Controls {
			fmt.Fprintf(&b, "- `%s`: %s\n", c.ID, markdownCell(c.Description))
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
