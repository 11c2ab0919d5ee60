package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

func TestPrintCases(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	all := []wire.Case{
		{Direction: "inbound", Peer: "FR", RequestID: "rq-1", Type: "Preservation", Reference: "FR-1", Received: t0, State: cases.Acknowledged,
			Due: t0.Add(72 * time.Hour), Preservation: &cases.Preservation{Until: t0.Add(cases.MinimumPreservation), Held: true}},
		{Direction: "inbound", Peer: "FR", RequestID: "rq-2", Type: "Preservation", Reference: "FR-2", Received: t0.Add(-100 * time.Hour), State: cases.Received,
			Due: t0.Add(-28 * time.Hour), Overdue: true, Preservation: &cases.Preservation{Until: t0.Add(cases.MinimumPreservation), Held: true, HeldFor: []string{"rq-3"}}},
		{Direction: "outbound", Peer: "KE", RequestID: "rq-4", Type: "EmergencyDisclosure", Reference: "VN-9", Received: t0, State: cases.Executed},
	}
	var out bytes.Buffer
	if err := printCases(&out, all); err != nil {
		t.Fatal(err)
	}
	want := `REQUEST           TYPE                 REFERENCE  RECEIVED          STATE         DUE
inbound/FR/rq-1   Preservation         FR-1       2026-11-30 09:00  Acknowledged  2026-12-03 09:00 (held until 2027-01-29)
inbound/FR/rq-2   Preservation         FR-2       2026-11-26 05:00  Received      2026-11-29 05:00 OVERDUE (held until 2027-01-29 and while rq-3 is open)
outbound/KE/rq-4  EmergencyDisclosure  VN-9       2026-11-30 09:00  Executed      -
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
