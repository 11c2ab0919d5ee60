package gateway

// Attacks the adversary tests found to work, each fixed and kept here so it stays fixed.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

func TestIdenticalDocumentFromSecondPeerIsNew(t *testing.T) {
	p := newPair(t)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("FR: %d %s", status, body)
	}
	// Germany sends, for the first time, a document identical to France's.
	status, body = deAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("DE's first submission of a document France sent before: %d %s, want 201 (200 tells DE that VN already holds this exact document from someone)", status, body)
	}
}

func TestReceiptsAccessReferenceOpensNothing(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("FR: %d %s", status, body)
	}
	_, rc := checkAccepted(t, p.vn, "FR", doc, body)
	var entry vault.Entry
	if err := json.Unmarshal(rc.Custody.Entry, &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Metadata == nil || entry.Metadata.AuthorisationReference == "" || !entry.Metadata.OwnerOnly {
		t.Fatalf("custody entry metadata %+v: want an authorisation reference that opens the case for its owner only", entry.Metadata)
	}
	// Anyone holding the receipt (FR, FR's vault, whoever FR shows it to) has the
	// reference; a VN vault client other than the gateway reads FR's request with it.
	other := vaultclient.New(p.vn.vaultURL, "vault.vn.test", p.vn.officer, p.vn.trustPool())
	got, err := other.Read(context.Background(), vault.Digest(rc.Digest), entry.Metadata.AuthorisationReference, 1<<20)
	if err == nil {
		t.Fatalf("VN's officer read FR's request (%d bytes) with the authorisation reference printed in the receipt", len(got))
	}
	t.Logf("read refused: %v", err)
}

func TestReceiptWithAnotherReferenceOrTypeIsRefused(t *testing.T) {
	p := newPair(t)
	vnServing, err := tls.LoadX509KeyPair(filepath.Join(p.vn.paths.TLSDir, "tls.crt"), filepath.Join(p.vn.paths.TLSDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakePeer(t, p)
	for name, edit := range map[string]func(*receipt.Receipt){
		"reference": func(r *receipt.Receipt) { r.Reference = "SOMEONE-ELSES-REF" },
		"type":      func(r *receipt.Receipt) { r.Type = "EmergencyDisclosure" },
	} {
		t.Run(name, func(t *testing.T) {
			fake.set(func(status int, acc wire.Accepted) (int, []byte) {
				acc.Receipt = resign(t, vnServing, acc.Receipt, edit)
				return status, acceptance(t, acc)
			})
			doc := example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
			status, body := p.send(t, doc)
			if status != http.StatusBadGateway {
				t.Fatalf("a receipt whose %s is not the document's: %d %s, want 502 ReceiptInvalid", name, status, body)
			}
		})
	}
}

func TestPeerAnsweringAnEarlierIDIsStoredUnderOurOwnCase(t *testing.T) {
	p := newPair(t)
	vnServing, err := tls.LoadX509KeyPair(filepath.Join(p.vn.paths.TLSDir, "tls.crt"), filepath.Join(p.vn.paths.TLSDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	first := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-1"})
	status, body := p.send(t, first)
	if status != http.StatusCreated {
		t.Fatalf("first: %d %s", status, body)
	}
	firstAcc, _ := checkAccepted(t, p.vn, "FR", first, body)
	// VN's gateway (here a fake in front of it) names the second request with the
	// first one's id, in the answer and in a receipt it signs with its own key.
	fake := newFakePeer(t, p)
	fake.set(func(status int, acc wire.Accepted) (int, []byte) {
		acc.Receipt = resign(t, vnServing, acc.Receipt, func(r *receipt.Receipt) { r.RequestID = firstAcc.RequestID })
		acc.RequestID = firstAcc.RequestID
		return status, acceptance(t, acc)
	})
	second := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-2"})
	status, body = p.send(t, second)
	canonical, _ := requests.Canonical(second)
	var acc wire.Accepted
	_ = json.Unmarshal(body, &acc)
	if status < 300 && (!holds(t, p.fr.vault, canonical) || !holds(t, p.fr.vault, []byte(acc.Receipt))) {
		t.Fatalf("the officer was answered %d verified=%v, but France's vault holds the request: %v, the receipt: %v",
			status, acc.Verified, holds(t, p.fr.vault, canonical), holds(t, p.fr.vault, []byte(acc.Receipt)))
	}
}

func TestOutboundNeverFollowsPeerRedirects(t *testing.T) {
	p := newPair(t)
	// A plain-HTTP service inside France's network that the peer should not reach.
	var mu sync.Mutex
	var captured []string
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		captured = append(captured, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	}))
	defer internal.Close()
	serving := p.vn.issue("", pki.LeafSpec{CommonName: p.vn.serverName(), DNSNames: []string{p.vn.serverName()}, Usages: []pki.Usage{pki.UsageServer}})
	peer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin/delete-everything", http.StatusTemporaryRedirect)
	}))
	peer.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS13}
	peer.StartTLS()
	defer peer.Close()
	p.fr.channels.Channels[0].Endpoint = peer.URL
	p.fr.writeChannels()

	doc := example(t, "Preservation", map[string]any{"/reference": reference(t), "/factsSummary": secretValue + " facts in clear text."})
	status, body := p.send(t, doc)
	mu.Lock()
	defer mu.Unlock()
	if len(captured) > 0 {
		t.Fatalf("the peer's redirect made France's gateway send %q over plain HTTP to an address of the peer's choosing; the officer got %d %s",
			captured[0][:120], status, body)
	}
}

