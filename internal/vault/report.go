package vault

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ReportFilter selects custody entries for a chain-of-custody report or an
// access query. Empty fields select everything.
type ReportFilter struct {
	// Object selects the entries naming one object.
	Object Digest `json:"object,omitempty"`
	// Case selects the objects ingested under a case reference (with every
	// entry naming them) and the entries made under that reference.
	Case string `json:"case,omitempty"`
	// Actor selects entries by actor name (URI SAN or subject), and the
	// ingests a client of that name relayed (Entry.Via).
	Actor string `json:"actor,omitempty"`
	// Actions selects entries by action, e.g. read and export for "who
	// accessed what".
	Actions []Action `json:"actions,omitempty"`
	// Since and Until bound the entries' times (Until exclusive).
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// CustodyReport lists who did what, when and under which reference.
type CustodyReport struct {
	Filter  ReportFilter `json:"filter"`
	Entries []Entry      `json:"entries"`
	// Objects lists the objects the entries name, in first-seen order.
	Objects []Digest `json:"objects"`
}

// BuildCustodyReport reads a custody log and selects entries by f. Every
// entry is decoded and checked (hash, canonical form); a damaged line fails
// the report rather than being skipped silently.
func BuildCustodyReport(ctx context.Context, log io.Reader, f ReportFilter) (CustodyReport, error) {
	rep := CustodyReport{Filter: f, Entries: []Entry{}, Objects: []Digest{}}
	caseObjects := map[Digest]bool{}
	err := scanLog(log, func(l logLine) error {
		if !l.complete {
			return nil
		}
		e, err := DecodeEntry(l.text)
		if err != nil {
			return fmt.Errorf("custody log line %d: %w", l.number, err)
		}
		if f.Case != "" && e.Action == ActionIngest && e.Metadata != nil && e.Metadata.CaseReference == f.Case {
			caseObjects[e.Object] = true
		}
		if !f.matches(e, caseObjects) {
			return ctx.Err()
		}
		rep.Entries = append(rep.Entries, e)
		if e.Object != "" && !slices.Contains(rep.Objects, e.Object) {
			rep.Objects = append(rep.Objects, e.Object)
		}
		return ctx.Err()
	})
	return rep, err
}

func (f ReportFilter) matches(e Entry, caseObjects map[Digest]bool) bool {
	if f.Object != "" && e.Object != f.Object {
		return false
	}
	if f.Case != "" && !caseObjects[e.Object] && e.Reference != f.Case {
		return false
	}
	if f.Actor != "" && e.Actor != f.Actor && (e.Via == nil || e.Via.Name() != f.Actor) {
		return false
	}
	if len(f.Actions) > 0 && !slices.Contains(f.Actions, e.Action) {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	return true
}

// CustodyReport builds a report from the vault's own log.
func (v *Vault) CustodyReport(ctx context.Context, f ReportFilter) (CustodyReport, error) {
	v.mu.Lock()
	if err := v.usable(); err != nil {
		v.mu.Unlock()
		return CustodyReport{}, err
	}
	size := v.custody.commit.durablePosition().size
	v.mu.Unlock()
	file, err := os.Open(filepath.Join(v.cfg.Dir, custodyLogName))
	if err != nil {
		return CustodyReport{}, err
	}
	defer file.Close()
	return BuildCustodyReport(ctx, io.NewSectionReader(file, 0, size), f)
}

// WriteText renders the report for a person: one line per entry, then the
// certificate details of every actor.
func (r CustodyReport) WriteText(w io.Writer) error {
	var title []string
	if r.Filter.Object != "" {
		title = append(title, "object "+string(r.Filter.Object))
	}
	if r.Filter.Case != "" {
		title = append(title, "case "+r.Filter.Case)
	}
	if r.Filter.Actor != "" {
		title = append(title, "actor "+r.Filter.Actor)
	}
	if len(r.Filter.Actions) > 0 {
		var as []string
		for _, a := range r.Filter.Actions {
			as = append(as, string(a))
		}
		title = append(title, "actions "+strings.Join(as, ","))
	}
	if len(title) == 0 {
		title = []string{"whole log"}
	}
	fmt.Fprintf(w, "Chain of custody: %s\n%d entries, %d objects\n\n", strings.Join(title, ", "), len(r.Entries), len(r.Objects))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tTIME (UTC)\tACTION\tACTOR\tOBJECT\tREFERENCE\tLEGAL BASIS\tDETAIL")
	certs := map[string]*Identity{}
	var actors []string
	for _, e := range r.Entries {
		obj := string(e.Object)
		if len(obj) > 19 {
			obj = obj[:19] + "…"
		}
		ref := e.Reference
		if e.Action == ActionIngest && e.Metadata != nil {
			ref = "case " + e.Metadata.CaseReference + ", authorisation " + e.Metadata.AuthorisationReference
			if e.Duplicate {
				ref += " (same content as an earlier ingest)"
			}
		}
		actor := e.Actor
		if e.Via != nil {
			actor += " (relayed by " + e.Via.Name() + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Action, actor, obj, ref, e.LegalBasis, e.Detail)
		for _, c := range []*Identity{e.Cert, e.Via} {
			if c == nil {
				continue
			}
			key := c.Name() + "\x00" + c.Fingerprint
			if _, ok := certs[key]; !ok {
				certs[key] = c
				actors = append(actors, key)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(actors) > 0 {
		fmt.Fprintln(w, "\nCertificates of the actors:")
		for _, key := range actors {
			c := certs[key]
			fmt.Fprintf(w, "  %s\n    subject %s; issuer %s; serial %s; %s\n", c.Name(), c.Subject, c.Issuer, c.Serial, c.Fingerprint)
		}
	}
	if len(r.Objects) > 0 {
		fmt.Fprintln(w, "\nObjects:")
		for _, d := range r.Objects {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
