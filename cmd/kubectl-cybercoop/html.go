package main

import (
	"html/template"
	"io"
	"strings"
	"time"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// auditHTML renders the reports as one self-contained HTML file (inline CSS, no
// script, no external resource) that a person opens offline and prints: one
// section per ConventionProfile, a row per control with its article, result,
// finding and evidence. html/template escapes every value from the cluster.
func auditHTML(out io.Writer, reports []auditReport, generated time.Time) error {
	return htmlTemplate.Execute(out, struct {
		Reports   []auditReport
		Generated string
	}{reports, generated.UTC().Format(time.RFC3339)})
}

var htmlTemplate = template.Must(template.New("audit").Funcs(template.FuncMap{
	"time":      timeOf,
	"condition": conditionText,
	"summary":   summaryText,
	"stale":     staleness,
	"resources": resourcesText,
	"result":    func(r v1.ControlResult) string { return strings.ToLower(string(r)) },
	"countries": func(rs []auditReport) string {
		var cs []string
		for _, r := range rs {
			cs = append(cs, string(r.Country))
		}
		return strings.Join(cs, ", ")
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compliance report: {{countries .Reports}}</title>
<style>
body { font: 11pt/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em; color: #1b1b1b; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.result { font-weight: bold; white-space: nowrap; }
tr.pass td.result { color: #1a6b2f; }
tr.fail td.result { color: #a4161a; }
tr.unknown td.result { color: #8a5a00; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.95em; }
.summary { font-size: 1.05em; }
section { page-break-after: always; }
section:last-of-type { page-break-after: auto; }
@media print { body { margin: 1cm; font-size: 9pt; } th { background: #ddd !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
</style>
</head>
<body>
{{range .Reports}}<section id="{{.Namespace}}-{{.Name}}">
<h1>Compliance report: {{.Country}}</h1>
<p class="meta">ConventionProfile <code>{{.Name}}</code> in namespace <code>{{.Namespace}}</code>; report last changed {{time .LastChangeTime}}{{stale .}}; printed {{$.Generated}}.</p>
<p class="summary">Compliant: <strong>{{condition .Compliant}}</strong>. {{summary .Summary}}.</p>
{{with .Compliant}}<p>{{.Message}}</p>{{end}}
<table>
<thead><tr><th>Control</th><th>UN art.</th><th>Budapest</th><th>Result</th><th>Reason</th><th>Since</th><th>Finding</th><th>Evidence</th></tr></thead>
<tbody>
{{range .Controls}}<tr class="{{result .Result}}" id="control-{{.ID}}"><td><code>{{.ID}}</code><br><small>{{.Description}}</small></td><td>{{.Article.UN}}</td><td>{{.Article.Budapest}}</td><td class="result">{{.Result}}</td><td>{{.Reason}}</td><td>{{time .LastTransitionTime.DeepCopy}}</td><td>{{.Message}}</td><td>{{resources .Resources}}</td></tr>
{{end}}</tbody>
</table>
</section>
{{end}}</body>
</html>
`))
