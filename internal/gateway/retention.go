package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// The file of a request (the request, its receipt, its transitions and signed
// updates, on either side) is kept as long as the request is undecided, and the
// channel's retention runs from the decision, not from the receipt: a request
// still open when its records' retention ends must not lose them to the vault's
// expiry, and a request decided late keeps its file for the whole retention after
// the decision. Preservations' and assistance requests' records are held besides
// (holdsRecords); the others rely on this.
//
// The vault never shortens an object's retention: an object is kept until the
// latest retention of its cases. So the gateway extends a record's retention by
// recording the same content again, under a case of its own,
// kept/<record's case>/<time>, with the new retention: a custody entry that
// says when and why the record was kept longer.
const (
	// keepAhead is how long before a record of an open request would expire
	// the gateway extends it: the vault's expiry runs at any time, and the
	// gateway may be down for days.
	keepAhead = 30 * 24 * time.Hour
	// keptPrefix names the cases that extend a record's retention.
	keptPrefix = "kept/"
	// maxRecordBytes bounds a record read back to be kept: a request document
	// (canonical JSON of at most requests.MaxBodyBytes) or a smaller record.
	maxRecordBytes = 2 << 20
)

// keepTarget is until when the records of c must be kept, and whether they need
// it now: for an undecided request, the channel's retention from now once its
// records would expire within keepAhead; for a decided one, the retention from
// the decision.
func keepTarget(c wire.Case, retentionDays int32, retainedUntil, now time.Time) (time.Time, bool) {
	if !c.State.Terminal() {
		if retainedUntil.After(now.Add(keepAhead)) {
			return time.Time{}, false
		}
		return retainUntil(now, retentionDays), true
	}
	decided := c.Received
	if n := len(c.Transitions); n > 0 {
		decided = c.Transitions[n-1].Time
	}
	want := retainUntil(decided, retentionDays)
	return want, retainedUntil.Before(want)
}

// keepCaseFiles extends the retention of the records of every request, open or
// decided, whose records would expire before keepTarget says. It returns how
// many records it extended; an error stops it (the next scan resumes).
func (s *Server) keepCaseFiles(ctx context.Context, st *state, all []wire.Case, objects []vault.ObjectInfo) (int, error) {
	now := s.Now()
	byRef := make(map[string]wire.Case, len(all))
	for _, c := range all {
		byRef[c.Direction+"/"+c.Peer+"/"+c.RequestID] = c
	}
	find := listingLocator(objects)
	kept := 0
	for _, o := range objects {
		if len(o.Holds) > 0 || o.OtherHolds > 0 {
			continue // held: no timer expires it
		}
		// One object may be a record of several requests (the same content
		// sent twice): it is kept until the latest any of them needs.
		var until time.Time
		var caseRef, legalBasis string
		for _, ci := range o.Cases {
			c, ok := byRef[requestOf(ci.Metadata.CaseReference)]
			if !ok {
				continue
			}
			days := int32(minRetentionDays)
			if ch := st.channelOf(c.Peer); ch != nil && ch.RetentionDays > days {
				days = ch.RetentionDays
			}
			if want, due := keepTarget(c, days, o.RetentionUntil, now); due && want.After(until) {
				until, caseRef, legalBasis = want, ci.Metadata.CaseReference, ci.Metadata.LegalBasis
			}
		}
		if caseRef == "" {
			continue
		}
		if err := s.keepRecord(ctx, st, find, o.Digest, caseRef, legalBasis, until, now); err != nil {
			return kept, fmt.Errorf("keeping %s: %w", caseRef, err)
		}
		kept++
	}
	return kept, nil
}

// requestOf is the request a record's case belongs to (direction/peer/id), or
// "" for a case that is no request's record.
func requestOf(caseRef string) string {
	parts := strings.SplitN(caseRef, "/", 4)
	if len(parts) < 3 {
		return ""
	}
	base := strings.Join(parts[:3], "/")
	if !requestCase.MatchString(base) {
		return ""
	}
	return base
}

// keepRecord records the content of record d (read back under caseRef) again
// under kept/<caseRef>/<now>, retained until until.
func (s *Server) keepRecord(ctx context.Context, st *state, find locator, d vault.Digest, caseRef, legalBasis string, until, now time.Time) error {
	_, access, ok, err := find(ctx, caseRef)
	if err != nil || !ok {
		return err
	}
	body, err := st.vault.Read(ctx, d, access, maxRecordBytes)
	if err != nil {
		return err
	}
	keptRef := keptPrefix + caseRef + "/" + now.UTC().Format("20060102T150405Z")
	_, err = s.ingest(ctx, st, vault.Metadata{
		CaseReference: keptRef, LegalBasis: legalBasis,
		AuthorisationReference: accessReference(keptRef), AuthorisationExpiry: caseFileAccess(until), RetentionUntil: until,
		Exclusive: true, OwnerOnly: true,
	}, body)
	if vaultclient.IsStatus(err, http.StatusConflict) {
		return nil // another replica kept it in the same second
	}
	if err == nil {
		s.Log.Info("a request's record is kept longer", "case", caseRef, "until", until.Format(time.RFC3339))
	}
	return err
}
