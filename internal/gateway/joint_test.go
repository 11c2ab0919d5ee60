package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// TestJointInvestigationSharesWithExactlyItsParties: Viet Nam shares one item
// for a three-State joint investigation with France and Kenya. Both fetch it
// through their channels (each fetch a custody entry naming the party, before a
// byte leaves), France's gateway keeps what it fetched; Germany, which has a
// channel to Viet Nam but is no party, is told the case does not exist; after the
// end date nobody fetches anything.
func TestJointInvestigationSharesWithExactlyItsParties(t *testing.T) {
	clock := &shiftedClock{}
	withClock := func(s *Server) { s.Now = clock.Now }
	vn, _ := startCountry(t, "VN", withClock)
	fr, _ := startCountry(t, "FR", withClock)
	ke, _ := startCountry(t, "KE", withClock)
	de, _ := startCountry(t, "DE", withClock)
	vnToFR, vnToKE := vn.connect(fr, "Preservation"), vn.connect(ke, "Preservation")
	vn.connect(de, "Preservation")
	frToVN := fr.connect(vn, "Preservation")
	keToVN := ke.connect(vn, "Preservation")
	deToVN := de.connect(vn, "Preservation")
	const caseID = "JIT-2026-RANSOM-01"
	end := time.Now().Add(30 * 24 * time.Hour)
	vn.channels.JointInvestigations = []JointInvestigation{{CaseID: caseID, Agreement: "VN-FR-KE joint investigation agreement of 2026-11-02 (example)",
		Parties: []string{vnToFR, vnToKE}, EndDate: end}}
	vn.writeChannels()

	vnOfficer := vn.clientFor(vn.officer, vn.trustPool())
	item := []byte("server log excerpt, 2026-11-14, host hcv-fs01: ransom note dropped at 02:14:07 +07:00\n")
	sum := sha256.Sum256(item)
	digest := hex.EncodeToString(sum[:])
	status, body := vnOfficer.mustCall(http.MethodPost, wire.PathJoint+caseID+"/evidence", item)
	var shared wire.JointItem
	if status != http.StatusCreated || json.Unmarshal(body, &shared) != nil || shared.Digest != "sha256:"+digest {
		t.Fatalf("sharing: %d %s", status, body)
	}
	status, body = vnOfficer.mustCall(http.MethodPost, wire.PathJoint+"JIT-UNKNOWN/evidence", item)
	mustStatus(t, "sharing for an unknown case", status, body, http.StatusNotFound, wire.ReasonNotFound)

	for _, party := range []struct {
		c       *country
		channel string
	}{{fr, frToVN}, {ke, keToVN}} {
		direct := vn.clientFor(party.c.channelCert(party.channel), vn.trustPool())
		status, body := direct.mustCall(http.MethodGet, wire.PathJoint+caseID+"/evidence", nil)
		var items wire.JointItems
		if status != http.StatusOK || json.Unmarshal(body, &items) != nil || len(items.Items) != 1 || items.Items[0].Digest != "sha256:"+digest {
			t.Fatalf("%s lists: %d %s", party.c.code, status, body)
		}
		// Through its own gateway, as its officers do: checked and kept there.
		officer := party.c.clientFor(party.c.officer, party.c.trustPool())
		status, body = officer.mustCall(http.MethodGet, wire.PathOutbound+party.channel+"/joint/"+caseID+"/evidence/"+digest, nil)
		if status != http.StatusOK || string(body) != string(item) {
			t.Fatalf("%s fetches: %d %s", party.c.code, status, body)
		}
		if !holdsCase(t, party.c, "joint/"+caseID+"/from/VN/"+digest) {
			t.Errorf("%s's vault does not keep the item it fetched", party.c.code)
		}
	}
	// Each fetch is a custody entry at Viet Nam naming the party.
	for _, code := range []string{"FR", "KE"} {
		if !holdsCase(t, vn, "joint/"+caseID+"/fetched/"+code+"/"+digest) {
			t.Errorf("Viet Nam's vault has no record of %s's fetch", code)
		}
	}
	actors := map[string]bool{}
	rep, err := vn.vault.CustodyReport(t.Context(), vault.ReportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Entries {
		if e.Metadata != nil && strings.Contains(e.Metadata.CaseReference, "/fetched/") {
			actors[e.Actor] = true
		}
	}
	for _, code := range []string{"FR", "KE"} {
		found := false
		for a := range actors {
			found = found || strings.Contains(a, code+" channel to VN")
		}
		if !found {
			t.Errorf("no fetch record names %s's channel as actor: %v", code, actors)
		}
	}

	// The summary the operator reads counts the item and each party's fetches.
	st := vn.gw.current.Load()
	objects, err := st.vault.Objects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	summary := summarise(st, nil, objects, time.Now())
	if len(summary.Joint) != 1 || summary.Joint[0].Items != 1 || summary.Joint[0].Fetched["FR"] != 1 || summary.Joint[0].Fetched["KE"] != 1 {
		t.Fatalf("joint summary %+v", summary.Joint)
	}

	// Germany is no party: the case does not exist for it.
	germany := vn.clientFor(de.channelCert(deToVN), vn.trustPool())
	for _, path := range []string{wire.PathJoint + caseID + "/evidence", wire.PathJoint + caseID + "/evidence/" + digest} {
		status, body := germany.mustCall(http.MethodGet, path, nil)
		mustStatus(t, "Germany: "+path, status, body, http.StatusNotFound, wire.ReasonNotFound)
	}
	if holdsCase(t, vn, "joint/"+caseID+"/fetched/DE/"+digest) {
		t.Error("a refused fetch left a record as if it had happened")
	}
	// After the end date nothing is shared or fetched.
	clock.advanceTo(31 * 24 * time.Hour)
	status, body = vn.clientFor(fr.channelCert(frToVN), vn.trustPool()).mustCall(http.MethodGet, wire.PathJoint+caseID+"/evidence/"+digest, nil)
	mustStatus(t, "fetching after the end date", status, body, http.StatusForbidden, wire.ReasonJointInvestigationEnded)
	status, body = vnOfficer.mustCall(http.MethodPost, wire.PathJoint+caseID+"/evidence", []byte("late"))
	mustStatus(t, "sharing after the end date", status, body, http.StatusForbidden, wire.ReasonJointInvestigationEnded)
}

// holdsCase reports whether c's vault lists an object under caseRef.
func holdsCase(t *testing.T, c *country, caseRef string) bool {
	t.Helper()
	objects, err := c.vault.List(vault.SystemIdentity)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		for _, ci := range o.Cases {
			if ci.Metadata.CaseReference == caseRef {
				return true
			}
		}
	}
	return false
}
