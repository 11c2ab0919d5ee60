package vault

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// objectState is what the custody log says about one live object. The log is
// the only record of metadata and holds; this is its in-memory projection.
type objectState struct {
	digest     Digest
	size       int64
	keyVersion uint32
	// cases are the ingests of this content whose metadata applies, the
	// first ingest first: a second case ingesting the same content attaches
	// its own authorisation, retention and hold.
	cases []caseState
	holds map[string]bool // hold reference → held
	// changed is the last custody entry that changed the object: an answer
	// showing the object as it is now waits until that entry is durable.
	changed uint64
}

// caseState is one ingest's metadata applied to an object.
type caseState struct {
	metadata   Metadata
	ingestSeq  uint64
	ingestedAt time.Time
	ingestedBy string
	cert       *Identity
	// via is the relay that ingested the case for ingestedBy, if one did:
	// the case is then the relay's (see ownsRecord).
	via *Identity
}

// retentionUntil is the latest retention of every case: the object is kept
// until every case lets go.
func (o *objectState) retentionUntil() time.Time {
	var t time.Time
	for _, c := range o.cases {
		if c.metadata.RetentionUntil.After(t) {
			t = c.metadata.RetentionUntil
		}
	}
	return t
}

func (o *objectState) first() caseState { return o.cases[0] }

// CaseInfo is one case's ingest of an object.
type CaseInfo struct {
	IngestSequence uint64    `json:"ingestSequence"`
	IngestedAt     time.Time `json:"ingestedAt"`
	IngestedBy     string    `json:"ingestedBy"`
	// IngestedVia names the client that relayed the ingest for IngestedBy
	// (role relay), if one did.
	IngestedVia string `json:"ingestedVia,omitempty"`
	// Metadata is the case's metadata. Its authorisationReference is shown
	// only to the client that ingested (or relayed) under it.
	Metadata Metadata `json:"metadata"`
}

// ObjectInfo describes a live object.
type ObjectInfo struct {
	Digest     Digest `json:"digest"`
	Size       int64  `json:"size"`
	KeyVersion uint32 `json:"keyVersion"`
	// IngestSequence is the custody entry that first stored the content.
	IngestSequence uint64    `json:"ingestSequence"`
	IngestedAt     time.Time `json:"ingestedAt"`
	// RetentionUntil is the latest retention of all cases.
	RetentionUntil time.Time `json:"retentionUntil"`
	// Cases lists the ingests whose metadata applies, as far as the caller
	// may see them.
	Cases []CaseInfo `json:"cases"`
	// Holds lists the references of the legal holds in force, sorted, as far
	// as the caller may see them: a client that sees only some of the object's
	// cases sees the holds placed under those cases' references.
	Holds []string `json:"holds"`
	// OtherHolds counts the holds in force under references the caller may not
	// see, so it knows the object is held without learning another case's reference.
	OtherHolds int `json:"otherHolds,omitempty"`
}

// info describes the object as a caller may see it: show reports which
// cases to include and whether to include their authorisation reference.
func (o *objectState) info(show func(caseState) (visible, withAuthorisation bool)) ObjectInfo {
	first := o.first()
	info := ObjectInfo{
		Digest: o.digest, Size: o.size, KeyVersion: o.keyVersion,
		IngestSequence: first.ingestSeq, IngestedAt: first.ingestedAt, RetentionUntil: o.retentionUntil(),
		Cases: []CaseInfo{}, Holds: slices.Sorted(maps.Keys(o.holds)),
	}
	if info.Holds == nil {
		info.Holds = []string{}
	}
	visibleCases := map[string]bool{}
	for _, c := range o.cases {
		visible, withAuth := show(c)
		if !visible {
			continue
		}
		visibleCases[c.metadata.CaseReference] = true
		m := c.metadata
		if !withAuth {
			m.AuthorisationReference = ""
		}
		ci := CaseInfo{IngestSequence: c.ingestSeq, IngestedAt: c.ingestedAt, IngestedBy: c.ingestedBy, Metadata: m}
		if c.via != nil {
			ci.IngestedVia = c.via.Name()
		}
		info.Cases = append(info.Cases, ci)
	}
	if len(info.Cases) < len(o.cases) {
		// Not every case is the caller's to see: nor are the references of holds
		// placed under the others.
		seen := info.Holds[:0:0]
		for _, ref := range info.Holds {
			if visibleCases[ref] {
				seen = append(seen, ref)
			} else {
				info.OtherHolds++
			}
		}
		info.Holds = seen
	}
	return info
}

func showAll(caseState) (bool, bool) { return true, true }

// custodyState replays the custody log. The same replay builds the vault's
// index on start and checks the log's meaning during verification, so the two
// can never disagree about what the log says.
type custodyState struct {
	live    map[Digest]*objectState
	expired map[Digest]uint64 // object → sequence of its expire entry
	// byCase maps a case reference to the live objects one of whose cases
	// has it, in the order the case was attached, so that listing a case or
	// deciding an exclusive ingest does not scan every object.
	byCase map[string][]Digest
	// liveBytes and liveByKeyVersion total the live objects' sizes and count
	// them by key version, kept as objects come and go so that the inventory
	// an ingest reports (metrics, /status) does not scan every object under
	// the vault's lock.
	liveBytes        int64
	liveByKeyVersion map[uint32]int
}

