package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/officer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

// demoCountry is one sample State as the demo runs it.
type demoCountry struct {
	name    string // for people
	release string // its stack chart release, in namespace ns
	ns      string
	fp      string
	ev      string
	channel string // its CooperationChannel to the other
	example string // its values file in charts/cybercoop-stack/examples
	// caSecret is the Secret a peer's channel takes this country's CA from.
	caSecret string
	host     string // the external name peers use (spec.gateway.externalNames)

	ln      net.Listener
	url     string
	vault   *localstack.Vault
	gateway *localstack.Gateway
}

var (
	kenya = &demoCountry{name: "Kenya", release: "ke", ns: "cybercoop-ke", fp: "ke-poc", ev: "ke-evidence", channel: "to-fr",
		example: "kenya.yaml", caSecret: "ke-ca", host: "gateway.ke.example"}
	france = &demoCountry{name: "France", release: "fr", ns: "cybercoop-fr", fp: "fr-poc", ev: "fr-evidence", channel: "to-ke",
		example: "france.yaml", caSecret: "fr-ca", host: "gateway.fr.example"}
	countries = []*demoCountry{kenya, france}
	// pairs are each country with its peer.
	pairs = [][2]*demoCountry{{kenya, france}, {france, kenya}}
)

func (dc *demoCountry) vaultRef() *cybercoopv1alpha1.EvidenceVault {
	return &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Namespace: dc.ns, Name: dc.ev}}
}

// gatewayServiceHost is the name of its gateway's Service, which the operator
// calls for the cases summary (status.requests of each channel).
func (dc *demoCountry) gatewayServiceHost() string { return dc.fp + "-gateway." + dc.ns + ".svc" }

// vaultHost is the name of its vault's Service, which the operator calls.
func (dc *demoCountry) vaultHost() string { return evidencevault.ServiceHost(dc.vaultRef()) }

// stack is the two countries' stacks and the local processes that serve them.
type stack struct {
	*demo
	stops []func() error
}

func (s *stack) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		_ = s.stops[i]()
	}
}

// installStacks installs Kenya's and France's stacks with the stack chart, from its
// examples with each peer's endpoint at the address this demo runs its gateway on,
// binds their evidence volumes, runs their vaults, and prints their status.
func (d *demo) installStacks(ctx context.Context) (*stack, error) {
	s := &stack{demo: d}
	step("installing Kenya's and France's stacks from the stack chart's examples, each into a namespace enforcing the restricted Pod Security profile")
	for _, dc := range countries {
		var err error
		if dc.ln, dc.url, err = localstack.Listen(); err != nil {
			return s, err
		}
		s.stops = append(s.stops, dc.ln.Close)
	}
	for _, pair := range pairs {
		if err := d.installStack(ctx, pair[0], pair[1]); err != nil {
			return s, err
		}
	}

	step("waiting for every FocalPoint to be Ready")
	if err := d.kubectl("wait", "--for=condition=Ready", "focalpoints", "--all", "-A", "--timeout=180s"); err != nil {
		d.conditions("focalpoints")
		return s, fmt.Errorf("the FocalPoints did not become Ready")
	}
	_ = d.kubectl("get", "focalpoints", "-A", "-o",
		`custom-columns=FOCALPOINT:.metadata.name,CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason`)
	fmt.Println()
	_ = d.kubectl("get", "focalpoints", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}: on call {.status.coverage.hoursPerWeek} h in the week of {.status.coverage.weekStart}; endpoint {.status.endpoint}; gateway pods available {.status.gatewayReplicas}{"\n"}  national CA generation {.status.certificates.ca.caGeneration} valid until {.status.certificates.ca.notAfter}; gateway certificate valid until {.status.certificates.gatewayServing.notAfter}, renewed at {.status.certificates.gatewayServing.renewalTime}{"\n"}{end}`)

	step("waiting for every EvidenceVault's keys and certificates")
	for _, condition := range []string{"KeysReady", "CertificateReady"} {
		if err := d.kubectl("wait", "--for=condition="+condition, "evidencevaults", "--all", "-A", "--timeout=120s"); err != nil {
			return s, err
		}
	}

	step("binding each evidence volume claim as a provisioner would, and running each country's vault as a local process on the keys and certificates the operator made")
	for _, dc := range countries {
		if err := s.runVault(ctx, dc); err != nil {
			return s, err
		}
	}
	if d.dns.Available() {
		step("waiting for every EvidenceVault to be Ready: the operator verified each vault's custody log against its signed checkpoint")
		if err := d.kubectl("wait", "--for=condition=Ready", "evidencevaults", "--all", "-A", "--timeout=120s"); err != nil {
			d.conditions("evidencevaults")
			return s, err
		}
	}
	_ = d.kubectl("get", "evidencevaults", "-A", "-o",
		`custom-columns=EVIDENCEVAULT:.metadata.name,CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason`)
	fmt.Println()
	_ = d.kubectl("get", "evidencevaults", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}: endpoint {.status.endpoint}; key version {.status.keys.activeVersion} active, next rotation {.status.keys.nextRotation}{"\n"}  serving certificate valid until {.status.certificates.serving.notAfter}; checkpoints signed by {.status.checkpointVerifierKey}{"\n"}  {.status.conditions[?(@.type=="IntegrityVerified")].message}{"\n"}{end}`)
	fmt.Println()
	_ = d.kubectl("get", "deployments,statefulsets,services,poddisruptionbudgets,networkpolicies,configmaps,serviceaccounts,secrets,persistentvolumeclaims,pods",
		"-n", kenya.ns, "-l", "app.kubernetes.io/part-of=cybercoop")
	fmt.Println()
	_ = d.kubectl("get", "events", "-n", kenya.ns)
	return s, nil
}

