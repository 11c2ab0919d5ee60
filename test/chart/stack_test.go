//go:build charttest

package chart

// The checks of charts/cybercoop-stack: lint and server-side dry run of every value set
// (every example among them, the service provider's too), Kenya's values rendering exactly
// config/samples' Kenya stack, the schema's country list equal to the CRDs', and every
// refused value refused by `helm template` and `helm install` with its message, the API
// server refusing the same value with the CRD's words.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var stackDir = filepath.Join(envtestutil.RepoRoot(), "charts", "cybercoop-stack")

// stackValues is the path of a value file in testdata/stack.
func stackValues(name string) string {
	return filepath.Join(envtestutil.RepoRoot(), "test", "chart", "testdata", "stack", name)
}

// stackExample is a values file of the chart's examples/.
func stackExample(name string) string {
	return filepath.Join(stackDir, "examples", name)
}

// stackValueSet is a value set the chart must lint, render, and have the API server accept,
// with the objects it must render.
type stackValueSet struct {
	name               string
	release, namespace string
	args               []string
	focalPoint         string
	vault              string   // "" when no EvidenceVault is rendered
	channels           []string // in the order of the peers
}

var stackValueSets = []stackValueSet{
	{name: "defaults", release: "ke", namespace: "cybercoop-ke", focalPoint: "ke-poc", vault: "ke-evidence"},
	{name: "three-peers", release: "vn", namespace: "cybercoop-vn", args: []string{"-f", stackValues("three-peers.yaml")},
		focalPoint: "vn-poc", vault: "vn-evidence", channels: []string{"to-fr", "to-ke", "to-brazil"}},
	{name: "vault-disabled", release: "ke", namespace: "cybercoop-ke", args: []string{"--set", "vault.enabled=false"}, focalPoint: "ke-poc"},
	{name: "ha-gateway", release: "ke", namespace: "cybercoop-ke", args: []string{"--set", "gateway.replicas=3",
		"--set", "gateway.serviceType=LoadBalancer", "--set", "gateway.externalNames={gateway.ke.example,poc.cyber.example.go.ke}"},
		focalPoint: "ke-poc", vault: "ke-evidence"},
	{name: "kenya", release: "ke", namespace: "cybercoop-ke", args: []string{"-f", stackExample("kenya.yaml")},
		focalPoint: "ke-poc", vault: "ke-evidence", channels: []string{"to-fr"}},
	{name: "france", release: "fr", namespace: "cybercoop-fr", args: []string{"-f", stackExample("france.yaml")},
		focalPoint: "fr-poc", vault: "fr-evidence", channels: []string{"to-ke"}},
	{name: "everything", release: "br", namespace: "cybercoop-ke", args: []string{"-f", stackValues("everything.yaml")},
		focalPoint: "br-ponto-de-contato", vault: "br-evidencias", channels: []string{"para-argentina"}},
	{name: "cert-manager-issuer", release: "ke", namespace: "cybercoop-ke", args: []string{"-f", stackValues("issuer.yaml")},
		focalPoint: "ke-poc", vault: "ke-evidence"},
	// The evidence in an S3 bucket with Object Lock instead of on a volume.
	{name: "s3", release: "ke", namespace: "cybercoop-ke", args: []string{"-f", stackValues("s3.yaml")},
		focalPoint: "ke-poc", vault: "ke-evidence"},
	// A service provider's endpoint, established in Kenya, answering Kenya's authority.
	{name: "provider", release: "safiri-mail", namespace: "cybercoop-safiri-mail", args: []string{"-f", stackExample("provider.yaml")},
		focalPoint: "safiri-mail-poc", vault: "safiri-mail-evidence", channels: []string{"to-ke"}},
	// Kenya as the authority of two service providers, besides a peer State.
	{name: "provider-peers", release: "ke", namespace: "cybercoop-ke", args: []string{"-f", stackValues("provider-peers.yaml")},
		focalPoint: "ke-poc", vault: "ke-evidence", channels: []string{"to-fr", "to-safiri-mail", "orders-hopthu"}},
}

// TestStackExamplesAreValueSets: every values file of the chart's examples/ is a value set,
// so each one is linted, rendered and accepted by the API server.
func TestStackExamplesAreValueSets(t *testing.T) {
	examples, err := filepath.Glob(stackExample("*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples in %s (%v)", stackExample(""), err)
	}
	for _, example := range examples {
		if !slices.ContainsFunc(stackValueSets, func(vs stackValueSet) bool { return slices.Contains(vs.args, example) }) {
			t.Errorf("examples/%s is in no value set of stackValueSets: add one, so that the API server checks it", filepath.Base(example))
		}
	}
}

func (vs stackValueSet) render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return renderChart(t, stackDir, vs.release, vs.namespace, vs.args...)
}

// install runs `helm install --dry-run=server` of the value set against the control plane
// and returns helm's output (the manifests and NOTES).
func (vs stackValueSet) install(t *testing.T) string {
	t.Helper()
	out, err := helm(append([]string{"install", vs.release, stackDir, "--namespace", vs.namespace, "--dry-run=server", "--kubeconfig", kubeconfig}, vs.args...)...)
	if err != nil {
		t.Fatalf("helm install --dry-run=server %v: %v\n%s", vs.args, err, out)
	}
	return out
}

func stackValueSetNamed(t *testing.T, name string) stackValueSet {
	t.Helper()
	for _, vs := range stackValueSets {
		if vs.name == name {
			return vs
		}
	}
	t.Fatalf("no value set %q", name)
	return stackValueSet{}
}

