package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// pair is Viet Nam and France, each with a channel to the other: France's peers
// may send Viet Nam Preservation and SubscriberInformation requests, and the
// intrusive StoredDataAccess.
type pair struct {
	vn, fr       *country
	frToVN       string // FR's channel to VN (FR's gateway sends through it)
	vnToFR       string // VN's channel to FR (VN's gateway admits FR by it)
	frClientAtVN *client
}

func newPair(t testing.TB) *pair {
	t.Helper()
	p := &pair{vn: newCountry(t, "VN"), fr: newCountry(t, "FR")}
	p.vnToFR = p.vn.connect(p.fr, "Preservation", "SubscriberInformation", "StoredDataAccess")
	p.frToVN = p.fr.connect(p.vn, "Preservation")
	// FR's channel certificate speaking to VN directly, as FR's gateway does.
	p.frClientAtVN = p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	return p
}

// send is an FR officer's request to VN through FR's gateway.
func (p *pair) send(t *testing.T, doc []byte) (int, []byte) {
	t.Helper()
	officer := p.fr.clientFor(p.fr.officer, p.fr.trustPool())
	return officer.mustCall(http.MethodPost, wire.PathOutbound+p.frToVN+"/requests", doc)
}

func objectCount(t *testing.T, v *vault.Vault) int {
	t.Helper()
	return v.Status().Objects
}

func TestPreservationFromFranceToVietNam(t *testing.T) {
	p := newPair(t)
	ref := reference(t)
	doc := example(t, "Preservation", map[string]any{"/reference": ref})

	status, body := p.send(t, doc)
	if status != http.StatusCreated {
		t.Fatalf("outbound: %d %s", status, body)
	}
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil || !acc.Verified || acc.Receipt == "" {
		t.Fatalf("outbound answer %s (%v)", body, err)
	}

	// FR can prove, with its trust in VN alone, that VN recorded the request.
	rc, signer, err := receipt.Verify(acc.Receipt, p.vn.trustPool(), p.vn.serverName(), time.Now())
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if rc.From != "FR" || rc.To != "VN" || rc.Channel != "FR-VN" || rc.Reference != ref || rc.Type != "Preservation" || rc.RequestID != acc.RequestID {
		t.Fatalf("receipt payload %+v", rc)
	}
	if signer.Subject.CommonName != p.vn.serverName() {
		t.Fatalf("receipt signed by %s", signer.Subject)
	}

	// VN's custody entry names FR's channel certificate as actor, relayed by VN's gateway.
	var entry vault.Entry
	if err := json.Unmarshal(rc.Custody.Entry, &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Cert == nil || !strings.Contains(entry.Cert.Subject, "FR channel to VN") {
		t.Fatalf("custody entry actor %+v", entry.Cert)
	}
	if entry.Via == nil || entry.Via.URI != p.vn.gatewayIdentity() {
		t.Fatalf("custody entry via %+v", entry.Via)
	}
	if !strings.Contains(entry.LegalBasis, "test channel VN-FR") {
		t.Fatalf("custody entry legal basis %q, want the channel's", entry.LegalBasis)
	}

	// Both vaults hold request and receipt, and both logs verify.
	for _, c := range []*country{p.vn, p.fr} {
		if n := objectCount(t, c.vault); n != 2 {
			t.Errorf("%s's vault holds %d objects, want the request and its receipt", c.code, n)
		}
		rep, err := c.vault.Verify(context.Background(), vault.SystemIdentity)
		if err != nil || !rep.OK() {
			t.Errorf("%s's vault does not verify: %v %+v", c.code, err, rep)
		}
	}

	// The same request again gets the same receipt, byte for byte, and nothing new is kept.
	status, body = p.send(t, doc)
	var again wire.Accepted
	if status != http.StatusOK || json.Unmarshal(body, &again) != nil || again.Receipt != acc.Receipt {
		t.Fatalf("resubmission: %d %s", status, body)
	}
	if n := objectCount(t, p.vn.vault); n != 2 {
		t.Errorf("VN holds %d objects after a resubmission", n)
	}

	// The same reference with other content is a conflict.
	other := example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": "Another summary of the facts."})
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, other)
	if status != http.StatusConflict || refusalOf(t, body).Reason != wire.ReasonReferenceReused {
		t.Fatalf("reused reference: %d %s", status, body)
	}

	// FR reads the state of its own request.
	status, body = p.frClientAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+acc.RequestID, nil)
	var st wire.RequestState
	if status != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Reference != ref || st.State != wire.StateReceived || st.Receipt != acc.Receipt {
		t.Fatalf("request state: %d %s", status, body)
	}
}