func newCustodyState() *custodyState {
	return &custodyState{live: map[Digest]*objectState{}, expired: map[Digest]uint64{}, byCase: map[string][]Digest{},
		liveByKeyVersion: map[uint32]int{}}
}

// inventory is the number of live objects, their total size and how many are
// sealed under each key version.
func (s *custodyState) inventory() (int, int64, map[uint32]int) {
	return len(s.live), s.liveBytes, maps.Clone(s.liveByKeyVersion)
}

func (s *custodyState) indexCase(ref string, d Digest) {
	if !slices.Contains(s.byCase[ref], d) {
		s.byCase[ref] = append(s.byCase[ref], d)
	}
}

func (s *custodyState) unindex(o *objectState) {
	for _, c := range o.cases {
		ref := c.metadata.CaseReference
		rest := slices.DeleteFunc(s.byCase[ref], func(d Digest) bool { return d == o.digest })
		if len(rest) == 0 {
			delete(s.byCase, ref)
		} else {
			s.byCase[ref] = rest
		}
	}
}

// checkRelayed refuses what the vault never writes about who acted: a
// relayed entry (Via) that is not an ingest, names no relayed certificate or
// a relay without one, or whose actor is not its certificate's name; and
// onBehalfOf kept in recorded metadata (the vault records it as Cert).
func checkRelayed(e Entry) error {
	if e.Metadata != nil && e.Metadata.OnBehalfOf != nil {
		return fmt.Errorf("%s entry keeps onBehalfOf in its metadata; the vault records a relayed party as the entry's cert", e.Action)
	}
	if e.Via == nil {
		return nil
	}
	switch {
	case e.Action != ActionIngest:
		return fmt.Errorf("%s entry names a relay (via); only ingests are relayed", e.Action)
	case e.Via.Fingerprint == "" || e.Via.Name() == "":
		return fmt.Errorf("relayed ingest of %s: via names no relaying certificate", e.Object)
	case e.Cert == nil || e.Cert.Fingerprint == "" || e.Actor != e.Cert.Name():
		return fmt.Errorf("relayed ingest of %s: the actor must be the relayed party's certificate name (cert)", e.Object)
	}
	return nil
}

// apply folds one entry into the state. An error means the entry is
// inconsistent with the entries before it (for example an expiry before the
// retention ended); the state is left unchanged.
func (s *custodyState) apply(e Entry) error {
	if err := checkRelayed(e); err != nil {
		return err
	}
	if e.Action == ActionVerify || e.Action == ActionRecover {
		return nil
	}
	obj, live := s.live[e.Object]
	if e.Object == "" {
		return fmt.Errorf("%s entry names no object", e.Action)
	}
	switch e.Action {
	case ActionIngest:
		if e.Metadata == nil {
			return fmt.Errorf("ingest entry of %s carries no metadata", e.Object)
		}
		c := caseState{metadata: *e.Metadata, ingestSeq: e.Seq, ingestedAt: e.Time, ingestedBy: e.Actor, cert: e.Cert, via: e.Via}
		if e.Duplicate {
			if !live {
				return fmt.Errorf("duplicate ingest of %s, which is not a live object", e.Object)
			}
			if e.Attached {
				obj.changed = e.Seq
				obj.cases = append(obj.cases, c)
				if e.Metadata.Hold {
					obj.holds[e.Metadata.CaseReference] = true
				}
				s.indexCase(e.Metadata.CaseReference, e.Object)
			}
			return nil
		}
		if live {
			return fmt.Errorf("second ingest of live object %s is not marked duplicate", e.Object)
		}
		st := &objectState{digest: e.Object, size: e.Size, keyVersion: e.KeyVersion, cases: []caseState{c}, holds: map[string]bool{}, changed: e.Seq}
		if e.Metadata.Hold {
			st.holds[e.Metadata.CaseReference] = true
		}
		s.live[e.Object] = st
		s.liveBytes += st.size
		s.liveByKeyVersion[st.keyVersion]++
		delete(s.expired, e.Object)
		s.indexCase(e.Metadata.CaseReference, e.Object)
		return nil
	}
	if !live {
		return fmt.Errorf("%s of %s, which is not a live object", e.Action, e.Object)
	}
	obj.changed = e.Seq
	switch e.Action {
	case ActionHold:
		if obj.holds[e.Reference] {
			return fmt.Errorf("hold %q placed twice on %s", e.Reference, e.Object)
		}
		obj.holds[e.Reference] = true
	case ActionRelease:
		if !obj.holds[e.Reference] {
			return fmt.Errorf("release of hold %q, which is not placed on %s", e.Reference, e.Object)
		}
		delete(obj.holds, e.Reference)
	case ActionExpire:
		if len(obj.holds) > 0 {
			return fmt.Errorf("%s expired while under %d legal hold(s)", e.Object, len(obj.holds))
		}
		if until := obj.retentionUntil(); e.Time.Before(until) {
			return fmt.Errorf("%s expired at %s, before its retention ended at %s", e.Object,
				e.Time.Format(time.RFC3339), until.Format(time.RFC3339))
		}
		s.unindex(obj)
		delete(s.live, e.Object)
		s.liveBytes -= obj.size
		if s.liveByKeyVersion[obj.keyVersion]--; s.liveByKeyVersion[obj.keyVersion] == 0 {
			delete(s.liveByKeyVersion, obj.keyVersion)
		}
		s.expired[e.Object] = e.Seq
	case ActionRead, ActionExport:
		// Access is recorded; it changes nothing.
	}
	return nil
}