func TestStackLint(t *testing.T) {
	for _, vs := range stackValueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			if out, err := helm(append([]string{"lint", "--strict", stackDir, "--namespace", vs.namespace}, vs.args...)...); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

// TestStackServerSideDryRun renders every value set, checks it renders the FocalPoint,
// the EvidenceVault (unless disabled) and one channel per peer, all in the release
// namespace, and has the API server accept each as a dry-run create, so the CRDs'
// validation (OpenAPI and CEL) passes on every one. `helm install --dry-run=server`
// must accept the value set too.
func TestStackServerSideDryRun(t *testing.T) {
	for _, vs := range stackValueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			objs := vs.render(t)
			var want []string
			want = append(want, "FocalPoint/"+vs.focalPoint)
			if vs.vault != "" {
				want = append(want, "EvidenceVault/"+vs.vault)
			}
			for _, c := range vs.channels {
				want = append(want, "CooperationChannel/"+c)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
				if o.GetNamespace() != vs.namespace {
					t.Errorf("%s %s is in namespace %q, want the release namespace %s", o.GetKind(), o.GetName(), o.GetNamespace(), vs.namespace)
				}
			}
			if !sameElements(got, want) {
				t.Errorf("rendered %v, want %v", got, want)
			}
			for _, o := range objs {
				if err := controlPlane.Client.Create(t.Context(), o.DeepCopy(), client.DryRunAll); err != nil {
					t.Errorf("%s %s/%s rejected by the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			vs.install(t)
		})
	}
}

func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func stackObject[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return convert[T](t, o)
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// TestStackSamples: the chart's examples, Kenya's (examples/kenya.yaml, installed as release
// "ke" in cybercoop-ke) and France's (examples/france.yaml, release "fr" in cybercoop-fr),
// render the FocalPoint, EvidenceVault and CooperationChannel of config/samples exactly
// (names, namespace and every field of the spec, as the API server stores them), so every
// field the samples set can be set from values, and `make demo`, which installs the examples,
// runs the samples' stack.
func TestStackSamples(t *testing.T) {
	for _, country := range []struct {
		valueSet string
		samples  map[string]string
	}{
		{"kenya", map[string]string{
			"FocalPoint":         "cybercoop_v1alpha1_focalpoint.yaml",
			"EvidenceVault":      "cybercoop_v1alpha1_evidencevault.yaml",
			"CooperationChannel": "cybercoop_v1alpha1_cooperationchannel.yaml",
		}},
		{"france", map[string]string{
			"FocalPoint":         "cybercoop_v1alpha1_focalpoint_fr.yaml",
			"EvidenceVault":      "cybercoop_v1alpha1_evidencevault_fr.yaml",
			"CooperationChannel": "cybercoop_v1alpha1_cooperationchannel_fr.yaml",
		}},
	} {
		t.Run(country.valueSet, func(t *testing.T) {
			objs := stackValueSetNamed(t, country.valueSet).render(t)
			for kind, file := range country.samples {
				compareWithSample(t, objs, kind, file)
			}
		})
	}
}

// defaulted is o as a server-side dry-run create returns it.
func defaulted(t *testing.T, o *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	o = o.DeepCopy()
	if err := controlPlane.Client.Create(t.Context(), o, client.DryRunAll); err != nil {
		t.Fatalf("%s %s/%s rejected by the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return o
}

func compareWithSample(t *testing.T, objs []*unstructured.Unstructured, kind, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	var sample *unstructured.Unstructured
	for _, o := range decodeObjects(t, file, string(data)) {
		if o.GetKind() == kind {
			sample = o
		}
	}
	if sample == nil {
		t.Fatalf("config/samples/%s holds no %s", file, kind)
	}
	rendered := find(objs, kind, sample.GetNamespace(), sample.GetName())
	if rendered == nil {
		t.Errorf("no %s %s/%s rendered (the sample's name and namespace)", kind, sample.GetNamespace(), sample.GetName())
		return
	}
	// Both as the API server stores them, its defaults applied: the chart may spell
	// out a default the sample leaves to the CRD.
	sample, rendered = defaulted(t, sample), defaulted(t, rendered)
	var wantSpec, gotSpec any
	switch kind {
	case "FocalPoint":
		wantSpec, gotSpec = convert[cybercoopv1alpha1.FocalPoint](t, sample).Spec, convert[cybercoopv1alpha1.FocalPoint](t, rendered).Spec
	case "EvidenceVault":
		wantSpec, gotSpec = convert[cybercoopv1alpha1.EvidenceVault](t, sample).Spec, convert[cybercoopv1alpha1.EvidenceVault](t, rendered).Spec
	case "CooperationChannel":
		wantSpec, gotSpec = convert[cybercoopv1alpha1.CooperationChannel](t, sample).Spec, convert[cybercoopv1alpha1.CooperationChannel](t, rendered).Spec
	}
	if !equality.Semantic.DeepEqual(gotSpec, wantSpec) {
		got, _ := json.MarshalIndent(gotSpec, "", "  ")
		want, _ := json.MarshalIndent(wantSpec, "", "  ")
		t.Errorf("%s %s: the chart renders a spec other than config/samples/%s\nchart:  %s\nsample: %s", kind, sample.GetName(), file, got, want)
	}
}

// TestStackRendersValues checks what the values change in the objects.
func TestStackRendersValues(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		objs := stackValueSetNamed(t, "defaults").render(t)
		fp := stackObject[cybercoopv1alpha1.FocalPoint](t, objs, "FocalPoint", "ke-poc")
		if fp.Spec.Certificates != nil {
			t.Errorf("certificates rendered from empty values: %+v", fp.Spec.Certificates)
		}
		if fp.Spec.ServiceProvider != nil {
			t.Errorf("serviceProvider rendered from empty values: %+v", fp.Spec.ServiceProvider)
		}
		ev := stackObject[cybercoopv1alpha1.EvidenceVault](t, objs, "EvidenceVault", "ke-evidence")
		if ev.Spec.DeletionPolicy != cybercoopv1alpha1.DeletionRetain || ev.Spec.Retention.MinimumDays != 90 || ev.Spec.FocalPointRef.Name != "ke-poc" {
			t.Errorf("default vault: deletionPolicy %s, retention %d days, focalPointRef %s; want Retain, 90, ke-poc",
				ev.Spec.DeletionPolicy, ev.Spec.Retention.MinimumDays, ev.Spec.FocalPointRef.Name)
		}
		for _, o := range objs {
			if l := o.GetLabels(); l["app.kubernetes.io/instance"] != "ke" || l["app.kubernetes.io/managed-by"] != "Helm" {
				t.Errorf("%s %s labels %v", o.GetKind(), o.GetName(), l)
			}
		}
	})
	t.Run("three-peers", func(t *testing.T) {
		objs := stackValueSetNamed(t, "three-peers").render(t)
		data, err := os.ReadFile(stackValues("three-peers.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var values struct {
			Peers []struct {
				TrustBundle struct {
					PEM string `json:"pem"`
				} `json:"trustBundle"`
			} `json:"peers"`
		}
		if err := yaml.Unmarshal(data, &values); err != nil || len(values.Peers) == 0 || values.Peers[0].TrustBundle.PEM == "" {
			t.Fatalf("three-peers.yaml: no PEM in peers[0] (%v)", err)
		}
		fr := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-fr")
		if fr.Spec.Peer.TrustBundle.PEM != values.Peers[0].TrustBundle.PEM ||
			fr.Spec.Peer.TrustBundle.SecretRef != nil || fr.Spec.Peer.ServerName != "gateway.fr.example" {
			t.Errorf("to-fr: trust bundle %+v, serverName %q: want the inline PEM only and gateway.fr.example", fr.Spec.Peer.TrustBundle, fr.Spec.Peer.ServerName)
		}
		ke := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-ke")
		if ke.Spec.Peer.TrustBundle.PEM != "" || ke.Spec.Peer.TrustBundle.SecretRef == nil || ke.Spec.Peer.TrustBundle.SecretRef.Name != "ke-ca" ||
			ke.Spec.Peer.TrustBundle.SecretRef.Key != "" || ke.Spec.Suspend != nil || ke.Spec.Languages != nil {
			t.Errorf("to-ke: trust bundle %+v, suspend %v, languages %v: want Secret ke-ca (key defaulted by the CRD), not suspended, the FocalPoint's languages",
				ke.Spec.Peer.TrustBundle, ke.Spec.Suspend, ke.Spec.Languages)
		}
		if ke.Spec.DataProtection.OnwardTransfer != cybercoopv1alpha1.OnwardTransferRequiresAuthorization || ke.Spec.DataProtection.RetentionDays != 730 ||
			ke.Spec.Probe == nil || ke.Spec.Probe.Interval.Duration.String() != "10m0s" {
			t.Errorf("to-ke: dataProtection %+v, probe %+v", ke.Spec.DataProtection, ke.Spec.Probe)
		}
		if fr.Spec.DataProtection.OnwardTransfer != cybercoopv1alpha1.OnwardTransferProhibited || fr.Spec.DataProtection.RetentionDays != 365 {
			t.Errorf("to-fr: dataProtection %+v, want the defaults Prohibited and 365 days written out", fr.Spec.DataProtection)
		}
		br := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-brazil")
		if br.Spec.Suspend == nil || !*br.Spec.Suspend || br.Spec.Peer.TrustBundle.SecretRef.Key != "br.pem" || br.Spec.Certificates == nil ||
			br.Spec.Certificates.LeafRenewBefore.Duration.String() != "240h0m0s" {
			t.Errorf("to-brazil: suspend %v, trust bundle %+v, certificates %+v", br.Spec.Suspend, br.Spec.Peer.TrustBundle, br.Spec.Certificates)
		}
		for _, c := range []*cybercoopv1alpha1.CooperationChannel{fr, ke, br} {
			if c.Spec.FocalPointRef.Name != "vn-poc" {
				t.Errorf("%s serves FocalPoint %s, want vn-poc", c.Name, c.Spec.FocalPointRef.Name)
			}
		}
	})
	t.Run("s3", func(t *testing.T) {
		ev := stackObject[cybercoopv1alpha1.EvidenceVault](t, stackValueSetNamed(t, "s3").render(t), "EvidenceVault", "ke-evidence")
		want := &cybercoopv1alpha1.VaultS3Storage{Endpoint: "https://rgw.ceph.example.org", Bucket: "evidence-ke", Prefix: "vault-ke/",
			Addressing: cybercoopv1alpha1.S3AddressingPath, CredentialsSecretRef: cybercoopv1alpha1.SecretReference{Name: "evidence-ke-bucket"},
			CABundleRef: &cybercoopv1alpha1.ConfigMapKeyReference{Name: "ceph-ca", Key: "ca.crt"}, CustodyRetentionDays: 7300}
		if got := ev.Spec.Storage.S3; !equality.Semantic.DeepEqual(got, want) || ev.Spec.Storage.StorageClassName != "" || ev.Spec.Storage.Size.String() != "20Gi" {
			t.Errorf("vault storage %+v, s3 %+v; want size 20Gi, no storage class, s3 %+v", ev.Spec.Storage, got, want)
		}
		if ev := stackObject[cybercoopv1alpha1.EvidenceVault](t, stackValueSetNamed(t, "defaults").render(t), "EvidenceVault", "ke-evidence"); ev.Spec.Storage.S3 != nil {
			t.Errorf("the defaults render storage.s3 %+v", ev.Spec.Storage.S3)
		}
	})
	t.Run("vault-disabled", func(t *testing.T) {
		vs := stackValueSetNamed(t, "vault-disabled")
		if ofKind(vs.render(t), "EvidenceVault") != nil {
			t.Error("vault.enabled=false still renders an EvidenceVault")
		}
		if out := vs.install(t); !strings.Contains(out, "no EvidenceVault (vault.enabled=false)") {
			t.Errorf("NOTES do not say there is no vault:\n%s", out)
		}
	})
	t.Run("ha-gateway", func(t *testing.T) {
		gw := stackObject[cybercoopv1alpha1.FocalPoint](t, stackValueSetNamed(t, "ha-gateway").render(t), "FocalPoint", "ke-poc").Spec.Gateway
		if *gw.Replicas != 3 || gw.ServiceType != cybercoopv1alpha1.GatewayServiceLoadBalancer ||
			!slices.Equal(gw.ExternalNames, []string{"gateway.ke.example", "poc.cyber.example.go.ke"}) {
			t.Errorf("gateway %+v: want 3 replicas behind a LoadBalancer with both external names", gw)
		}
	})
	t.Run("everything", func(t *testing.T) {
		objs := stackValueSetNamed(t, "everything").render(t)
		fp := stackObject[cybercoopv1alpha1.FocalPoint](t, objs, "FocalPoint", "br-ponto-de-contato")
		c := fp.Spec.Certificates
		if c == nil || c.KeyAlgorithm != cybercoopv1alpha1.KeyAlgorithmECDSAP384 || c.CARotationPolicy != cybercoopv1alpha1.CARotationReplaceKey ||
			c.CADuration.Duration.String() != "87600h0m0s" || c.CARenewBefore.Duration.String() != "8760h0m0s" || c.LeafDuration.Duration.String() != "720h0m0s" ||
			c.IssuerRef != nil {
			t.Errorf("certificates %+v", c)
		}
		if fp.Spec.Gateway.Resources == nil || fp.Spec.Gateway.Resources.Limits.Cpu().String() != "2" || fp.Spec.Gateway.Image == "" {
			t.Errorf("gateway %+v", fp.Spec.Gateway)
		}
		ev := stackObject[cybercoopv1alpha1.EvidenceVault](t, objs, "EvidenceVault", "br-evidencias")
		if ev.Spec.FocalPointRef.Name != "br-ponto-de-contato" || ev.Spec.Storage.StorageClassName != "fast-retain" || ev.Spec.Storage.Size.String() != "2Ti" ||
			ev.Spec.HashAlgorithm != cybercoopv1alpha1.HashSHA512 || ev.Spec.DeletionPolicy != cybercoopv1alpha1.DeletionDelete || !*ev.Spec.LegalHoldByDefault ||
			ev.Spec.Certificates == nil || ev.Spec.Certificates.LeafRenewBefore.Duration.String() != "5m0s" {
			t.Errorf("vault %+v", ev.Spec)
		}
		cc := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "para-argentina")
		if d := cc.Spec.Deadlines; len(d) != 2 || d[0].Type != "EmergencyDisclosure" || d[0].Within == nil || d[0].Within.Duration != 4*time.Hour ||
			d[1].Type != "MutualLegalAssistance" || d[1].Within == nil || d[1].Within.Duration != 4320*time.Hour {
			t.Errorf("deadlines %+v", d)
		}
		for _, o := range objs {
			if o.GetLabels()["cost-centre"] != "cybercrime-unit" || o.GetAnnotations()["example.org/owner"] != "Plantão 24/7" {
				t.Errorf("%s %s: labels %v, annotations %v: want the extra label and annotation", o.GetKind(), o.GetName(), o.GetLabels(), o.GetAnnotations())
			}
		}
	})
	t.Run("provider", func(t *testing.T) {
		objs := stackValueSetNamed(t, "provider").render(t)
		fp := stackObject[cybercoopv1alpha1.FocalPoint](t, objs, "FocalPoint", "safiri-mail-poc")
		if sp := fp.Spec.ServiceProvider; sp == nil || *sp != (cybercoopv1alpha1.ServiceProviderSpec{ID: "safiri-mail", Name: "Safiri Mail Ltd"}) || fp.Spec.Country != "KE" {
			t.Errorf("serviceProvider %+v, country %s: want safiri-mail, Safiri Mail Ltd, established in KE", sp, fp.Spec.Country)
		}
		// The provider's peer is its domestic authority, of the State it is established in.
		ke := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-ke")
		if ke.Spec.Peer.Country != "KE" || ke.Spec.Peer.Provider != "" || ke.Spec.FocalPointRef.Name != "safiri-mail-poc" {
			t.Errorf("to-ke: peer %+v, focalPointRef %s: want the State KE, served by safiri-mail-poc", ke.Spec.Peer, ke.Spec.FocalPointRef.Name)
		}
		for _, rt := range ke.Spec.RequestTypes {
			if !slices.Contains(cybercoopv1alpha1.ProviderRequestTypes, rt) {
				t.Errorf("to-ke: request type %s, which a service provider does not receive", rt)
			}
		}
		ev := stackObject[cybercoopv1alpha1.EvidenceVault](t, objs, "EvidenceVault", "safiri-mail-evidence")
		if ev.Spec.FocalPointRef.Name != "safiri-mail-poc" || ev.Spec.DeletionPolicy != cybercoopv1alpha1.DeletionRetain {
			t.Errorf("vault: focalPointRef %s, deletionPolicy %s: want the provider's FocalPoint, Retain (a provider keeps the orders it received)",
				ev.Spec.FocalPointRef.Name, ev.Spec.DeletionPolicy)
		}
	})
	t.Run("provider-peers", func(t *testing.T) {
		objs := stackValueSetNamed(t, "provider-peers").render(t)
		if sp := stackObject[cybercoopv1alpha1.FocalPoint](t, objs, "FocalPoint", "ke-poc").Spec.ServiceProvider; sp != nil {
			t.Errorf("an authority's FocalPoint renders serviceProvider %+v", sp)
		}
		fr := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-fr")
		if fr.Spec.Peer.Country != "FR" || fr.Spec.Peer.Provider != "" {
			t.Errorf("to-fr: peer %+v: want the State FR", fr.Spec.Peer)
		}
		safiri := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "to-safiri-mail")
		if safiri.Spec.Peer.Provider != "safiri-mail" || safiri.Spec.Peer.Country != "" || len(safiri.Spec.RequestTypes) != 5 ||
			len(safiri.Spec.Deadlines) != 1 || safiri.Spec.Deadlines[0].Within == nil || safiri.Spec.Deadlines[0].Within.Duration != 24*time.Hour {
			t.Errorf("to-safiri-mail: peer %+v, requestTypes %v, deadlines %+v: want the provider safiri-mail, the five orders, Preservation within 24h",
				safiri.Spec.Peer, safiri.Spec.RequestTypes, safiri.Spec.Deadlines)
		}
		hopthu := stackObject[cybercoopv1alpha1.CooperationChannel](t, objs, "CooperationChannel", "orders-hopthu")
		if hopthu.Spec.Peer.Provider != "hopthu-mail" || hopthu.Spec.Peer.Country != "" || hopthu.Spec.Peer.TrustBundle.SecretRef == nil ||
			hopthu.Spec.Peer.TrustBundle.SecretRef.Key != "hopthu.pem" || hopthu.Spec.DataProtection.RetentionDays != 180 {
			t.Errorf("orders-hopthu: peer %+v, dataProtection %+v: want the provider hopthu-mail, Secret key hopthu.pem, 180 days",
				hopthu.Spec.Peer, hopthu.Spec.DataProtection)
		}
	})
	t.Run("cert-manager-issuer", func(t *testing.T) {
		c := stackObject[cybercoopv1alpha1.FocalPoint](t, stackValueSetNamed(t, "cert-manager-issuer").render(t), "FocalPoint", "ke-poc").Spec.Certificates
		if c == nil || c.IssuerRef == nil || *c.IssuerRef != (cybercoopv1alpha1.IssuerReference{Name: "national-ca", Kind: cybercoopv1alpha1.IssuerKindClusterIssuer, Group: "cert-manager.io"}) ||
			c.KeyAlgorithm != cybercoopv1alpha1.KeyAlgorithmRSA3072 || c.CADuration != nil {
			t.Errorf("certificates %+v", c)
		}
	})
}

// TestStackNotes: the NOTES tell how to enforce the restricted Pod Security profile and
// how to hand the national CA to peers, and warn while the illustrative defaults are in use.
func TestStackNotes(t *testing.T) {
	defaults := stackValueSetNamed(t, "defaults").install(t)
	kenya := stackValueSetNamed(t, "kenya").install(t)
	for name, out := range map[string]string{"defaults": defaults, "kenya": kenya} {
		for _, want := range []string{
			"kubectl label namespace cybercoop-ke pod-security.kubernetes.io/enforce=restricted",
			"kubectl -n cybercoop-ke get secret ke-poc-trust-bundle -o jsonpath='{.data.ca\\.crt}' | base64 -d > ke-national-ca.pem",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: NOTES lack %q:\n%s", name, want, out)
			}
		}
	}
	if !strings.Contains(defaults, "WARNING: the authority or the contacts are still the chart's illustrative defaults") {
		t.Errorf("NOTES of the defaults carry no warning:\n%s", defaults)
	}
	if strings.Contains(kenya, "WARNING") {
		t.Errorf("NOTES warn about Kenya's own values:\n%s", kenya)
	}
	if want := "kubectl -n cybercoop-ke create secret generic fr-ca --from-file=ca.crt=fr-national-ca.pem"; !strings.Contains(kenya, want) {
		t.Errorf("Kenya's NOTES lack %q", want)
	}
	if strings.Contains(kenya, "provider") {
		t.Errorf("Kenya's NOTES, with no provider, speak of one:\n%s", kenya)
	}
}