func TestRefusalsLeaveNothingBehind(t *testing.T) {
	p := newPair(t)
	before := objectCount(t, p.vn.vault)
	cases := []struct {
		name   string
		doc    []byte
		status int
		reason string
		field  string
	}{
		{"a type the channel does not permit", example(t, "EmergencyDisclosure", map[string]any{"/reference": reference(t)}),
			http.StatusForbidden, wire.ReasonRequestTypeNotPermitted, ""},
		{"a malformed request", example(t, "Preservation", map[string]any{"/reference": reference(t), "/requestingAuthority/email": "not an address", "/custodian": nil}),
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/requestingAuthority/email"},
		{"an intrusive request without its authorisation", example(t, "StoredDataAccess", map[string]any{"/reference": reference(t), "/authorisation": nil}),
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/authorisation"},
		{"an intrusive request whose authorisation expired", example(t, "StoredDataAccess", map[string]any{"/reference": reference(t), "/authorisation/expiry": "2020-01-01T00:00:00Z"}),
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/authorisation/expiry"},
		{"not JSON", []byte(`{"type": "Preservation", `), http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"too large", []byte(`{"type":"Preservation","pad":"` + strings.Repeat("x", wire.MaxRequestBody) + `"}`),
			http.StatusRequestEntityTooLarge, wire.ReasonRequestTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, tc.doc)
			r := refusalOf(t, body)
			if status != tc.status || r.Reason != tc.reason {
				t.Fatalf("%d %s, want %d %s", status, body, tc.status, tc.reason)
			}
			if tc.field != "" && !hasField(r, tc.field) {
				t.Fatalf("fields %+v do not name %s", r.Fields, tc.field)
			}
		})
	}
	if n := objectCount(t, p.vn.vault); n != before {
		t.Fatalf("refusals left %d objects in VN's vault", n-before)
	}
}

func hasField(r wire.Refusal, path string) bool {
	for _, f := range r.Fields {
		if f.Path == path {
			return true
		}
	}
	return false
}

func TestStrangersAndWrongRoles(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})

	// A client from a CA no channel trusts fails the handshake.
	stranger := newCA(t, "DE")
	de := &country{t: t, code: "DE", ca: stranger}
	cert := de.issue("", pki.LeafSpec{CommonName: "DE channel to VN", Usages: []pki.Usage{pki.UsageClient}})
	if _, _, err := p.vn.clientFor(cert, p.vn.trustPool()).call(http.MethodPost, wire.PathRequests, doc); err == nil {
		t.Fatal("a client of an unknown CA got an answer")
	}

	// VN's own officer is not a peer: the peer API refuses it.
	officerAtVN := p.vn.clientFor(p.vn.officer, p.vn.trustPool())
	status, body := officerAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonNoChannel {
		t.Fatalf("officer on the peer API: %d %s", status, body)
	}
	// A peer is not an officer: the outbound API refuses it.
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathOutbound+p.vnToFR+"/requests", doc)
	if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonNotAnOfficer {
		t.Fatalf("peer on the outbound API: %d %s", status, body)
	}
	// A certificate from VN's CA without the officer identity is neither.
	plain := p.vn.issue("", pki.LeafSpec{CommonName: "duty officer", Usages: []pki.Usage{pki.UsageClient}})
	status, body = p.vn.clientFor(plain, p.vn.trustPool()).mustCall(http.MethodPost, wire.PathOutbound+p.vnToFR+"/requests", doc)
	if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonNotAnOfficer {
		t.Fatalf("lookalike officer: %d %s", status, body)
	}
	if n := objectCount(t, p.vn.vault); n != 0 {
		t.Fatalf("VN's vault holds %d objects", n)
	}
}

// TestOneSenderCannotReadAnothersRequests: Germany, with a channel of its own at
// Viet Nam, asks for France's request by its id and is told it does not exist.
func TestOneSenderCannotReadAnothersRequests(t *testing.T) {
	p := newPair(t)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	toVN := de.connect(p.vn, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(toVN), p.vn.trustPool())

	status, body := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	var acc wire.Accepted
	if status != http.StatusCreated || json.Unmarshal(body, &acc) != nil {
		t.Fatalf("outbound: %d %s", status, body)
	}
	status, body = deAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+acc.RequestID, nil)
	if status != http.StatusNotFound || refusalOf(t, body).Reason != wire.ReasonNotFound {
		t.Fatalf("DE read FR's request: %d %s", status, body)
	}
	// DE's own request under the same reference is another request, not a conflict.
	status, body = deAtVN.mustCall(http.MethodPost, wire.PathRequests, example(t, "Preservation", map[string]any{"/reference": acc.RequestID}))
	if status != http.StatusCreated {
		t.Fatalf("DE's request: %d %s", status, body)
	}
}

