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
	metadata   Metadata
	ingestSeq  uint64
	ingestedAt time.Time
	ingestedBy string
	holds      map[string]bool // hold reference → held
}

// ObjectInfo describes a live object.
type ObjectInfo struct {
	Digest         Digest    `json:"digest"`
	Size           int64     `json:"size"`
	KeyVersion     uint32    `json:"keyVersion"`
	IngestSequence uint64    `json:"ingestSequence"`
	IngestedAt     time.Time `json:"ingestedAt"`
	IngestedBy     string    `json:"ingestedBy"`
	Metadata       Metadata  `json:"metadata"`
	// Holds lists the references of the legal holds in force, sorted.
	Holds []string `json:"holds"`
}

func (s *objectState) info() ObjectInfo {
	return ObjectInfo{
		Digest: s.digest, Size: s.size, KeyVersion: s.keyVersion,
		IngestSequence: s.ingestSeq, IngestedAt: s.ingestedAt, IngestedBy: s.ingestedBy,
		Metadata: s.metadata, Holds: slices.Sorted(maps.Keys(s.holds)),
	}
}

// custodyState replays the custody log. The same replay builds the vault's
// index on start and checks the log's meaning during verification, so the two
// can never disagree about what the log says.
type custodyState struct {
	live    map[Digest]*objectState
	expired map[Digest]uint64 // object → sequence of its expire entry
}

func newCustodyState() *custodyState {
	return &custodyState{live: map[Digest]*objectState{}, expired: map[Digest]uint64{}}
}

// apply folds one entry into the state. An error means the entry is
// inconsistent with the entries before it (for example an expiry before the
// retention ended); the state is left unchanged.
func (s *custodyState) apply(e Entry) error {
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
		if e.Duplicate {
			if !live {
				return fmt.Errorf("duplicate ingest of %s, which is not a live object", e.Object)
			}
			return nil
		}
		if live {
			return fmt.Errorf("second ingest of live object %s is not marked duplicate", e.Object)
		}
		st := &objectState{
			digest: e.Object, size: e.Size, keyVersion: e.KeyVersion, metadata: *e.Metadata,
			ingestSeq: e.Seq, ingestedAt: e.Time, ingestedBy: e.Actor, holds: map[string]bool{},
		}
		if e.Metadata.Hold {
			st.holds[e.Metadata.CaseReference] = true
		}
		s.live[e.Object] = st
		delete(s.expired, e.Object)
		return nil
	}
	if !live {
		return fmt.Errorf("%s of %s, which is not a live object", e.Action, e.Object)
	}
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
			return fmt.Errorf("%s expired while under legal hold %v", e.Object, slices.Sorted(maps.Keys(obj.holds)))
		}
		if e.Time.Before(obj.metadata.RetentionUntil) {
			return fmt.Errorf("%s expired at %s, before its retention ended at %s", e.Object,
				e.Time.Format(time.RFC3339), obj.metadata.RetentionUntil.Format(time.RFC3339))
		}
		delete(s.live, e.Object)
		s.expired[e.Object] = e.Seq
	case ActionRead, ActionExport:
		// Access is recorded; it changes nothing.
	}
	return nil
}
