package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// summarise counts the open and overdue received requests by channel, and the
// items shared for each joint investigation and the fetches by each party, from
// one listing of the gateway's objects.
func summarise(st *state, all []wire.Case, objects []vault.ObjectInfo, scanned time.Time) *wire.CasesSummary {
	type due struct {
		id  string
		due time.Time
	}
	byPeer := map[string]*wire.ChannelSummary{}
	overdue := map[string][]due{}
	for _, ch := range st.channels {
		byPeer[ch.Peer()] = &wire.ChannelSummary{Channel: ch.Name, Peer: ch.Peer()}
	}
	for _, c := range all {
		sum := byPeer[c.Peer]
		if c.Direction != "inbound" || c.State.Terminal() || sum == nil {
			continue
		}
		sum.Open++
		if c.Overdue {
			sum.Overdue++
			overdue[c.Peer] = append(overdue[c.Peer], due{c.RequestID, c.Due})
		}
	}
	out := &wire.CasesSummary{Scanned: scanned.UTC(), Channels: []wire.ChannelSummary{}}
	for peer, sum := range byPeer {
		late := overdue[peer]
		slices.SortFunc(late, func(a, b due) int { return a.due.Compare(b.due) })
		for i := 0; i < len(late) && i < wire.MaxSummaryIDs; i++ {
			sum.OverdueRequests = append(sum.OverdueRequests, late[i].id)
		}
		out.Channels = append(out.Channels, *sum)
	}
	for caseID := range st.joint {
		js := wire.JointSummary{CaseID: caseID, Fetched: map[string]int32{}}
		for _, o := range objects {
			for _, ci := range o.Cases {
				rest, ok := strings.CutPrefix(ci.Metadata.CaseReference, "joint/"+caseID+"/")
				switch {
				case !ok:
				case strings.HasPrefix(rest, "evidence/"):
					js.Items++
				case strings.HasPrefix(rest, "fetched/") && len(rest) > len("fetched/XX/"):
					js.Fetched[rest[len("fetched/"):len("fetched/")+2]]++
				}
			}
		}
		out.Joint = append(out.Joint, js)
	}
	slices.SortFunc(out.Joint, func(a, b wire.JointSummary) int { return strings.Compare(a.CaseID, b.CaseID) })
	slices.SortFunc(out.Channels, func(a, b wire.ChannelSummary) int {
		if a.Channel < b.Channel {
			return -1
		}
		if a.Channel > b.Channel {
			return 1
		}
		return 0
	})
	return out
}

// summaryMaxAge is how old a scan the summary answers with; an older one is
// redone first, so the vault is listed at most once per summaryMaxAge for it.
const summaryMaxAge = 15 * time.Second

// casesSummary is GET /v1/cases-summary, for the operator and officers: the
// latest scan's counts, rescanned first when older than summaryMaxAge. It reads
// no content.
func (s *Server) casesSummary(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c := s.identify(st, r)
	if !c.operator && !c.officer {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNotAnOfficer,
			Error: "the cases summary is for this State's operator and officers"}})
		return
	}
	if sum := s.lastScan.Load(); sum != nil && s.Now().Sub(sum.Scanned) < summaryMaxAge {
		writeJSON(w, http.StatusOK, sum)
		return
	}
	// One rescan at a time; the callers waiting meanwhile take its result.
	s.summaryMu.Lock()
	defer s.summaryMu.Unlock()
	if sum := s.lastScan.Load(); sum != nil && s.Now().Sub(sum.Scanned) < summaryMaxAge {
		writeJSON(w, http.StatusOK, sum)
		return
	}
	if st.vault == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	objects, err := st.vault.Objects(ctx)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	all, err := s.collect(ctx, st, objects)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	sum := summarise(st, all, objects, s.Now())
	s.lastScan.Store(sum)
	writeJSON(w, http.StatusOK, sum)
}