// TestStackNotesOfProviders: a service provider's NOTES name it, its State and its peers'
// authorities, and tell it to send its CA as <id>-ca.pem and how authorities declare it; an
// authority's NOTES name the providers its channels lead to and the files their CAs came in.
func TestStackNotesOfProviders(t *testing.T) {
	for _, c := range []struct {
		valueSet string
		want     []string
	}{
		{"provider", []string{
			"The stack of the provider Safiri Mail Ltd (safiri-mail), established in KE, is declared in namespace cybercoop-safiri-mail:",
			"CooperationChannel to-ke to KE's authority",
			"it provisions the provider's CA",
			"kubectl -n cybercoop-safiri-mail get secret safiri-mail-poc-trust-bundle -o jsonpath='{.data.ca\\.crt}' | base64 -d > safiri-mail-ca.pem",
			"and the address authorities call: https://orders.safiri-mail.example",
			"kubectl -n cybercoop-safiri-mail create secret generic ke-ca --from-file=ca.crt=ke-national-ca.pem",
			"Each authority declares this endpoint in its own stack as a peer with provider: safiri-mail",
		}},
		{"provider-peers", []string{
			"KE's stack is declared in namespace cybercoop-ke:",
			"CooperationChannel to-fr to FR\n",
			"CooperationChannel to-safiri-mail to the provider safiri-mail\n",
			"CooperationChannel orders-hopthu to the provider hopthu-mail\n",
			"Put the CA certificate the provider safiri-mail sent you in the Secret its channel names:",
			"kubectl -n cybercoop-ke create secret generic safiri-mail-ca --from-file=ca.crt=safiri-mail-ca.pem",
			"kubectl -n cybercoop-ke create secret generic provider-cas --from-file=hopthu.pem=hopthu-mail-ca.pem",
			"kubectl -n cybercoop-ke get secret ke-poc-trust-bundle -o jsonpath='{.data.ca\\.crt}' | base64 -d > ke-national-ca.pem",
		}},
	} {
		t.Run(c.valueSet, func(t *testing.T) {
			t.Parallel()
			out := stackValueSetNamed(t, c.valueSet).install(t)
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("NOTES lack %q:\n%s", want, out)
				}
			}
		})
	}
}