// demoValues writes the values the demo gives on top of a country's example: its
// peer's endpoint at the address this demo runs the peer's gateway on (in a real
// deployment: the peer's public address), with the peer's external name to verify.
func (d *demo) demoValues(local, peer *demoCountry) (string, error) {
	raw, err := os.ReadFile(filepath.Join(d.root, "charts", "cybercoop-stack", "examples", local.example))
	if err != nil {
		return "", err
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return "", err
	}
	peers, _ := values["peers"].([]any)
	if len(peers) != 1 {
		return "", fmt.Errorf("examples/%s has %d peers, the demo expects 1", local.example, len(peers))
	}
	p := peers[0].(map[string]any)
	p["endpoint"], p["serverName"] = peer.url, peer.host
	out, err := yaml.Marshal(map[string]any{"peers": peers})
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.work, "values", local.release+"-demo.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, out, 0o600)
}

// cooperate runs both countries' gateways as local processes on the operator's
// Secrets (a simulated cluster runs no containers), lets the two States exchange
// their CA certificates, and sends one request from Kenya to France.
func (s *stack) cooperate(ctx context.Context) error {
	step("running each country's gateway as a local process on the Secrets the operator issued")
	for _, dc := range countries {
		if err := s.runGateway(ctx, dc); err != nil {
			return err
		}
	}

	step("Kenya and France exchange their national CA certificates out of band (a Secret each, as the channels' trustBundle.secretRef says)")
	if err := s.exchangeCAs(ctx, pairs); err != nil {
		return err
	}

	step("waiting for both channels: peer trusted, reachable, certificate ready")
	if err := s.kubectl("wait", "--for=condition=Ready", "cooperationchannels", "--all", "-A", "--timeout=120s"); err != nil {
		s.conditions("cooperationchannels")
		return err
	}
	_ = s.kubectl("get", "cooperationchannels", "-A", "-o", "wide")

	step("every resource")
	_ = s.kubectl("get", "cybercoop", "-A")

	step("Kenya's duty officer sends France a Preservation request through Kenya's gateway")
	if err := sendPreservation(ctx, s.c); err != nil {
		return err
	}
	return s.followCase(ctx)
}

// installStack installs local's stack from its example, with peer's endpoint
// at the address this demo runs peer's gateway on.
func (d *demo) installStack(ctx context.Context, local, peer *demoCountry) error {
	if err := d.restrictedNamespace(ctx, local.ns); err != nil {
		return err
	}
	values, err := d.demoValues(local, peer)
	if err != nil {
		return err
	}
	fmt.Printf("  helm install %s charts/cybercoop-stack --namespace %s -f charts/cybercoop-stack/examples/%s -f %s\n",
		local.release, local.ns, local.example, values)
	return d.helm("install", local.release, filepath.Join(d.root, "charts", "cybercoop-stack"), "--namespace", local.ns,
		"-f", filepath.Join(d.root, "charts", "cybercoop-stack", "examples", local.example), "-f", values)
}

// runVault binds dc's evidence volume claim as a provisioner would and runs its
// vault as a local process on the keys and certificates the operator made,
// reachable by the operator at its Service's name.
func (s *stack) runVault(ctx context.Context, dc *demoCountry) error {
	ev := dc.vaultRef()
	if err := envtestutil.BindClaim(ctx, s.c, dc.ns, evidencevault.ClaimName(ev)); err != nil {
		return err
	}
	if err := s.c.Get(ctx, client.ObjectKeyFromObject(ev), ev); err != nil {
		return err
	}
	v, err := localstack.StartVault(ctx, s.c, ev, filepath.Join(s.work, dc.ns, "vault"), logr.Discard())
	if err != nil {
		return err
	}
	dc.vault = v
	s.stops = append(s.stops, v.Stop)
	if err := s.dns.Serve(dc.vaultHost(), evidencevault.APIPort, v.Addr); err != nil {
		return err
	}
	fmt.Printf("  %s: vault on %s (for the operator: https://%s:%d), gateway to come on %s\n", dc.name, v.Addr, dc.vaultHost(), evidencevault.APIPort, dc.url)
	return nil
}

