package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// renewable are the kinds whose leaf certificates `renew` re-issues, by the names
// kubectl users type.
var renewable = map[string]func() client.Object{
	"focalpoint": func() client.Object { return &v1.FocalPoint{} }, "fp": func() client.Object { return &v1.FocalPoint{} },
	"evidencevault": func() client.Object { return &v1.EvidenceVault{} }, "ev": func() client.Object { return &v1.EvidenceVault{} },
	"cooperationchannel": func() client.Object { return &v1.CooperationChannel{} }, "cc": func() client.Object { return &v1.CooperationChannel{} },
}

// runRenew sets the force-renew annotation of KIND/NAME to now: the operator
// re-issues every leaf certificate of the resource once for that value.
func runRenew(ctx context.Context, c client.Client, namespace, target string, now time.Time, out io.Writer) error {
	kind, name, ok := strings.Cut(target, "/")
	newObj := renewable[strings.ToLower(strings.TrimSuffix(kind, "s"))]
	if !ok || name == "" || newObj == nil {
		return fmt.Errorf("%q: name a resource as KIND/NAME, KIND one of focalpoint (fp), evidencevault (ev), cooperationchannel (cc)", target)
	}
	obj := newObj()
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		return err
	}
	value := now.UTC().Format(time.RFC3339)
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[v1.ForceRenewAnnotation] = value
	obj.SetAnnotations(annotations)
	if err := c.Patch(ctx, obj, patch); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s/%s: %s=%s; the operator re-issues its leaf certificates once (events CertificateIssued, status.certificates)\n",
		kind, name, v1.ForceRenewAnnotation, value)
	return nil
}

// runVerifyVault asks an EvidenceVault's vault for a full verification now
// (cybercoop.io/verify-now) and, with wait > 0, waits for its result.
func runVerifyVault(ctx context.Context, c client.Client, namespace, name string, now time.Time, waitFor, poll time.Duration, out io.Writer) error {
	ev := &v1.EvidenceVault{}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	if err := c.Get(ctx, key, ev); err != nil {
		return err
	}
	requested := now.UTC().Truncate(time.Second)
	patch := client.MergeFrom(ev.DeepCopy())
	if ev.Annotations == nil {
		ev.Annotations = map[string]string{}
	}
	ev.Annotations[v1.VerifyNowAnnotation] = requested.Format(time.RFC3339)
	if err := c.Patch(ctx, ev, patch); err != nil {
		return err
	}
	fmt.Fprintf(out, "evidencevault/%s: verification requested at %s\n", name, requested.Format(time.RFC3339))
	if waitFor <= 0 {
		return nil
	}
	var last *v1.VerificationStatus
	err := wait.PollUntilContextTimeout(ctx, poll, waitFor, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, ev); err != nil {
			return false, err
		}
		last = ev.Status.LastVerification
		return last != nil && !last.Time.Time.Before(requested), nil
	})
	if err != nil {
		return fmt.Errorf("no verification finished after the request within %s (the vault must be reachable; see the EvidenceVault's IntegrityVerified condition): %w", waitFor, err)
	}
	fmt.Fprintf(out, "evidencevault/%s: verification of %s: %s, %d objects\n", name, last.Time.UTC().Format(time.RFC3339), last.Result, last.Objects)
	if last.Result != "Passed" {
		return fmt.Errorf("the verification failed: see the EvidenceVault's IntegrityVerified condition and events")
	}
	return nil
}