// crdCountryCodes is the list of the CountryCode rule in a generated CRD.
func crdCountryCodes(t *testing.T, crd string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "crd", "bases", crd))
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`self in \[((?:'[A-Z]{2}',?\s*)+)\]`).FindSubmatch(data)
	if rule == nil {
		t.Fatalf("no country rule in %s", crd)
	}
	var codes []string
	for _, m := range regexp.MustCompile(`'([A-Z]{2})'`).FindAllSubmatch(rule[1], -1) {
		codes = append(codes, string(m[1]))
	}
	return codes
}

// schemaCountryEnum matches the one line of values.schema.json listing the country codes.
var schemaCountryEnum = regexp.MustCompile(`(?m)^(\s*"enum": )\[("[A-Z]{2}",? ?)+\]$`)

// TestStackCountryCodesMatchCRD: the schema's country codes are those of the CRDs'
// CountryCode rule (api/v1alpha1), so the chart refuses exactly the codes the API server
// refuses. With UPDATE_STACK_SCHEMA=1 it writes the CRD's list into the schema.
func TestStackCountryCodesMatchCRD(t *testing.T) {
	want := crdCountryCodes(t, "cybercoop.io_focalpoints.yaml")
	if channel := crdCountryCodes(t, "cybercoop.io_cooperationchannels.yaml"); !slices.Equal(channel, want) {
		t.Fatalf("the FocalPoint and CooperationChannel CRDs list different country codes: run `make manifests`")
	}
	path := filepath.Join(stackDir, "values.schema.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_STACK_SCHEMA") != "" {
		quoted := make([]string, len(want))
		for i, c := range want {
			quoted[i] = strconv.Quote(c)
		}
		updated := schemaCountryEnum.ReplaceAll(data, []byte("${1}["+strings.Join(quoted, ", ")+"]"))
		if err := os.WriteFile(path, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		data = updated
	}
	var schema struct {
		Defs struct {
			ISOCountryCode struct {
				Enum []string `json:"enum"`
			} `json:"isoCountryCode"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := schema.Defs.ISOCountryCode.Enum; !slices.Equal(got, want) {
		t.Errorf("values.schema.json's $defs.isoCountryCode lists %d codes, the CRDs %d, not the same: run `UPDATE_STACK_SCHEMA=1 make chart-test`", len(got), len(want))
	}
	if n := len(schemaCountryEnum.FindAll(data, -1)); n != 1 {
		t.Errorf("values.schema.json has %d one-line country lists, want 1 (UPDATE_STACK_SCHEMA rewrites that line)", n)
	}
}

// stackRefusal is a value set the chart refuses.
type stackRefusal struct {
	name    string
	release string // "" means ke
	// args spoil the base (the defaults and one valid peer, testdata/stack/refusal-base.yaml).
	args []string
	// want is in the output of the refused `helm template` and `helm install`.
	want string
	// crd is in the API server's refusal of the same value, or "" where no CRD rule
	// corresponds: the chart's own rules (duplicates, names too long for the operator's
	// children, a peer that is this country, a service provider's peer that is a provider
	// or may send what a provider does not receive, misspelt keys) and the types of values.
	crd string
	// For the rules the templates check (nothing renders), the rendered base's object of
	// kind is given value at path, or patch (a JSON merge patch: null removes a key) for a
	// rule between fields, to see the API server refuse it.
	kind  string
	path  []any
	value any
	patch map[string]any
}

// helmArgs are the arguments after `helm template|install <release>`.
func (r stackRefusal) helmArgs() []string {
	return append([]string{stackDir, "--namespace", "cybercoop-ke", "-f", stackValues("refusal-base.yaml")}, r.args...)
}

var stackRefusals = []stackRefusal{
	// The schema, with the CRDs' words.
	{name: "retention below 60 days", args: []string{"--set", "vault.retention.minimumDays=59"},
		want: "at '/vault/retention/minimumDays': value must be 'at least 60: the convention requires expedited preservation for at least 60 days'",
		crd:  "retention.minimumDays must be at least 60: the convention requires expedited preservation for at least 60 days"},
	{name: "unknown request type", args: []string{"--set", "peers[0].requestTypes={Preservation,Extradition}"},
		want: "at '/peers/0/requestTypes/1': value must be one of 'Preservation', 'TrafficDataDisclosure', 'StoredDataAccess', 'RealTimeTrafficData', 'Interception', 'SubscriberInformation', 'MutualLegalAssistance', 'EmergencyDisclosure', 'ContentRemoval', 'AssetTracing', 'AssetFreezing'",
		crd:  `Unsupported value: "Extradition"`},
	{name: "country not assigned", args: []string{"--set", "country=XK"},
		want: "at '/country': value must be 'an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR'",
		crd:  "must be an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR"},
	{name: "country in lower case", args: []string{"--set", "country=ke"},
		want: "at '/country': value must be 'an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR'",
		crd:  "must be an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR"},
	{name: "peer country not a State", args: []string{"--set", "peers[0].country=EU"},
		want: "at '/peers/0/country': value must be 'an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR'",
		crd:  "must be an officially assigned ISO 3166-1 alpha-2 country code in upper case, e.g. KE, VN or BR"},
	{name: "http endpoint", args: []string{"--set", "peers[0].endpoint=http://gateway.fr.example"},
		want: "at '/peers/0/endpoint': value must be 'an https URL with a host, e.g. https://gateway.fr.example'",
		crd:  "peer.endpoint must be an https URL with a host, e.g. https://gateway.fr.example"},
	{name: "endpoint with a query", args: []string{"--set", "peers[0].endpoint=https://gateway.fr.example/?case=1"},
		want: "at '/peers/0/endpoint': value must be 'an https URL without user information, a query or a fragment'",
		crd:  "peer.endpoint must not carry user information, a query or a fragment"},
	{name: "endpoint with user information", args: []string{"--set", "peers[0].endpoint=https://officer@gateway.fr.example"},
		want: "at '/peers/0/endpoint': value must be 'an https URL without user information, a query or a fragment'",
		crd:  "peer.endpoint must not carry user information, a query or a fragment"},
	{name: "shift ends at 25:00", args: []string{"--set", "roster.shifts[0].end=25:00"},
		want: "at '/roster/shifts/0/end': value must be 'a time of day HH:MM between 00:00 and 24:00'",
		crd:  "must be a time of day HH:MM between 00:00 and 24:00"},
	{name: "shift starts at 24:00", args: []string{"--set", "roster.shifts[0].start=24:00", "--set", "roster.shifts[0].end=08:00"},
		want: "at '/roster/shifts/0/start': value must be 'a time of day from 00:00 to 23:59; 24:00 is only valid as an end'",
		crd:  "start must be a time of day from 00:00 to 23:59; 24:00 is only valid as an end"},
	{name: "shift starts at 9:00", args: []string{"--set", "roster.shifts[0].start=9:00"},
		want: "at '/roster/shifts/0/start': value must be 'a time of day HH:MM between 00:00 and 24:00'",
		crd:  "must be a time of day HH:MM between 00:00 and 24:00"},
	{name: "language not a BCP 47 tag", args: []string{"--set", "languages={en,english!}"},
		want: "at '/languages/1': value must be 'a BCP 47 language tag: a 2- or 3-letter language subtag optionally followed by subtags, e.g. en, fr or pt-BR'",
		crd:  "must be a BCP 47 language tag: a 2- or 3-letter language subtag optionally followed by subtags, e.g. en, fr or pt-BR"},
	{name: "peer language not a BCP 47 tag", args: []string{"--set", "peers[0].languages={fr_FR}"},
		want: "at '/peers/0/languages/0': value must be 'a BCP 47 language tag: a 2- or 3-letter language subtag optionally followed by subtags, e.g. en, fr or pt-BR'",
		crd:  "must be a BCP 47 language tag"},
	{name: "language twice", args: []string{"--set", "languages={en,fr,en}"},
		want: "at '/languages': items at 0 and 2 are equal",
		crd:  `Duplicate value: "en"`},
	{name: "peer retention below 60 days", args: []string{"--set", "peers[0].dataProtection.retentionDays=30"},
		want: "at '/peers/0/dataProtection/retentionDays': value must be 'at least 60: a preservation request must outlive the 60 days it asks for'",
		crd:  "spec.dataProtection.retentionDays in body should be greater than or equal to 60"},
	{name: "storage below 1Gi", args: []string{"--set", "vault.storage.size=1000Mi"},
		want: "at '/vault/storage/size': value must be 'a size of at least 1Gi, e.g. 50Gi, 2Ti or 1536Mi'",
		crd:  "storage.size must be at least 1Gi"},
	{name: "storage of 1G (less than 1Gi)", args: []string{"--set", "vault.storage.size=1G"},
		want: "at '/vault/storage/size': value must be 'a size of at least 1Gi, e.g. 50Gi, 2Ti or 1536Mi'",
		crd:  "storage.size must be at least 1Gi"},
	{name: "trust bundle not PEM", args: []string{"--set", "peers[0].trustBundle.secretRef=null", "--set", "peers[0].trustBundle.pem=MIIBkTCB"},
		want: "at '/peers/0/trustBundle/pem': value must be 'PEM-encoded certificates (-----BEGIN CERTIFICATE-----)'",
		crd:  "trustBundle.pem must hold PEM-encoded certificates (-----BEGIN CERTIFICATE-----)"},
	{name: "trust bundle with pem and secretRef", args: []string{"--set", "peers[0].trustBundle.pem=-----BEGIN CERTIFICATE-----"},
		want: "at '/peers/0/trustBundle': value must be 'a trust bundle with exactly one of pem or secretRef'",
		crd:  "trustBundle needs exactly one of pem or secretRef"},
	{name: "trust bundle Secret key with a space", args: []string{"--set", "peers[0].trustBundle.secretRef.key=ca cert"},
		want: `at '/peers/0/trustBundle/secretRef/key': value must be 'a Secret data key: letters, digits, "-", "_" or "."'`,
		crd:  "must be a Secret data key: letters, digits, '-', '_' or '.'"},
	{name: "contact without email or phone", args: []string{"--set-json", `contacts=[{"name":"Duty officer"}]`},
		want: "at '/contacts/0': value must be 'a contact with at least one of email or phone'",
		crd:  "a contact needs at least one of email or phone"},
	{name: "contact e-mail without a domain", args: []string{"--set", "contacts[0].email=duty"},
		want: "at '/contacts/0/email': value must be 'an e-mail address such as duty@cyber.example.gov'",
		crd:  "must be an e-mail address such as duty@cyber.example.gov"},
	{name: "contact phone not E.164", args: []string{"--set-string", "contacts[0].phone=0700 000 000"},
		want: "at '/contacts/0/phone': value must be 'a telephone number in E.164 form: + then 7 to 15 digits, e.g. +254700000000'",
		crd:  "must be a telephone number in E.164 form: + then 7 to 15 digits, e.g. +254700000000"},
	{name: "contact phone not quoted", args: []string{"--set-json", "contacts[0].phone=254700000000"},
		want: `at '/contacts/0/phone': value must be 'quoted, e.g. "+254700000000": YAML reads an unquoted phone number as a number'`},
	{name: "time zone not IANA", args: []string{"--set", "roster.timeZone=EAT+3"},
		want: "at '/roster/timeZone': value must be 'an IANA time zone name such as UTC, Africa/Nairobi or America/Argentina/Buenos_Aires'",
		crd:  "must be an IANA time zone name such as UTC, Africa/Nairobi or America/Argentina/Buenos_Aires"},
	{name: "external name in upper case", args: []string{"--set", "gateway.externalNames={Gateway.KE.example}"},
		want: "at '/gateway/externalNames/0': value must be 'a lower-case DNS name'",
		crd:  "gateway.externalNames must be lower-case DNS names"},
	{name: "server name not a DNS name", args: []string{"--set", "peers[0].serverName=gateway_fr"},
		want: "at '/peers/0/serverName': value must be 'a lower-case DNS name'",
		crd:  "peer.serverName must be a lower-case DNS name"},
	{name: "eleven gateway replicas", args: []string{"--set", "gateway.replicas=11"},
		want: "at '/gateway/replicas': maximum: got 11, want 10",
		crd:  "spec.gateway.replicas in body should be less than or equal to 10"},
	{name: "no gateway replica", args: []string{"--set", "gateway.replicas=0"},
		want: "at '/gateway/replicas': minimum: got 0, want 1",
		crd:  ""}, // the template omits a zero, so the CRD's default of 2 would apply: the chart is stricter
	{name: "unknown service", args: []string{"--set", "services={Preservation,Extradition}"},
		want: "at '/services/1': value must be one of 'TechnicalAdvice', 'Preservation', 'EvidenceCollection', 'LegalInformation', 'LocatingSuspects', 'EmergencyDisclosure'",
		crd:  `Unsupported value: "Extradition"`},
	{name: "unknown hash algorithm", args: []string{"--set", "vault.hashAlgorithm=MD5"},
		want: "at '/vault/hashAlgorithm': value must be one of 'SHA256', 'SHA512'",
		crd:  `Unsupported value: "MD5"`},
	{name: "unknown deletion policy", args: []string{"--set", "vault.deletionPolicy=Orphan"},
		want: "at '/vault/deletionPolicy': value must be one of 'Retain', 'Delete'",
		crd:  `Unsupported value: "Orphan"`},
	{name: "duration in days", args: []string{"--set", "vault.keyRotation.interval=90d"},
		want: "at '/vault/keyRotation/interval': value must be 'a duration such as 90m, 24h or 2160h'",
		crd:  "spec.keyRotation.interval: Invalid value",
		kind: "EvidenceVault", path: []any{"spec", "keyRotation", "interval"}, value: "90d"},
	{name: "S3 bucket name with capitals", args: []string{"--set", "vault.storage.s3.bucket=Evidence_KE", "--set", "vault.storage.s3.credentialsSecret=vault-s3"},
		want: "at '/vault/storage/s3/bucket': value must be 'an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit'",
		crd:  "storage.s3.bucket must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"},
	{name: "S3 endpoint without a scheme", args: []string{"--set", "vault.storage.s3.bucket=evidence-ke", "--set", "vault.storage.s3.credentialsSecret=vault-s3",
		"--set", "vault.storage.s3.endpoint=rgw.ceph.example.org"},
		want: "at '/vault/storage/s3/endpoint': value must be 'an http:// or https:// URL, e.g. https://rgw.ceph.example.org'",
		crd:  "storage.s3.endpoint must be an http:// or https:// URL"},
	{name: "S3 prefix without its slash", args: []string{"--set", "vault.storage.s3.bucket=evidence-ke", "--set", "vault.storage.s3.credentialsSecret=vault-s3",
		"--set", "vault.storage.s3.prefix=vault-ke"},
		want: "at '/vault/storage/s3/prefix': value must be 'a key prefix that ends with a slash and does not start with one, e.g. vault-ke/'",
		crd:  "storage.s3.prefix must end with '/' and must not start with one"},
	{name: "S3 bucket without credentials", args: []string{"--set", "vault.storage.s3.bucket=evidence-ke"},
		want: "at '/vault/storage/s3/credentialsSecret': value must be 'the name of a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: required with vault.storage.s3.bucket'"},
	{name: "S3 bucket with a storage class", args: []string{"--set", "vault.storage.s3.bucket=evidence-ke", "--set", "vault.storage.s3.credentialsSecret=vault-s3",
		"--set", "vault.storage.storageClassName=fast"},
		want: "vault.storage.storageClassName does not apply with vault.storage.s3.bucket",
		crd:  "storage.storageClassName does not apply with storage.s3",
		kind: "EvidenceVault", patch: map[string]any{"spec": map[string]any{"storage": map[string]any{"storageClassName": "fast",
			"s3": map[string]any{"bucket": "evidence-ke", "credentialsSecretRef": map[string]any{"name": "vault-s3"}}}}}},
	{name: "misspelt value", args: []string{"--set", "vault.retention.minimumDay=90"},
		want: "at '/vault/retention': additional properties 'minimumDay' not allowed"},
	{name: "service provider id not a DNS label", args: []string{"--set", "serviceProvider.id=Safiri_Mail", "--set", "serviceProvider.name=Safiri Mail Ltd"},
		want: `at '/serviceProvider/id': value must be 'a lower-case DNS label of 3 to 63 characters (letters, digits, "-"), e.g. example-mail'`,
		crd:  "must be a lower-case DNS label of 3 to 63 characters (letters, digits, '-'), e.g. example-mail"},
	{name: "service provider id of two characters", args: []string{"--set", "serviceProvider.id=sm", "--set", "serviceProvider.name=Safiri Mail Ltd"},
		want: `at '/serviceProvider/id': value must be 'a lower-case DNS label of 3 to 63 characters (letters, digits, "-"), e.g. example-mail'`,
		crd:  "spec.serviceProvider.id in body should be at least 3 chars long"},
	{name: "service provider id of 64 characters", args: []string{"--set", "serviceProvider.id=" + strings.Repeat("s", 64), "--set", "serviceProvider.name=Safiri Mail Ltd"},
		want: `at '/serviceProvider/id': value must be 'a lower-case DNS label of 3 to 63 characters (letters, digits, "-"), e.g. example-mail'`,
		crd:  "spec.serviceProvider.id: Too long: may not be more than 63 bytes"},
	{name: "service provider without a name", args: []string{"--set", "serviceProvider.id=safiri-mail"},
		want: "at '/serviceProvider': value must be 'empty for a State, or a service provider with both id and name, e.g. {id: safiri-mail, name: Safiri Mail Ltd}'",
		crd:  "spec.serviceProvider.name: Required value"},
	{name: "service provider with an empty name", args: []string{"--set", "serviceProvider.id=safiri-mail", "--set", "serviceProvider.name="},
		want: "at '/serviceProvider/name': minLength: got 0, want 1",
		crd:  "spec.serviceProvider.name in body should be at least 1 chars long"},
	{name: "service provider misspelt", args: []string{"--set", "serviceProvider.ID=safiri-mail", "--set", "serviceProvider.name=Safiri Mail Ltd"},
		want: "at '/serviceProvider': additional properties 'ID' not allowed"},
	{name: "peer with country and provider", args: []string{"--set", "peers[0].provider=safiri-mail"},
		want: "at '/peers/0': value must be 'a peer with exactly one of country (a State) or provider (a service provider)'",
		crd:  "peer needs exactly one of country (a State) or provider (a service provider)"},
	{name: "peer with neither country nor provider", args: []string{"--set-json", `peers[0]={"endpoint":"https://gateway.fr.example","trustBundle":{"secretRef":{"name":"fr-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 42"}}`},
		want: "at '/peers/0': value must be 'a peer with exactly one of country (a State) or provider (a service provider)'",
		crd:  "peer needs exactly one of country (a State) or provider (a service provider)",
		kind: "CooperationChannel", patch: map[string]any{"spec": map[string]any{"peer": map[string]any{"country": nil}}}},
	{name: "peer provider in upper case", args: []string{"--set-json", `peers[0]={"provider":"Safiri-Mail","endpoint":"https://orders.safiri-mail.example","trustBundle":{"secretRef":{"name":"safiri-mail-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"CMCA 2018 (example)"}}`},
		want: `at '/peers/0/provider': value must be 'a lower-case DNS label of 3 to 63 characters (letters, digits, "-"), e.g. example-mail'`,
		crd:  "must be a lower-case DNS label of 3 to 63 characters (letters, digits, '-'), e.g. example-mail"},
	{name: "focal point name not a DNS label", args: []string{"--set", "focalPointName=KE_POC"},
		want: "at '/focalPointName': value must be 'empty, or a DNS label: lower-case letters, digits and hyphens, starting and ending with a letter or digit'",
		crd:  "a lowercase RFC 1123 subdomain"},

	// The templates, for what a JSON Schema cannot state, with the CRDs' words where a CRD rule exists.
	{name: "shift from a time to the same time", args: []string{"--set", "roster.shifts[0].start=08:00", "--set", "roster.shifts[0].end=08:00"},
		want: "roster.shifts[0]: start and end must differ: a shift from a time to the same time covers nothing (use 00:00 to 24:00 for a whole day)",
		crd:  "start and end must differ: a shift from a time to the same time covers nothing (use 00:00 to 24:00 for a whole day)",
		kind: "FocalPoint", path: []any{"spec", "roster", "shifts", 0, "end"}, value: "00:00"},
	{name: "key rotation under an hour", args: []string{"--set", "vault.keyRotation.interval=30m"},
		want: `vault.keyRotation.interval is "30m": keyRotation.interval must be at least 1h`,
		crd:  "keyRotation.interval must be at least 1h",
		kind: "EvidenceVault", path: []any{"spec", "keyRotation", "interval"}, value: "30m"},
	{name: "verification every minute", args: []string{"--set", "vault.verification.interval=1m"},
		want: `vault.verification.interval is "1m": verification.interval must be at least 5m`,
		crd:  "verification.interval must be at least 5m",
		kind: "EvidenceVault", path: []any{"spec", "verification", "interval"}, value: "1m"},
	{name: "probe every 5 seconds", args: []string{"--set", "peers[0].probe.interval=5s"},
		want: `peers[0].probe.interval is "5s": probe.interval must be between 10s and 24h`,
		crd:  "probe.interval must be between 10s and 24h",
		kind: "CooperationChannel", path: []any{"spec", "probe"}, value: map[string]any{"interval": "5s"}},
	{name: "deadline of a minute", args: []string{"--set-json", `peers[0].deadlines=[{"type":"EmergencyDisclosure","within":"1m"}]`},
		want: `peers[0].deadlines[0].within is "1m": deadlines[].within must be between 15m and 8760h (365 days)`,
		crd:  "deadlines[].within must be between 15m and 8760h (365 days)",
		kind: "CooperationChannel", path: []any{"spec", "deadlines"}, value: []any{map[string]any{"type": "EmergencyDisclosure", "within": "1m"}}},
	{name: "two deadlines for one type", args: []string{"--set-json", `peers[0].deadlines=[{"type":"Preservation","within":"24h"},{"type":"Preservation","within":"48h"}]`},
		want: "peers[0].deadlines[1]: Preservation already has a deadline in peers[0].deadlines[0]: one per request type",
		crd:  "Duplicate value",
		kind: "CooperationChannel", path: []any{"spec", "deadlines"}, value: []any{map[string]any{"type": "Preservation", "within": "24h"}, map[string]any{"type": "Preservation", "within": "48h"}}},
	{name: "leaf certificates for two years", args: []string{"--set", "certificates.leafDuration=17520h"},
		want: `certificates.leafDuration is "17520h": must be between 1h and 8760h (365 days)`,
		crd:  "must be between 1h and 8760h (365 days)",
		kind: "FocalPoint", path: []any{"spec", "certificates"}, value: map[string]any{"leafDuration": "17520h"}},
	{name: "leaf renewed before it is issued", args: []string{"--set", "peers[0].certificates.leafDuration=24h", "--set", "peers[0].certificates.leafRenewBefore=48h"},
		want: "peers[0].certificates: leafRenewBefore must be shorter than leafDuration",
		crd:  "leafRenewBefore must be shorter than leafDuration",
		kind: "CooperationChannel", path: []any{"spec", "certificates"}, value: map[string]any{"leafDuration": "24h", "leafRenewBefore": "48h"}},
	{name: "CA for 30 years", args: []string{"--set", "certificates.caDuration=262800h"},
		want: `certificates.caDuration is "262800h": caDuration must be between 24h and 175200h (20 years)`,
		crd:  "caDuration must be between 24h and 175200h (20 years)",
		kind: "FocalPoint", path: []any{"spec", "certificates"}, value: map[string]any{"caDuration": "262800h"}},
	{name: "CA renewed before the default lifetime", args: []string{"--set", "certificates.caRenewBefore=50000h"},
		want: "certificates: caRenewBefore must be shorter than caDuration (default 43800h)",
		crd:  "caRenewBefore must be shorter than caDuration (default 43800h)",
		kind: "FocalPoint", path: []any{"spec", "certificates"}, value: map[string]any{"caRenewBefore": "50000h"}},
	{name: "cert-manager issuer with ReplaceKey", args: []string{"--set", "certificates.issuerRef.name=national-ca", "--set", "certificates.caRotationPolicy=ReplaceKey"},
		want: "certificates: caRotationPolicy ReplaceKey applies to the operator's own CA and cannot be combined with issuerRef: the issuer's CA is rotated by whoever runs it",
		crd:  "caRotationPolicy ReplaceKey applies to the operator's own CA and cannot be combined with issuerRef: the issuer's CA is rotated by whoever runs it",
		kind: "FocalPoint", path: []any{"spec", "certificates"}, value: map[string]any{"issuerRef": map[string]any{"name": "national-ca"}, "caRotationPolicy": "ReplaceKey"}},
	{name: "cert-manager issuer with a CA lifetime", args: []string{"--set", "certificates.issuerRef.name=national-ca", "--set", "certificates.caDuration=87600h"},
		want: "certificates: caDuration and caRenewBefore apply to the operator's own CA and cannot be combined with issuerRef: the issuer's CA lifetime is set where the issuer is configured",
		crd:  "caDuration and caRenewBefore apply to the operator's own CA and cannot be combined with issuerRef: the issuer's CA lifetime is set where the issuer is configured",
		kind: "FocalPoint", path: []any{"spec", "certificates"}, value: map[string]any{"issuerRef": map[string]any{"name": "national-ca"}, "caDuration": "87600h"}},
	// The chart's own rules: no CRD refuses these, the operator or the cluster would fail later.
	{name: "two peers with the same country", args: []string{"--set-json", `peers[1]={"country":"FR","name":"to-france","endpoint":"https://gw2.fr.example","trustBundle":{"secretRef":{"name":"fr-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 42"}}`},
		want: "peers[1].country FR is already the country of peers[0]: declare one channel per peer State"},
	{name: "two channels with the same name", args: []string{"--set-json", `peers[1]={"country":"DE","name":"to-fr","endpoint":"https://gw.de.example","trustBundle":{"secretRef":{"name":"de-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 42"}}`},
		want: `peers[1]: the channel name "to-fr" is already the name of peers[0]'s channel: give one of them another name`},
	{name: "a channel to this country", args: []string{"--set", "peers[0].country=KE"},
		want: "peers[0].country KE is this stack's own country: a channel connects to another State"},
	{name: "a channel to a provider with Interception", args: []string{"--set-json", `peers[0]={"provider":"safiri-mail","endpoint":"https://orders.safiri-mail.example","trustBundle":{"secretRef":{"name":"safiri-mail-ca"}},"requestTypes":["Preservation","SubscriberInformation","Interception"],"dataProtection":{"legalBasis":"CMCA 2018 (example)"}}`},
		want: "peers[0].requestTypes[2] Interception: a channel to a service provider carries only Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval (articles 25 to 27 and 34)",
		crd:  "requestTypes: a channel to a service provider carries only Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval (articles 25 to 27 and 34)",
		kind: "CooperationChannel", patch: map[string]any{"spec": map[string]any{
			"peer":         map[string]any{"country": nil, "provider": "safiri-mail"},
			"requestTypes": []any{"Preservation", "SubscriberInformation", "Interception"},
		}}},
	{name: "two peers with the same provider", args: []string{"--set-json", `peers[1]={"provider":"safiri-mail","endpoint":"https://orders.safiri-mail.example","trustBundle":{"secretRef":{"name":"safiri-mail-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"CMCA 2018 (example)"}}`, "--set-json", `peers[2]={"provider":"safiri-mail","name":"to-safiri","endpoint":"https://orders2.safiri-mail.example","trustBundle":{"secretRef":{"name":"safiri-mail-ca"}},"requestTypes":["ContentRemoval"],"dataProtection":{"legalBasis":"CMCA 2018 (example)"}}`},
		want: "peers[2].provider safiri-mail is already the provider of peers[1]: declare one channel per provider"},
	{name: "a provider's peer is a provider", args: []string{"--set", "serviceProvider.id=safiri-mail", "--set", "serviceProvider.name=Safiri Mail Ltd", "--set-json", `peers[1]={"provider":"hopthu-mail","endpoint":"https://orders.hopthu.example","trustBundle":{"secretRef":{"name":"hopthu-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 25 (example)"}}`},
		want: "peers[1].provider hopthu-mail: this stack is the service provider safiri-mail's endpoint, and a provider answers authorities, not other providers: its peers are States (peers[1].country)"},
	{name: "a provider's peer sends Interception", args: []string{"--set", "serviceProvider.id=safiri-mail", "--set", "serviceProvider.name=Safiri Mail Ltd", "--set", "peers[0].requestTypes={Preservation,Interception}"},
		want: "peers[0].requestTypes[1] Interception: the service provider safiri-mail receives only Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval (articles 25 to 27 and 34); its gateway would never accept it"},
	{name: "a provider with two channels to one State", args: []string{"--set", "serviceProvider.id=safiri-mail", "--set", "serviceProvider.name=Safiri Mail Ltd", "--set", "peers[0].country=FR", "--set-json", `peers[1]={"country":"FR","name":"to-france","endpoint":"https://gw2.fr.example","trustBundle":{"secretRef":{"name":"fr-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 42"}}`},
		want: "peers[1].country FR is already the country of peers[0]: declare one channel per peer State"},
	{name: "provider too long for its channel's default name", args: []string{"--set-json", `peers[0]={"provider":"` + strings.Repeat("p", 61) + `","endpoint":"https://orders.example","trustBundle":{"secretRef":{"name":"p-ca"}},"requestTypes":["Preservation"],"dataProtection":{"legalBasis":"UNCC art. 25 (example)"}}`},
		want: `peers[0]: the channel name "to-` + strings.Repeat("p", 61) + `" ("to-" + provider) is 64 characters; at most 63 fit the label app.kubernetes.io/instance the operator puts on the channel's certificate and trust objects: set peers[0].name`},
	{name: "vault name too long", args: []string{"--set", "vault.name=" + strings.Repeat("v", 47)},
		want: "at '/vault/name': maxLength: got 47, want 46"},
	{name: "release name too long for the vault", release: strings.Repeat("r", 40),
		want: `the EvidenceVault's name "` + strings.Repeat("r", 40) + `-evidence" (release name + "-evidence") is 49 characters; at most 46 leave room for its StatefulSet's pod and revision names: set vault.name, or choose a shorter release name`},
}

// TestStackBadValuesAreRefused: `helm template` and `helm install --dry-run=server` refuse
// every value set of stackRefusals with its message, before anything reaches the cluster.
func TestStackBadValuesAreRefused(t *testing.T) {
	for _, r := range stackRefusals {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			release := cmp.Or(r.release, "ke")
			for _, cmd := range [][]string{
				{"template", release},
				{"install", release, "--dry-run=server", "--kubeconfig", kubeconfig},
			} {
				out, err := helm(append(cmd, r.helmArgs()...)...)
				if err == nil {
					t.Fatalf("helm %s %v succeeded; want it refused with %q", cmd[0], r.args, r.want)
				}
				if !strings.Contains(out, r.want) {
					t.Errorf("helm %s %v: want the message %q, got:\n%s", cmd[0], r.args, r.want, out)
				}
			}
		})
	}
}

// TestStackSchemaMirrorsCRD: each value the chart refuses after a CRD rule, given to the
// API server (rendered without the schema, or set in a rendered object for the rules the
// templates check), is refused there too, with the CRD's message: the chart refuses what
// the CRDs refuse, in their words.
func TestStackSchemaMirrorsCRD(t *testing.T) {
	base := renderChart(t, stackDir, "ke", "cybercoop-ke", "-f", stackValues("refusal-base.yaml"))
	for _, r := range stackRefusals {
		if r.crd == "" {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			var objs []*unstructured.Unstructured
			if r.kind == "" {
				objs = renderChart(t, stackDir, "ke", "cybercoop-ke", append([]string{"--skip-schema-validation", "-f", stackValues("refusal-base.yaml")}, r.args...)...)
			} else {
				obj := ofKind(base, r.kind)[0].DeepCopy()
				if r.patch != nil {
					mergePatch(obj.Object, r.patch)
				} else {
					setPath(t, obj.Object, r.path, r.value)
				}
				objs = []*unstructured.Unstructured{obj}
			}
			var refusals []string
			for _, o := range objs {
				if err := controlPlane.Client.Create(t.Context(), o.DeepCopy(), client.DryRunAll); err != nil {
					refusals = append(refusals, err.Error())
				}
			}
			if len(refusals) == 0 {
				t.Fatalf("the API server accepted every object; the chart refuses it with %q", r.want)
			}
			if !slices.ContainsFunc(refusals, func(e string) bool { return strings.Contains(e, r.crd) }) {
				t.Errorf("the API server refused with %q, not with %q", refusals, r.crd)
			}
		})
	}
}

// mergePatch applies patch to obj as a JSON merge patch (RFC 7386): objects merge,
// null removes a key, anything else replaces.
func mergePatch(obj, patch map[string]any) {
	for key, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(obj, key)
		case map[string]any:
			sub, ok := obj[key].(map[string]any)
			if !ok {
				sub = map[string]any{}
				obj[key] = sub
			}
			mergePatch(sub, v)
		default:
			obj[key] = v
		}
	}
}

// setPath sets v at path (map keys and list indexes) in obj.
func setPath(t *testing.T, obj map[string]any, path []any, v any) {
	t.Helper()
	var cur any = obj
	for i, step := range path {
		last := i == len(path)-1
		switch key := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: %v is not an object", path, path[:i])
			}
			if last {
				m[key] = v
				return
			}
			cur = m[key]
		case int:
			l, ok := cur.([]any)
			if !ok || key >= len(l) {
				t.Fatalf("%v: %v has no item %d", path, path[:i], key)
			}
			if last {
				l[key] = v
				return
			}
			cur = l[key]
		default:
			t.Fatalf("%v: step %v is neither a key nor an index", path, fmt.Sprint(step))
		}
	}
}
