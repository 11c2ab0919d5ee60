package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// TestAgainstAPIServer runs the plugin as a person does: against a real API server
// through a kubeconfig, whose context's namespace is the default, with -A, and with
// a --context that does not exist.
func TestAgainstAPIServer(t *testing.T) {
	cp, err := envtestutil.StartControlPlane(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	admin, err := cp.Env.AddUser(envtest.User{Name: "auditor", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig.Contexts[kubeconfig.CurrentContext].Namespace = "cybercoop-ke"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	full := []v1.Shift{{Days: everyDay, Start: "08:00", End: "20:00", OnCall: "Day desk"}, {Days: everyDay, Start: "20:00", End: "08:00", OnCall: "Night desk"}}
	for _, objs := range [][]client.Object{
		country("cybercoop-ke", "KE", "FR", full, 30*24*time.Hour),
		country("cybercoop-fr", "FR", "KE", full, 30*24*time.Hour),
	} {
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: objs[0].GetNamespace()}}); err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			withStatus := o.DeepCopyObject().(client.Object)
			o.SetUID("")
			o.SetCreationTimestamp(metav1.Time{})
			if err := cp.Client.Create(ctx, o); err != nil {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
			copyStatus(withStatus, o)
			if err := cp.Client.Status().Update(ctx, o); err != nil {
				t.Fatalf("writing the status of %T %s: %v", o, o.GetName(), err)
			}
		}
	}

	plugin := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCommand(&out, connect, func() time.Time { return now })
		root.SetArgs(append(args, "--kubeconfig", path))
		root.SetOut(&out)
		root.SetContext(ctx)
		err := root.Execute()
		return out.String(), err
	}
	countries := func(out string) []string {
		var got struct {
			Reports []auditReport `json:"reports"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("audit -o json printed no JSON: %v\n%s", err, out)
		}
		var cs []string
		for _, r := range got.Reports {
			cs = append(cs, string(r.Country))
			if len(r.Controls) != 13 || r.Compliant == nil {
				t.Errorf("%s: %d controls, Compliant %v", r.Country, len(r.Controls), r.Compliant)
			}
		}
		return cs
	}

	out, err := plugin("audit", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if got := countries(out); strings.Join(got, ",") != "KE" {
		t.Errorf("audit in the context's namespace reported %v, want KE only", got)
	}
	out, err = plugin("audit", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if got := countries(out); strings.Join(got, ",") != "FR,KE" {
		t.Errorf("audit -A reported %v, want FR and KE", got)
	}
	out, err = plugin("status", "-n", "cybercoop-fr")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FocalPoint          fr-poc", "ConventionProfile   fr", "on call 168 h/week, no gap", "CERTIFICATES"} {
		if !strings.Contains(out, want) {
			t.Errorf("status -n cybercoop-fr does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cybercoop-ke") {
		t.Errorf("status -n cybercoop-fr shows Kenya's namespace:\n%s", out)
	}
	if _, err := plugin("status", "--context", "no-such-context"); err == nil || !strings.Contains(err.Error(), "no-such-context") {
		t.Errorf("an unknown --context: error %v, want one naming it", err)
	}
	if os.Getenv("KUBECONFIG") != "" {
		t.Log("KUBECONFIG is set but --kubeconfig took precedence")
	}

	// renew: the force-renew annotation, set to the time of the request.
	if out, err = plugin("renew", "fp/ke-poc"); err != nil {
		t.Fatalf("renew: %v\n%s", err, out)
	}
	fp := &v1.FocalPoint{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "cybercoop-ke", Name: "ke-poc"}, fp); err != nil {
		t.Fatal(err)
	}
	if got := fp.Annotations[v1.ForceRenewAnnotation]; got != now.UTC().Format(time.RFC3339) {
		t.Errorf("renew set %s=%q, want the time of the request", v1.ForceRenewAnnotation, got)
	}
	for _, bad := range [][]string{{"renew", "secret/ke-poc"}, {"renew", "ke-poc"}, {"renew", "fp/ke-poc", "-A"}} {
		if _, err := plugin(bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := plugin("renew", "cc/no-such-channel"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("renew of a channel that does not exist: %v", err)
	}

	// verify-vault: the verify-now annotation; with --wait, the result once the
	// operator reports a verification after the request (played here by the test).
	if out, err = plugin("verify-vault", "ke-evidence", "--wait", "0"); err != nil || !strings.Contains(out, "verification requested") {
		t.Fatalf("verify-vault --wait 0: %v\n%s", err, out)
	}
	go func() {
		ev := &v1.EvidenceVault{}
		key := client.ObjectKey{Namespace: "cybercoop-fr", Name: "fr-evidence"}
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := cp.Client.Get(ctx, key, ev); err != nil || ev.Annotations[v1.VerifyNowAnnotation] == "" {
				return false, nil //nolint:nilerr // not requested yet, or a read that failed: poll again
			}
			ev.Status.LastVerification = &v1.VerificationStatus{Time: metav1.NewTime(now.Add(time.Minute)), Result: "Passed", Objects: 7}
			return cp.Client.Status().Update(ctx, ev) == nil, nil
		})
	}()
	out, err = plugin("verify-vault", "fr-evidence", "-n", "cybercoop-fr", "--wait", "1m")
	if err != nil || !strings.Contains(out, "Passed, 7 objects") {
		t.Fatalf("verify-vault --wait: %v\n%s", err, out)
	}
}

// copyStatus copies from's status into to, which the API server just created.
func copyStatus(from, to client.Object) {
	switch f := from.(type) {
	case *v1.FocalPoint:
		to.(*v1.FocalPoint).Status = f.Status
	case *v1.EvidenceVault:
		to.(*v1.EvidenceVault).Status = f.Status
	case *v1.CooperationChannel:
		to.(*v1.CooperationChannel).Status = f.Status
	case *v1.ConventionProfile:
		to.(*v1.ConventionProfile).Status = f.Status
	case *v1.JointInvestigation:
		to.(*v1.JointInvestigation).Status = f.Status
	}
}
