package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// maxRotationSteps bounds the rotation steps of one reconcile. A full rollout takes at
// most five; the rest waits for consumers and leaves, which watches report.
const maxRotationSteps = 8

// advanceRotation takes the CA key replacement's steps (pki.NextRotationStep) until it
// has to wait for consumers or leaves, or there is nothing to do. Every action is
// stored before its phase is recorded, and both live on the CA Secret, so a restart at
// any point repeats at most one idempotent action.
func (k *Keeper) advanceRotation(ctx context.Context, a Authority, st *State, now time.Time) error {
	for range maxRotationSteps {
		obs, err := k.observeRotation(ctx, a, st, now)
		if err != nil {
			return err
		}
		phase := st.Phase()
		step, err := pki.NextRotationStep(phase, obs)
		if err != nil {
			return err
		}
		st.RotationMessage = step.Message
		if step.Action == pki.RotationWaitForConsumers && len(st.WaitingForPeers) > 0 {
			st.RotationMessage += fmt.Sprintf("; waiting for %d peer(s) to accept the new CA: %s", len(st.WaitingForPeers), strings.Join(st.WaitingForPeers, ", "))
		}
		switch step.Action {
		case pki.RotationNoAction, pki.RotationWaitForConsumers, pki.RotationWaitForLeaves, pki.RotationWaitForLeafConsumers:
			if step.Phase == phase {
				return nil
			}
		case pki.RotationCreateNewCA:
			kp, err := pki.CreateCA(a.Spec, now)
			if err != nil {
				return err
			}
			if err := setKeyPair(st.data, kp, NextCACertKey, NextCAKeyKey); err != nil {
				return err
			}
			if st.StartedAt() == nil {
				st.ann[RotationStartedAtAnnotation] = now.UTC().Format(time.RFC3339)
			}
		case pki.RotationDiscardNewCA:
			delete(st.data, NextCACertKey)
			delete(st.data, NextCAKeyKey)
			delete(st.ann, RotationStartedAtAnnotation)
		case pki.RotationPublishBothCAs:
			if err := k.PublishBundle(ctx, a, st, now, st.activeCert, st.next.Certificate); err != nil {
				return err
			}
			if step.Phase == pki.RotationBundleExtended && a.ForceReplaceToken != "" {
				// The token is acted on: recording it ends the request once the rollout is done.
				st.ann[ForceReplaceRecordedAnnotation] = a.ForceReplaceToken
			}
		case pki.RotationSignWithNewCA:
		case pki.RotationPruneOldCA:
			if err := k.PublishBundle(ctx, a, st, now, st.next.Certificate); err != nil {
				return err
			}
			st.data[pki.TLSCertKey], st.data[pki.TLSPrivateKeyKey] = st.data[NextCACertKey], st.data[NextCAKeyKey]
			delete(st.data, NextCACertKey)
			delete(st.data, NextCAKeyKey)
			st.ann[certs.CAGenerationAnnotation] = strconv.FormatInt(st.Generation()+1, 10)
			delete(st.ann, RotationStartedAtAnnotation)
			delete(st.ann, certs.RepairedAnnotation)
		default:
			return fmt.Errorf("CA key replacement: unknown action %q", step.Action)
		}
		st.ann[RotationPhaseAnnotation] = string(step.Phase)
		if err := k.store(ctx, a, st); err != nil {
			return err
		}
		if step.Action != pki.RotationNoAction || step.Phase != phase {
			k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCARotation, "RotateCA",
				"CA key replacement (%s → %s): %s", phase, step.Phase, step.Message)
			log.FromContext(ctx).Info("CA key replacement step", "action", step.Action, "from", phase, "to", step.Phase, "caGeneration", st.Generation())
		}
	}
	return nil
}

// observeRotation is pki.RotationObservation read from the state and the cluster.
func (k *Keeper) observeRotation(ctx context.Context, a Authority, st *State, now time.Time) (pki.RotationObservation, error) {
	obs := pki.RotationObservation{NewCAStored: st.next != nil}
	if st.Phase() == pki.RotationIdle {
		dec, err := decideCA(a, st, now)
		if err != nil {
			return obs, err
		}
		obs.ReplaceRequested = dec.Action == pki.CAReplaceKey
	}
	if st.bundle != nil {
		obs.BundleHasOldCA = st.activeCert != nil && st.bundle.Contains(st.activeCert)
		obs.BundleHasNewCA = st.next != nil && st.bundle.Contains(st.next.Certificate)
	}
	if st.next == nil {
		return obs, nil
	}
	extended, err := pki.NewTrustBundle(nonNil(st.activeCert, st.next.Certificate)...)
	if err != nil {
		return obs, err
	}
	consumers, err := k.consumers(ctx, a.Ref)
	if err != nil {
		return obs, err
	}
	leaves, err := k.leaves(ctx, a.Ref, st)
	if err != nil {
		return obs, err
	}
	obs.ConsumersHaveNewCA = everyConsumerTrusts(consumers, BundleHash(extended.PEM()))
	st.WaitingForPeers = nil
	if obs.ConsumersHaveNewCA && a.Peers != nil && st.Phase() == pki.RotationBundleExtended {
		waiting, err := a.Peers(ctx, st.next.Certificate)
		if err != nil {
			return obs, err
		}
		switch {
		case len(waiting) == 0:
		case st.activeCert != nil && !now.Before(st.activeCert.NotAfter.Add(-PeerWaitLimit)):
			// The old CA expires soon: switch without them rather than break everything.
			k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCARotation, "RotateCA",
				"CA key replacement proceeds without %s accepting the new CA: the old CA expires at %s",
				strings.Join(waiting, ", "), st.activeCert.NotAfter.UTC().Format(time.RFC3339))
		default:
			st.WaitingForPeers = waiting
			obs.ConsumersHaveNewCA = false
		}
	}
	obs.LeavesSignedByNewCA = everyLeafIssuedBy(leaves, st.next.Certificate)
	obs.LeavesObserved = everyConsumerServes(consumers, leaves)
	return obs, nil
}