// runGateway runs dc's gateway as a local process on the Secrets the operator
// issued, reachable by the operator at its Service's name and port (for the
// cases summary).
func (s *stack) runGateway(ctx context.Context, dc *demoCountry) error {
	fp := &cybercoopv1alpha1.FocalPoint{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: dc.ns, Name: dc.fp}, fp); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	g, err := localstack.StartGateway(startCtx, s.c, fp, dc.vault.Addr, dc.ln, filepath.Join(s.work, dc.ns, "gateway"), logr.Discard())
	cancel()
	if err != nil {
		return err
	}
	dc.gateway = g
	s.stops = append(s.stops, g.Stop)
	fmt.Printf("  %s: gateway on %s, serving as %q\n", dc.name, dc.url, g.Server.Self())
	if err := s.dns.Serve(dc.gatewayServiceHost(), 443, dc.ln.Addr().String()); err != nil {
		fmt.Printf("  (the operator will not reach %s: %v)\n", dc.gatewayServiceHost(), err)
	}
	return nil
}

// exchangeCAs gives each local side of pairs its peer's CA in the Secret its
// channel's trustBundle.secretRef names, as the two would hand them over out of
// band.
func (s *stack) exchangeCAs(ctx context.Context, pairs [][2]*demoCountry) error {
	for _, pair := range pairs {
		local, peer := pair[0], pair[1]
		bundle, err := secretKey(ctx, s.c, peer.ns, peer.fp+"-trust-bundle", pki.CACertKey)
		if err != nil {
			return err
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: peer.caSecret, Namespace: local.ns}, Data: map[string][]byte{pki.CACertKey: bundle}}
		if err := s.c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		fmt.Printf("  %s/%s: %s's CA\n", local.ns, peer.caSecret, peer.name)
	}
	return nil
}

