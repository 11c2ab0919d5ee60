/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"errors"
	"fmt"
)

// RotationPhase is the recorded progress of a CA key replacement. The caller
// stores it in status (or an annotation) so a restarted operator resumes the
// rollout where it stopped. Each phase names what is already true.
type RotationPhase string

const (
	// RotationIdle: no replacement under way; the trust bundle holds the
	// active CA and leaves are issued from it. The empty string reads as Idle.
	RotationIdle RotationPhase = "Idle"
	// RotationBundleExtended: the new CA exists and the published trust
	// bundle holds the old and the new CA. Leaves are still issued from the
	// old CA, because some consumers may not trust the new one yet.
	RotationBundleExtended RotationPhase = "BundleExtended"
	// RotationBundleObserved: every consumer reported a bundle with the new
	// CA, so leaves are now issued from the new CA (and re-issued because
	// they are not signed by it).
	RotationBundleObserved RotationPhase = "BundleObserved"
	// RotationLeavesReissued: every leaf is signed by the new CA, but the
	// workloads serving them may still present the old leaves: a mounted
	// Secret reaches a running pod only after a delay. The caller rolls those
	// workloads out so that they load the re-issued leaves; the old CA is
	// pruned from the bundle once every one of them has.
	RotationLeavesReissued RotationPhase = "LeavesReissued"
)

// SignsWithNewCA reports whether, in phase p, leaves are decided against and
// issued from the new CA rather than the active one. Leaf reconcilers call it
// with the recorded phase.
func (p RotationPhase) SignsWithNewCA() bool {
	return p == RotationBundleObserved || p == RotationLeavesReissued
}

// RotationAction is the one thing the caller must do in a step. Every action
// is idempotent, so repeating it after a crash is harmless.
type RotationAction string

const (
	// RotationNoAction: nothing to do.
	RotationNoAction RotationAction = "None"
	// RotationCreateNewCA: create the new CA (CreateCA) and store it beside
	// the old one, without publishing it. Skipped by NextRotationStep when
	// the observation says it is already stored.
	RotationCreateNewCA RotationAction = "CreateNewCA"
	// RotationDiscardNewCA: delete a new CA that was stored but never
	// published, because the replacement is no longer requested.
	RotationDiscardNewCA RotationAction = "DiscardNewCA"
	// RotationPublishBothCAs: write the trust bundle with the old and the new
	// CA.
	RotationPublishBothCAs RotationAction = "PublishBothCAs"
	// RotationWaitForConsumers: wait until every consumer reports the new CA
	// in its bundle; requeue on the consumers' status, not on a timer.
	RotationWaitForConsumers RotationAction = "WaitForConsumers"
	// RotationSignWithNewCA: from now on decide and issue leaves against the
	// new CA; DecideLeaf will return NotSignedByCurrentCA for every old leaf.
	RotationSignWithNewCA RotationAction = "SignWithNewCA"
	// RotationWaitForLeaves: wait until every leaf is signed by the new CA.
	RotationWaitForLeaves RotationAction = "WaitForLeaves"
	// RotationWaitForLeafConsumers: wait until every workload serving a leaf
	// presents the re-issued one (e.g. has rolled out a pod template naming
	// the leaves' fingerprints); requeue on the workloads' status. Until then
	// a pod may still present a leaf signed by the old CA, so pruning the old
	// CA would leave consumers unable to verify it.
	RotationWaitForLeafConsumers RotationAction = "WaitForLeafConsumers"
	// RotationPruneOldCA: write the bundle with the new CA only, then promote
	// the new CA to the active CA (replacing the old key pair) and empty the
	// new CA's slot, in that order.
	RotationPruneOldCA RotationAction = "PruneOldCA"
)

// RotationObservation is what the caller sees in the cluster right now. It is
// read fresh on every call, never carried over from the previous step.
//
// "Old CA" is the CA stored as the active CA; "new CA" is the replacement
// stored beside it (e.g. a second Secret, or extra keys of the CA Secret)
// until RotationPruneOldCA promotes it to the active CA and empties its slot.
type RotationObservation struct {
	// ReplaceRequested: DecideCA returned CAReplaceKey for the active CA.
	// Only read in RotationIdle; a rollout under way finishes regardless.
	ReplaceRequested bool
	// NewCAStored: the new (replacement) CA key pair is stored.
	NewCAStored bool
	// BundleHasOldCA and BundleHasNewCA: the published trust bundle holds the
	// old and the new CA certificate.
	BundleHasOldCA bool
	BundleHasNewCA bool
	// ConsumersHaveNewCA: every consumer of the bundle reports (e.g. in its
	// status) that it loaded a bundle holding the new CA.
	ConsumersHaveNewCA bool
	// LeavesSignedByNewCA: every leaf of this CA is signed by the new CA.
	LeavesSignedByNewCA bool
	// LeavesObserved: every workload serving a leaf of this CA presents the
	// leaf as stored now, not an older copy (read fresh: a re-issued leaf
	// is not observed until its workloads have loaded it again).
	LeavesObserved bool
}

// RotationStep is what NextRotationStep asks of the caller: perform Action,
// and only once it succeeded, record Phase. A crash between the two re-runs
// the same (idempotent) step after restart.
type RotationStep struct {
	Action RotationAction
	// Phase is the phase to record after Action succeeded; it equals the
	// current phase while waiting.
	Phase RotationPhase
	// SignWithNewCA says which CA leaves are decided against and issued from
	// while in Phase: the new CA from RotationBundleObserved on, the old (the
	// active) CA otherwise. In RotationIdle there is only the active CA.
	SignWithNewCA bool
	// Message describes the step for a condition or event.
	Message string
}