func TestConflictDoesNotEchoTheReference(t *testing.T) {
	p := newPair(t)
	ref := secretValue + "-" + fmt.Sprint(time.Now().UnixNano())
	doc := example(t, "Preservation", map[string]any{"/reference": ref})
	if status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	other := example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": "Other facts."})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, other)
	if strings.Contains(string(body), secretValue) {
		t.Fatalf("the 409 repeats the reference field: %d %s", status, body)
	}
}

func TestPollingDoesNotGrowTheCustodyLog(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	acc, _ := checkAccepted(t, p.vn, "FR", doc, body)
	before := p.vn.vault.Status().CustodyEntries
	for i := 0; i < 200; i++ {
		p.frClientAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+acc.RequestID, nil)
	}
	if grown := p.vn.vault.Status().CustodyEntries - before; grown > 1 {
		t.Fatalf("200 polls of one request's state added %d custody entries", grown)
	}
}

func TestVaultErrorsStayInTheLog(t *testing.T) {
	p := newPair(t)
	p.vn.vaultURL = "https://127.0.0.1:1"
	p.vn.writeConfig()
	p.vn.reload()
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusServiceUnavailable || strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "tls") {
		t.Fatalf("the vault's failure, as a peer sees it: %d %s", status, body)
	}
}

func TestSlowPeerDoesNotStarveOtherChannels(t *testing.T) {
	const limit = 2
	fr, _ := startCountry(t, "FR", func(s *Server) { s.PerPeerConcurrency = limit })
	vn := newCountry(t, "VN")
	de := newCountry(t, "DE")
	vn.connect(fr, "Preservation")
	de.connect(fr, "Preservation")
	toVN := fr.connect(vn, "Preservation")
	toDE := fr.connect(de, "Preservation")
	// VN's gateway hangs: FR's channel to VN points at a server that never answers.
	hang := make(chan struct{})
	arrived := make(chan struct{}, limit)
	serving := vn.issue("", pki.LeafSpec{CommonName: vn.serverName(), DNSNames: []string{vn.serverName()}, Usages: []pki.Usage{pki.UsageServer}})
	slow := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	slow.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS13}
	slow.StartTLS()
	defer slow.Close()
	defer close(hang)
	fr.channels.Channels[0].Endpoint = slow.URL
	fr.writeChannels()
	officer := fr.clientFor(fr.officer, fr.trustPool())
	for i := 0; i < limit; i++ {
		doc := example(t, "Preservation", map[string]any{"/reference": fmt.Sprintf("%s-%d", reference(t), i)})
		go func() { _, _, _ = officer.call(http.MethodPost, wire.PathOutbound+toVN+"/requests", doc) }()
	}
	for range limit { // both slots to VN are held by requests the peer sits on
		<-arrived
	}
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-de"})
	status, body := fr.clientFor(fr.officer, fr.trustPool()).mustCall(http.MethodPost, wire.PathOutbound+toDE+"/requests", doc)
	if status == http.StatusTooManyRequests {
		t.Fatalf("to DE while VN hangs: %d %s", status, body)
	}
}

// TestPinnedClientURIsAdmitOnlyThePeersGateway: with the channel's client URIs
// pinned, Viet Nam's officer certificate (from the CA the channel trusts) no longer
// speaks for Viet Nam on France's peer API; the channel certificate carrying the
// pinned URI still does.
func TestPinnedClientURIsAdmitOnlyThePeersGateway(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	officerAtFR := p.fr.clientFor(p.vn.officer, p.fr.trustPool())
	if status, body := officerAtFR.mustCall(http.MethodPost, wire.PathRequests, doc); status != http.StatusCreated {
		t.Fatalf("unpinned: %d %s", status, body)
	}
	// VN's channel certificate with an identity, and FR's channel to VN pinned to it.
	const identity = "spiffe://cybercoop.io/ns/vn/cooperationchannel/to-fr"
	certPEM, keyPEM := p.vn.issuePEM(pki.LeafSpec{CommonName: "VN channel to FR", URIs: []string{identity}, Usages: []pki.Usage{pki.UsageClient}})
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, p.vnToFR+".crt"), certPEM)
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, p.vnToFR+".key"), keyPEM)
	p.vn.reload()
	for i := range p.fr.channels.Channels {
		if p.fr.channels.Channels[i].Country == "VN" {
			p.fr.channels.Channels[i].ClientURIs = []string{identity}
		}
	}
	p.fr.writeChannels()
	doc = example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := officerAtFR.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonNoChannel {
		t.Fatalf("pinned, VN's officer: %d %s", status, body)
	}
	gatewayAtFR := p.fr.clientFor(p.vn.channelCert(p.vnToFR), p.fr.trustPool())
	if status, body := gatewayAtFR.mustCall(http.MethodPost, wire.PathRequests, doc); status != http.StatusCreated {
		t.Fatalf("pinned, VN's channel certificate: %d %s", status, body)
	}
}