// officerOf is a country's officer client of its own gateway (cybercoop cases),
// with the credential of the Secret <fp>-officer.
func (s *stack) officerOf(ctx context.Context, dc *demoCountry) (*officer.Client, error) {
	data := map[string][]byte{}
	for _, k := range []string{pki.TLSCertKey, pki.TLSPrivateKeyKey} {
		v, err := secretKey(ctx, s.c, dc.ns, dc.fp+"-officer", k)
		if err != nil {
			return nil, err
		}
		data[k] = v
	}
	bundle, err := secretKey(ctx, s.c, dc.ns, dc.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(data[pki.TLSCertKey], data[pki.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	return officer.New(dc.gateway.URL, dc.host, cert, pool(bundle))
}

// followCase shows the request as a case on both sides: France's officer lists
// it, acknowledges it and asks Kenya a question; Kenya's gateway receives the
// signed updates and Kenya's officer sees them.
func (s *stack) followCase(ctx context.Context) error {
	step("France's duty officer follows the request as a case (cybercoop cases): acknowledges it, asks Kenya a question")
	fr, err := s.officerOf(ctx, france)
	if err != nil {
		return err
	}
	received, err := fr.List(ctx, officer.Filter{Direction: "inbound"})
	if err != nil {
		return err
	}
	if len(received) == 0 {
		return errors.New("france's gateway lists no received request")
	}
	_ = printCaseTable(received)
	target := "inbound/KE/" + received[0].RequestID
	for _, a := range []wire.CaseAction{
		{Action: cases.Acknowledge},
		{Action: cases.RequestClarification, Reason: "Please confirm the time zone of the connection logs' period."},
	} {
		u, err := fr.Act(ctx, target, a)
		if err != nil {
			return err
		}
		delivered := u.Delivered != nil && *u.Delivered
		fmt.Printf("  %s: %s → %s, recorded in France's vault and signed; pushed to Kenya's gateway: %v\n", a.Action, u.Transition.From, u.Transition.To, delivered)
	}
	step("Kenya's duty officer sees France's steps, each verified against Kenya's trust in France and kept in Kenya's vault")
	ke, err := s.officerOf(ctx, kenya)
	if err != nil {
		return err
	}
	sent, err := ke.List(ctx, officer.Filter{Direction: "outbound"})
	if err != nil || len(sent) == 0 {
		return fmt.Errorf("kenya's gateway lists no sent request: %w", err)
	}
	c, err := ke.Show(ctx, "outbound/FR/"+sent[0].RequestID)
	if err != nil {
		return err
	}
	for _, t := range c.Transitions {
		fmt.Printf("  %d. %s by the %s side at %s: %s → %s %s\n", t.Sequence, t.Action, strings.ToLower(string(t.By)), t.Time.Format(time.RFC3339), t.From, t.To, t.Reason)
	}
	fmt.Printf("  due %s (Preservation: 72 hours from receipt, the clock stopped while France waits for Kenya's answer)\n", c.Due.UTC().Format(time.RFC3339))
	return nil
}

func printCaseTable(all []wire.Case) error {
	for _, c := range all {
		fmt.Printf("  %s/%s/%s  %s  %s  received %s  %s  due %s\n", c.Direction, c.Peer, c.RequestID, c.Type, c.Reference,
			c.Received.UTC().Format(time.RFC3339), c.State, c.Due.UTC().Format(time.RFC3339))
	}
	return nil
}

func secretKey(ctx context.Context, c client.Client, ns, name, key string) ([]byte, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	if len(s.Data[key]) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no %s", ns, name, key)
	}
	return s.Data[key], nil
}

func pool(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}

func sendPreservation(ctx context.Context, c client.Client) error {
	officerCrt, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-officer", pki.TLSCertKey)
	if err != nil {
		return err
	}
	officerKey, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-officer", pki.TLSPrivateKeyKey)
	if err != nil {
		return err
	}
	officer, err := tls.X509KeyPair(officerCrt, officerKey)
	if err != nil {
		return err
	}
	keTrust, err := secretKey(ctx, c, kenya.ns, kenya.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return err
	}
	frTrust, err := secretKey(ctx, c, france.ns, france.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return err
	}
	reference := fmt.Sprintf("KE-DCI-%d", time.Now().Unix())
	body, err := exampleRequest(".", "Preservation", reference)
	if err != nil {
		return err
	}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: kenya.host, RootCAs: pool(keTrust), Certificates: []tls.Certificate{officer},
	}}}
	url := kenya.gateway.URL + wire.PathOutbound + kenya.channel + "/requests"
	fmt.Printf("  POST %s (reference %s, as %s)\n", url, reference, "the officer credential in Secret "+kenya.ns+"/"+kenya.fp+"-officer")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the request was refused: %d %s", resp.StatusCode, answer)
	}
	var acc wire.Accepted
	if err := json.Unmarshal(answer, &acc); err != nil {
		return err
	}
	// Verify the receipt here too, with nothing but Kenya's trust in France's CA.
	rc, signer, err := receipt.Verify(acc.Receipt, pool(frTrust), france.host, time.Now())
	if err != nil {
		return fmt.Errorf("the receipt does not verify: %w", err)
	}
	fmt.Printf("  %d Created: France recorded request %s and signed a receipt (%d bytes of compact JWS), verified by Kenya's gateway and again here:\n",
		resp.StatusCode, acc.RequestID, len(acc.Receipt))
	fmt.Printf("    signed by    %s (issued by %s)\n", signer.Subject, signer.Issuer)
	fmt.Printf("    channel      %s, type %s, reference %s\n", rc.Channel, rc.Type, rc.Reference)
	fmt.Printf("    received     %s\n", rc.Received.Format(time.RFC3339))
	fmt.Printf("    digest       %s (SHA-256 of the request's RFC 8785 canonical JSON)\n", rc.Digest)
	fmt.Printf("    custody      entry %d of France's vault log, inclusion proof of %d hashes against its signed checkpoint\n",
		rc.Custody.Sequence, len(rc.Custody.InclusionProof))
	fmt.Printf("    checkpoint   %s\n", firstLines(rc.Custody.Checkpoint, 3))
	for _, dc := range []*demoCountry{kenya, france} {
		st := dc.vault.Vault.Status()
		fmt.Printf("  %s's vault holds %d objects (the request and the receipt)\n", dc.name, st.Objects)
	}
	return nil
}

// exampleRequest is the request schemas' valid example of type typ (under
// root) with the reference given.
func exampleRequest(root, typ, reference string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(root, "internal", "gateway", "requests", "testdata", "valid", typ+".json"))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	doc["reference"] = reference
	return json.Marshal(doc)
}

func firstLines(s string, n int) string {
	var out []byte
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i] == '\n' {
			n--
			if n == 0 {
				break
			}
			out = append(out, " / "...)
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

// conditions prints every condition of every object of a kind: what to look at
// first when one does not become Ready.
func (d *demo) conditions(kind string) {
	_ = d.kubectl("get", kind, "-A", "-o", `jsonpath={range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name}{"\n"}`+
		`{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}{end}`)
}