// NextRotationStep is the transition function of the CA key replacement
// rollout: Idle → BundleExtended → BundleObserved → LeavesReissued → Idle.
// Each wait is for every consumer: the old and new CA are published before any
// leaf is signed by the new one, and the old CA is pruned only after every
// workload presents a leaf signed by the new one.
// It is pure and safe to call repeatedly with the recorded phase after a
// restart at any point: a phase only advances once the observation shows its
// precondition, and observations that contradict the phase (a bundle
// overwritten, a new CA deleted before any leaf used it, an old leaf restored)
// lead back to the action that repairs them. It returns an error for an
// unknown phase and when the new CA's key is gone while leaves may be signed
// by it, which needs a person.
//
// Record the force-replace token (CAInput.RecordedForceReplaceToken) when
// recording RotationBundleExtended, so that ReplaceRequested is false again
// once the rollout is back in RotationIdle.
func NextRotationStep(phase RotationPhase, obs RotationObservation) (RotationStep, error) {
	step := func(a RotationAction, p RotationPhase, format string, args ...any) (RotationStep, error) {
		// During PruneOldCA the new CA still sits in its own slot until the
		// promotion; afterwards it is the only CA.
		signNew := p.SignsWithNewCA() || a == RotationPruneOldCA
		return RotationStep{Action: a, Phase: p, SignWithNewCA: signNew, Message: fmt.Sprintf(format, args...)}, nil
	}
	switch phase {
	case "", RotationIdle:
		switch {
		case !obs.ReplaceRequested && obs.NewCAStored:
			return step(RotationDiscardNewCA, RotationIdle, "CA key replacement no longer requested: discarding the unpublished new CA")
		case !obs.ReplaceRequested:
			return step(RotationNoAction, RotationIdle, "no CA key replacement under way")
		case !obs.NewCAStored:
			return step(RotationCreateNewCA, RotationIdle, "CA key replacement requested: creating the new CA")
		}
		return step(RotationPublishBothCAs, RotationBundleExtended, "publishing the old and the new CA in the trust bundle")

	case RotationBundleExtended:
		switch {
		case !obs.NewCAStored:
			// Nothing has been signed by the lost new CA yet; a bundle entry
			// for it is harmless and is replaced when publishing again.
			return step(RotationCreateNewCA, RotationBundleExtended, "the new CA is missing before any leaf used it: creating it again")
		case !obs.BundleHasOldCA || !obs.BundleHasNewCA:
			return step(RotationPublishBothCAs, RotationBundleExtended, "the trust bundle lacks the old or the new CA: publishing both again")
		case !obs.ConsumersHaveNewCA:
			return step(RotationWaitForConsumers, RotationBundleExtended, "waiting for every consumer to load the trust bundle with the new CA")
		}
		return step(RotationSignWithNewCA, RotationBundleObserved, "every consumer trusts the new CA: re-issuing leaves from it")

	case RotationBundleObserved:
		switch {
		case !obs.NewCAStored:
			return RotationStep{}, errors.New("CA key replacement in phase BundleObserved: the new CA's key pair is missing although leaves may already be signed by it; restore it from a backup")
		case !obs.BundleHasOldCA || !obs.BundleHasNewCA:
			// Leaves signed by the old CA are still served until re-issued,
			// so both CAs stay trusted until every leaf is signed by the new.
			return step(RotationPublishBothCAs, RotationBundleObserved, "the trust bundle lacks the old or the new CA: publishing both again")
		case !obs.LeavesSignedByNewCA:
			return step(RotationWaitForLeaves, RotationBundleObserved, "waiting for every leaf to be re-issued from the new CA")
		}
		return step(RotationNoAction, RotationLeavesReissued, "every leaf is signed by the new CA")

	case RotationLeavesReissued:
		switch {
		case !obs.NewCAStored:
			// PruneOldCA promotes the new CA to the active CA and empties its
			// slot; only a crash before recording Idle lands here.
			return step(RotationNoAction, RotationIdle, "the new CA was already promoted to the active CA")
		case !obs.LeavesSignedByNewCA:
			// A leaf signed by the old CA appeared again (e.g. restored from
			// a backup): go back and re-issue it before pruning.
			return NextRotationStep(RotationBundleObserved, obs)
		case !obs.LeavesObserved && (!obs.BundleHasOldCA || !obs.BundleHasNewCA):
			// Someone overwrote the bundle while old leaves may still be
			// presented. (Once the leaves are observed, a bundle without the
			// old CA is our own prune, interrupted before it was recorded.)
			return step(RotationPublishBothCAs, RotationLeavesReissued, "the trust bundle lacks the old or the new CA while the re-issued leaves are not loaded everywhere: publishing both again")
		case !obs.LeavesObserved:
			return step(RotationWaitForLeafConsumers, RotationLeavesReissued, "waiting for every workload to load the leaves re-issued from the new CA")
		}
		return step(RotationPruneOldCA, RotationIdle, "pruning the old CA from the trust bundle; the new CA becomes the active CA")
	}
	return RotationStep{}, fmt.Errorf("CA key replacement: unknown phase %q (expected Idle, BundleExtended, BundleObserved or LeavesReissued)", string(phase))
}