func TestTrustBundleIsSignedAndChannelsReloadWithoutRestart(t *testing.T) {
	p := newPair(t)
	status, body := p.frClientAtVN.mustCall(http.MethodGet, wire.PathTrustBundle, nil)
	if status != http.StatusOK {
		t.Fatalf("trust bundle: %d %s", status, body)
	}
	b, cas, err := receipt.VerifyTrustBundle(string(body), p.vn.trustPool(), "VN", p.vn.serverName(), time.Now(), time.Minute)
	if err != nil || b.Country != "VN" || len(cas) != 1 || !cas[0].Equal(p.vn.ca.Certificate) {
		t.Fatalf("trust bundle %+v %v", b, err)
	}

	// Suspending VN's channel to FR takes effect at the next reload, without a restart.
	p.vn.channels.Channels[0].Suspended = true
	p.vn.writeChannels()
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonChannelSuspended {
		t.Fatalf("suspended channel: %d %s", status, body)
	}

	// A broken channels file is refused and the last good one kept.
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, ChannelsFile), []byte(`{"channels": [{"name": "to-fr", "surprise": 1}]}`))
	if _, err := p.vn.gw.files.Reload(); err == nil {
		t.Fatal("a broken channels file was loaded")
	}
	status, _ = p.frClientAtVN.mustCall(http.MethodGet, wire.PathTrustBundle, nil)
	if status != http.StatusOK {
		t.Fatalf("after a broken reload: %d", status)
	}
}

// TestCutOffBodyIsNotAcknowledged: a client that declares a body and stops half-way
// gets no receipt, and the vault holds nothing.
func TestCutOffBodyIsNotAcknowledged(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	conn, err := tls.Dial("tcp", strings.TrimPrefix(p.vn.url, "https://"), &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: p.vn.serverName(), RootCAs: p.vn.trustPool(),
		Certificates: []tls.Certificate{p.fr.channelCert(p.frToVN)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", wire.PathRequests, p.vn.serverName(), len(doc))
	if _, err := conn.Write(append([]byte(head), doc[:len(doc)/2]...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("a cut-off body was answered %d", resp.StatusCode)
		}
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("no answer to a cut-off body")
	}
	if n := objectCount(t, p.vn.vault); n != 0 {
		t.Fatalf("VN's vault holds %d objects after a cut-off body", n)
	}
}

// TestVaultDownNothingAcknowledged: with the vault unreachable the request is
// refused 503 and a retry after the vault is back is recorded once.
func TestNoVaultNothingAcknowledged(t *testing.T) {
	p := newPair(t)
	cfgVault := p.vn.vaultURL
	p.vn.vaultURL = "https://127.0.0.1:1"
	p.vn.writeConfig()
	p.vn.reload()
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusServiceUnavailable || refusalOf(t, body).Reason != wire.ReasonVaultUnavailable {
		t.Fatalf("vault down: %d %s", status, body)
	}
	p.vn.vaultURL = cfgVault
	p.vn.writeConfig()
	p.vn.reload()
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("vault back: %d %s", status, body)
	}
}

func TestDocumentsAreServed(t *testing.T) {
	p := newPair(t)
	status, body := p.frClientAtVN.mustCall(http.MethodGet, wire.PathOpenAPI, nil)
	var doc map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %d %.200s", status, body)
	}
	for _, name := range []string{"Preservation", "preservation.schema.json", "common.schema.json"} {
		status, body = p.frClientAtVN.mustCall(http.MethodGet, wire.PathSchemas+name, nil)
		if status != http.StatusOK || !strings.Contains(string(body), `"$id"`) {
			t.Fatalf("schema %s: %d %.200s", name, status, body)
		}
	}
	status, body = p.frClientAtVN.mustCall(http.MethodGet, wire.PathSchemas+"..%2Fetc%2Fpasswd", nil)
	if status != http.StatusNotFound {
		t.Fatalf("a path for a schema name: %d %.200s", status, body)
	}
}

// TestOtherVaultClientsCannotReadRequests: a client of the vault other than the
// gateway (here a local officer's certificate, which the default grants let read)
// knows the request's case from its id but neither sees nor reads it.
func TestOtherVaultClientsCannotReadRequests(t *testing.T) {
	p := newPair(t)
	status, body := p.send(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}))
	var acc wire.Accepted
	if status != http.StatusCreated || json.Unmarshal(body, &acc) != nil {
		t.Fatalf("outbound: %d %s", status, body)
	}
	rc, _, err := receipt.Verify(acc.Receipt, p.vn.trustPool(), p.vn.serverName(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caseRef := "inbound/FR/" + acc.RequestID
	other := vaultclient.New(p.vn.vaultURL, "vault.vn.test", p.vn.officer, p.vn.trustPool())
	if held, err := other.ObjectsByCase(context.Background(), caseRef); err != nil || len(held) != 0 {
		t.Fatalf("another client lists the request: %v %v", held, err)
	}
	if _, err := other.Read(context.Background(), vault.Digest(rc.Digest), caseRef, 1<<20); !vaultclient.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("another client reading with the case reference: %v", err)
	}
}