// consumer is a workload that trusts a CA, as the rotation sees it.
type consumer struct {
	kind, name string
	// template holds the pod template's annotations.
	template map[string]string
	// serves is the leaf Secret its pods serve; empty when they serve none of this CA's.
	serves string
	// rolledOut: every replica runs the current pod template and is available.
	rolledOut bool
}

// consumers lists the Deployments and StatefulSets in ref's namespace that declare
// they trust ref's CA.
func (k *Keeper) consumers(ctx context.Context, ref Ref) ([]consumer, error) {
	sel := []client.ListOption{client.InNamespace(ref.Namespace), client.MatchingLabels{TrustsCALabel: ref.SecretName}}
	deployments := &appsv1.DeploymentList{}
	if err := k.Client.List(ctx, deployments, sel...); err != nil {
		return nil, fmt.Errorf("listing the Deployments that trust CA %s: %w", ref.SecretName, err)
	}
	statefulSets := &appsv1.StatefulSetList{}
	if err := k.Client.List(ctx, statefulSets, sel...); err != nil {
		return nil, fmt.Errorf("listing the StatefulSets that trust CA %s: %w", ref.SecretName, err)
	}
	var out []consumer
	for i := range deployments.Items {
		out = append(out, deploymentConsumer(&deployments.Items[i]))
	}
	for i := range statefulSets.Items {
		out = append(out, statefulSetConsumer(&statefulSets.Items[i]))
	}
	return out, nil
}

func deploymentConsumer(d *appsv1.Deployment) consumer {
	return consumer{kind: "Deployment", name: d.Name, template: d.Spec.Template.Annotations,
		serves: d.Annotations[ServesCertificateAnnotation], rolledOut: DeploymentRolledOut(d)}
}

func statefulSetConsumer(s *appsv1.StatefulSet) consumer {
	return consumer{kind: "StatefulSet", name: s.Name, template: s.Spec.Template.Annotations,
		serves: s.Annotations[ServesCertificateAnnotation], rolledOut: StatefulSetRolledOut(s)}
}

// leaves is every leaf Secret issued from ref's CA, by name, with its certificate (nil
// when damaged: it is re-issued, so it counts as not yet issued by any CA). Leaves
// written in this reconcile are taken from st, because a cached list may not show them.
func (k *Keeper) leaves(ctx context.Context, ref Ref, st *State) (map[string]*x509.Certificate, error) {
	list := &corev1.SecretList{}
	if err := k.Client.List(ctx, list, client.InNamespace(ref.Namespace), client.MatchingLabels{certs.IssuerLabel: ref.SecretName}); err != nil {
		return nil, fmt.Errorf("listing the leaf Secrets of CA %s: %w", ref.SecretName, err)
	}
	out := map[string]*x509.Certificate{}
	for i := range list.Items {
		out[list.Items[i].Name] = leafCertificate(&list.Items[i])
	}
	for name, res := range st.leaves {
		out[name] = res.Certificate
	}
	return out, nil
}

func everyConsumerTrusts(consumers []consumer, bundleHash string) bool {
	for _, c := range consumers {
		if !c.rolledOut || c.template[TrustBundleHashAnnotation] != bundleHash {
			return false
		}
	}
	return true
}

func everyLeafIssuedBy(leaves map[string]*x509.Certificate, ca *x509.Certificate) bool {
	for _, leaf := range leaves {
		if leaf == nil || !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) || leaf.CheckSignatureFrom(ca) != nil {
			return false
		}
	}
	return true
}

// everyConsumerServes reports whether every consumer that serves a leaf has rolled out
// a pod template naming that leaf's current fingerprint.
func everyConsumerServes(consumers []consumer, leaves map[string]*x509.Certificate) bool {
	for _, c := range consumers {
		if c.serves == "" {
			continue
		}
		want := Fingerprint(leaves[c.serves])
		if want == "" || !c.rolledOut || c.template[ServingCertificateAnnotation] != want {
			return false
		}
	}
	return true
}

// leafCertificate is the first certificate under tls.crt; nil when there is none.
func leafCertificate(sec *corev1.Secret) *x509.Certificate {
	cs, err := pki.ParseCertificatesPEM(sec.Data[pki.TLSCertKey])
	if err != nil || len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// DeploymentRolledOut reports whether every replica of d runs its current pod
// template and is available, so no pod started from an older template is left. A pod
// loads its mounted Secrets when it starts; a running pod sees later Secret updates
// only after the kubelet's sync delay, so only a rollout proves what it loaded.
func DeploymentRolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want && s.AvailableReplicas == want
}

// StatefulSetRolledOut is DeploymentRolledOut for a StatefulSet: every replica is
// on the update revision and available.
func StatefulSetRolledOut(s *appsv1.StatefulSet) bool {
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	return st.ObservedGeneration >= s.Generation && st.Replicas == want && st.UpdatedReplicas == want &&
		st.AvailableReplicas == want && (st.UpdateRevision == "" || st.CurrentRevision == st.UpdateRevision)
}
