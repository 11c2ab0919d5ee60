/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNextRotationStep(t *testing.T) {
	type obs = RotationObservation
	both := obs{NewCAStored: true, BundleHasOldCA: true, BundleHasNewCA: true}
	plus := func(o obs, f func(*obs)) obs { f(&o); return o }
	for _, tc := range []struct {
		name    string
		phase   RotationPhase
		obs     obs
		action  RotationAction
		next    RotationPhase
		signNew bool
		err     string
	}{
		{"idle, nothing requested", RotationIdle, obs{}, RotationNoAction, RotationIdle, false, ""},
		{"empty phase reads as idle", "", obs{}, RotationNoAction, RotationIdle, false, ""},
		{"idle, request withdrawn after new CA created", RotationIdle, obs{NewCAStored: true}, RotationDiscardNewCA, RotationIdle, false, ""},
		{"idle, replacement requested", RotationIdle, obs{ReplaceRequested: true}, RotationCreateNewCA, RotationIdle, false, ""},
		{"idle, new CA created", RotationIdle, obs{ReplaceRequested: true, NewCAStored: true}, RotationPublishBothCAs, RotationBundleExtended, false, ""},
		{"idle re-entered after publishing", "", plus(both, func(o *obs) { o.ReplaceRequested = true }), RotationPublishBothCAs, RotationBundleExtended, false, ""},

		{"extended, new CA lost before use", RotationBundleExtended, obs{BundleHasOldCA: true, BundleHasNewCA: true}, RotationCreateNewCA, RotationBundleExtended, false, ""},
		{"extended, bundle overwritten", RotationBundleExtended, obs{NewCAStored: true, BundleHasOldCA: true}, RotationPublishBothCAs, RotationBundleExtended, false, ""},
		{"extended, old CA dropped from bundle", RotationBundleExtended, obs{NewCAStored: true, BundleHasNewCA: true}, RotationPublishBothCAs, RotationBundleExtended, false, ""},
		{"extended, consumers lag", RotationBundleExtended, both, RotationWaitForConsumers, RotationBundleExtended, false, ""},
		{"extended, consumers have it", RotationBundleExtended, plus(both, func(o *obs) { o.ConsumersHaveNewCA = true }), RotationSignWithNewCA, RotationBundleObserved, true, ""},
		{"extended, request withdrawn mid-rollout is ignored", RotationBundleExtended, plus(both, func(o *obs) { o.ConsumersHaveNewCA = true; o.ReplaceRequested = false }), RotationSignWithNewCA, RotationBundleObserved, true, ""},

		{"observed, new CA lost", RotationBundleObserved, obs{BundleHasOldCA: true, BundleHasNewCA: true}, "", "", false, "restore it from a backup"},
		{"observed, bundle overwritten", RotationBundleObserved, obs{NewCAStored: true, BundleHasNewCA: true}, RotationPublishBothCAs, RotationBundleObserved, true, ""},
		{"observed, leaves pending", RotationBundleObserved, both, RotationWaitForLeaves, RotationBundleObserved, true, ""},
		{"observed, leaves done", RotationBundleObserved, plus(both, func(o *obs) { o.LeavesSignedByNewCA = true }), RotationNoAction, RotationLeavesReissued, true, ""},

		{"reissued, leaves not yet loaded by their workloads", RotationLeavesReissued, plus(both, func(o *obs) { o.LeavesSignedByNewCA = true }), RotationWaitForLeafConsumers, RotationLeavesReissued, true, ""},
		{"reissued, leaves loaded: prune", RotationLeavesReissued, plus(both, func(o *obs) { o.LeavesSignedByNewCA = true; o.LeavesObserved = true }), RotationPruneOldCA, RotationIdle, true, ""},
		{"reissued, bundle already pruned", RotationLeavesReissued, obs{NewCAStored: true, BundleHasNewCA: true, LeavesSignedByNewCA: true, LeavesObserved: true}, RotationPruneOldCA, RotationIdle, true, ""},
		{"reissued, bundle overwritten before the leaves were loaded", RotationLeavesReissued, obs{NewCAStored: true, BundleHasNewCA: true, LeavesSignedByNewCA: true}, RotationPublishBothCAs, RotationLeavesReissued, true, ""},
		{"reissued, leaves observed but bundle lost the new CA", RotationLeavesReissued, obs{NewCAStored: true, BundleHasOldCA: true, LeavesSignedByNewCA: true, LeavesObserved: true}, RotationPruneOldCA, RotationIdle, true, ""},
		{"reissued, crash after promotion", RotationLeavesReissued, obs{BundleHasOldCA: true}, RotationNoAction, RotationIdle, false, ""},
		{"reissued, old leaf restored", RotationLeavesReissued, both, RotationWaitForLeaves, RotationBundleObserved, true, ""},
		{"reissued, old leaf restored and bundle overwritten", RotationLeavesReissued, obs{NewCAStored: true, BundleHasNewCA: true}, RotationPublishBothCAs, RotationBundleObserved, true, ""},

		{"unknown phase", "Rotating", obs{}, "", "", false, `unknown phase "Rotating"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, err := NextRotationStep(tc.phase, tc.obs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if step.Action != tc.action || step.Phase != tc.next || step.SignWithNewCA != tc.signNew {
				t.Errorf("step = %s → %s (signNew %v), want %s → %s (signNew %v)", step.Action, step.Phase, step.SignWithNewCA, tc.action, tc.next, tc.signNew)
			}
			if step.Message == "" {
				t.Error("empty message")
			}
			again, _ := NextRotationStep(tc.phase, tc.obs)
			if again != step {
				t.Errorf("second call gave %+v, first %+v", again, step)
			}
		})
	}
}

// rolloutWorld is an abstract cluster for the rotation state machine: CAs are
// names, consumers load the published bundle one at a time, a leaf
// reconciler re-issues one leaf per tick, and the servers present the leaves
// they loaded, picking up a re-issued leaf one server per tick (as a mounted
// Secret reaches running pods with a delay).
type rolloutWorld struct {
	active, pending string
	bundle          map[string]bool
	consumers       []map[string]bool
	leaves          []string      // signer of each stored leaf
	served          []string      // signer of the leaf each server presents
	phase           RotationPhase // as recorded in status
	tokenRecorded   bool
	created         int
	tick            int
}

func newRolloutWorld() *rolloutWorld {
	w := &rolloutWorld{active: "ca-0", bundle: map[string]bool{"ca-0": true}, phase: RotationIdle, leaves: []string{"ca-0", "ca-0", "ca-0"}, served: []string{"ca-0", "ca-0", "ca-0"}}
	for range 3 {
		w.consumers = append(w.consumers, map[string]bool{"ca-0": true})
	}
	return w
}

func (w *rolloutWorld) observe() RotationObservation {
	o := RotationObservation{
		ReplaceRequested: !w.tokenRecorded,
		NewCAStored:      w.pending != "",
		BundleHasOldCA:   w.bundle[w.active],
		BundleHasNewCA:   w.pending != "" && w.bundle[w.pending],
	}
	o.ConsumersHaveNewCA = o.NewCAStored && !slices.ContainsFunc(w.consumers, func(c map[string]bool) bool { return !c[w.pending] })
	o.LeavesSignedByNewCA = o.NewCAStored && !slices.ContainsFunc(w.leaves, func(s string) bool { return s != w.pending })
	o.LeavesObserved = slices.Equal(w.served, w.leaves)
	return o
}

func (w *rolloutWorld) perform(a RotationAction) {
	switch a {
	case RotationCreateNewCA:
		w.created++
		w.pending = fmt.Sprintf("ca-%d", w.created)
	case RotationDiscardNewCA:
		w.pending = ""
	case RotationPublishBothCAs:
		w.bundle = map[string]bool{w.active: true, w.pending: true}
	case RotationPruneOldCA:
		w.bundle = map[string]bool{w.pending: true}
		w.active, w.pending = w.pending, ""
	}
}

// step runs one reconcile of every actor. When crash is true the controller
// performs its action but dies before recording the phase.
func (w *rolloutWorld) step(t *testing.T, crash bool) {
	t.Helper()
	w.tick++
	loadable := slices.Clone(w.leaves) // a leaf stored in this tick reaches servers later
	s, err := NextRotationStep(w.phase, w.observe())
	if err != nil {
		t.Fatalf("tick %d: %v", w.tick, err)
	}
	w.perform(s.Action)
	if !crash {
		if w.phase == RotationIdle && s.Phase == RotationBundleExtended {
			w.tokenRecorded = true
		}
		w.phase = s.Phase
	}
	signer := w.active
	if w.phase.SignsWithNewCA() && w.pending != "" {
		signer = w.pending
	}
	if i := slices.IndexFunc(w.leaves, func(s string) bool { return s != signer }); i >= 0 {
		w.leaves[i] = signer
	}
	c := w.consumers[w.tick%len(w.consumers)]
	clear(c)
	maps.Copy(c, w.bundle)
	i := w.tick % len(w.served)
	w.served[i] = loadable[i]

	// Every presented leaf is trusted by every consumer, and signed by a CA
	// whose key is still stored.
	for _, leafCA := range w.served {
		if leafCA != w.active && leafCA != w.pending {
			t.Fatalf("tick %d: a leaf is signed by %s, whose key is gone", w.tick, leafCA)
		}
		for i, c := range w.consumers {
			if !c[leafCA] {
				t.Fatalf("tick %d (phase %s, action %s): consumer %d does not trust %s, which signed a leaf", w.tick, w.phase, s.Action, i, leafCA)
			}
		}
	}
}

func (w *rolloutWorld) done() bool {
	return w.tokenRecorded && w.phase == RotationIdle && w.pending == "" && w.active != "ca-0" &&
		len(w.bundle) == 1 && w.bundle[w.active] &&
		!slices.ContainsFunc(w.leaves, func(s string) bool { return s != w.active }) &&
		slices.Equal(w.served, w.leaves) &&
		!slices.ContainsFunc(w.consumers, func(c map[string]bool) bool { return len(c) != 1 || !c[w.active] })
}

// TestRotationRolloutSurvivesRestarts drives the rollout to completion while
// the controller dies after acting and before recording, at each single tick
// and at every other tick, so every phase is re-entered with its action
// already performed. Trust must never break and the rollout must finish with
// exactly one new CA.
func TestRotationRolloutSurvivesRestarts(t *testing.T) {
	clean := newRolloutWorld()
	for !clean.done() {
		if clean.tick > 100 {
			t.Fatal("rollout without restarts did not finish")
		}
		clean.step(t, false)
	}
	type crashPlan struct {
		name    string
		crashAt func(tick int) bool
	}
	plans := []crashPlan{{"every other tick", func(tick int) bool { return tick%2 == 1 }}}
	for at := 1; at <= clean.tick; at++ {
		plans = append(plans, crashPlan{fmt.Sprintf("tick %02d", at), func(tick int) bool { return tick == at }})
	}
	reentered := map[RotationPhase]bool{}
	for _, plan := range plans {
		t.Run(plan.name, func(t *testing.T) {
			w := newRolloutWorld()
			for !w.done() {
				if w.tick > 200 {
					t.Fatalf("rollout did not finish; stuck in phase %s with %+v", w.phase, w.observe())
				}
				crash := plan.crashAt(w.tick + 1)
				if crash {
					reentered[w.phase] = true
				}
				w.step(t, crash)
			}
			if w.created != 1 {
				t.Errorf("%d new CAs were created, want 1", w.created)
			}
		})
	}
	for _, p := range []RotationPhase{RotationIdle, RotationBundleExtended, RotationBundleObserved, RotationLeavesReissued} {
		if !reentered[p] {
			t.Errorf("phase %s was never re-entered after a restart", p)
		}
	}
}

// TestKeyReplacementRollout runs the rollout with real certificates: the CA
// decision requests it, leaves are decided with DecideLeaf against the CA
// the phase names, servers present a re-issued leaf only propagationTicks
// after it was issued (the kubelet's delay), and every presented leaf
// verifies against every consumer's bundle at every step.
func TestKeyReplacementRollout(t *testing.T) {
	spec := testCASpec()
	oldCA := mustCA(t, spec, t0)
	leafSpecs := []LeafSpec{testLeafSpec(), testLeafSpec()}
	leafSpecs[1].CommonName, leafSpecs[1].Usages = "channel-gh", []Usage{UsageClient}
	leaves := make([]*KeyPair, len(leafSpecs))
	for i, s := range leafSpecs {
		leaves[i] = &mustLeaf(t, oldCA, s, t0).KeyPair
	}
	const propagationTicks = 3
	stored := [][]*KeyPair{slices.Clone(leaves)} // the leaves as stored after each tick
	served := slices.Clone(leaves)               // what the servers present
	active, pending := oldCA, (*KeyPair)(nil)
	published, _ := NewTrustBundle(oldCA.Certificate)
	consumers := []*TrustBundle{published, published}
	phase, recordedToken := RotationIdle, ""
	now := t0.Add(day)

	for tick := 0; ; tick++ {
		if tick > 40 {
			t.Fatalf("rollout stuck in phase %s", phase)
		}
		now = now.Add(time.Minute)
		caDecision, err := DecideCA(CAInput{Current: active, Spec: spec, ForceReplaceToken: "rotate-1", RecordedForceReplaceToken: recordedToken}, now)
		if err != nil {
			t.Fatal(err)
		}
		obs := RotationObservation{
			ReplaceRequested: caDecision.Action == CAReplaceKey,
			NewCAStored:      pending != nil,
			BundleHasOldCA:   published.Contains(active.Certificate),
		}
		if pending != nil {
			obs.BundleHasNewCA = published.Contains(pending.Certificate)
			obs.ConsumersHaveNewCA = !slices.ContainsFunc(consumers, func(b *TrustBundle) bool { return !b.Contains(pending.Certificate) })
			obs.LeavesSignedByNewCA = !slices.ContainsFunc(leaves, func(l *KeyPair) bool { return l.Certificate.CheckSignatureFrom(pending.Certificate) != nil })
		}
		obs.LeavesObserved = slices.Equal(served, leaves)
		if phase == RotationIdle && tick > 0 && !obs.ReplaceRequested && pending == nil {
			break
		}
		step, err := NextRotationStep(phase, obs)
		if err != nil {
			t.Fatal(err)
		}
		switch step.Action {
		case RotationCreateNewCA:
			pending = mustCA(t, spec, now)
		case RotationPublishBothCAs:
			published, _ = NewTrustBundle(active.Certificate, pending.Certificate)
		case RotationPruneOldCA:
			published, _ = NewTrustBundle(pending.Certificate)
			active, pending = pending, nil
		}
		if phase == RotationIdle && step.Phase == RotationBundleExtended {
			recordedToken = "rotate-1"
		}
		phase = step.Phase

		signing := active
		if phase.SignsWithNewCA() && pending != nil {
			signing = pending
		}
		for i, s := range leafSpecs {
			d, err := DecideLeaf(LeafInput{Current: &LeafSecret{KeyPair: *leaves[i]}, CA: signing.Certificate, Spec: s}, now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action == LeafIssue {
				if d.Reason != ReasonNotSignedByCurrentCA {
					t.Errorf("leaf %d re-issued for %s, want %s", i, d.Reason, ReasonNotSignedByCurrentCA)
				}
				leaves[i] = &mustLeaf(t, signing, s, now).KeyPair
				break // one leaf per tick, so consumers are checked in between
			}
		}
		consumers[tick%len(consumers)] = published
		stored = append(stored, slices.Clone(leaves))
		served = stored[max(0, len(stored)-1-propagationTicks)]
		for i, l := range served {
			for j, c := range consumers {
				if err := c.Verify(l.Certificate, leafSpecs[i].Usages[0], now); err != nil {
					t.Fatalf("tick %d, phase %s: leaf %d does not verify for consumer %d: %v", tick, phase, i, j, err)
				}
			}
		}
	}
	if active == oldCA || published.Len() != 1 || !published.Contains(active.Certificate) {
		t.Error("rollout ended without the new CA as the only trusted CA")
	}
}
