package twocountry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	nationalca "github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// example is one of the request package's example documents with its reference
// (and any other top-level member) replaced.
func example(name string, members map[string]any) []byte {
	raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "gateway", "requests", "testdata", "valid", name+".json"))
	Expect(err).NotTo(HaveOccurred())
	var doc map[string]any
	Expect(json.Unmarshal(raw, &doc)).To(Succeed())
	for k, v := range members {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	out, err := json.Marshal(doc)
	Expect(err).NotTo(HaveOccurred())
	return out
}

var _ = Describe("Viet Nam and France", Ordered, func() {
	var (
		ctx    = context.Background()
		vn, fr *country
		frToVN *cybercoopv1alpha1.CooperationChannel
		vnToFR *cybercoopv1alpha1.CooperationChannel
	)

	BeforeAll(func() {
		vn = newCountry(ctx, "vn", fixtures.VietNam)
		fr = newCountry(ctx, "fr", fixtures.France)
		vnToFR = vn.channelTo(ctx, fr, cybercoopv1alpha1.RequestPreservation, cybercoopv1alpha1.RequestSubscriberInformation, cybercoopv1alpha1.RequestStoredDataAccess)
		frToVN = fr.channelTo(ctx, vn, cybercoopv1alpha1.RequestPreservation)
		// The gateways start once the operator has written their channels.
		for _, c := range []*country{vn, fr} {
			Eventually(func(g Gomega) {
				var chs struct {
					Channels []struct{ Name string } `json:"channels"`
				}
				g.Expect(json.Unmarshal(secretData(ctx, g, c.ns(), c.fp.Name+"-gateway-channels")["channels.json"], &chs)).To(Succeed())
				g.Expect(chs.Channels).To(HaveLen(1))
			}).WithTimeout(time.Minute).Should(Succeed())
			c.startGateway(ctx)
		}
	})

	It("report both channels reachable, with a round-trip time, and Ready", func() {
		for _, cc := range []*cybercoopv1alpha1.CooperationChannel{vnToFR, frToVN} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(cc), cc)).To(Succeed())
				reach := condition(cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable)
				g.Expect(reach.Status).To(Equal(metav1.ConditionTrue), "%s: %s", reach.Reason, reach.Message)
				g.Expect(cc.Status.Peer.HandshakeRoundTripMilliseconds).NotTo(BeNil())
				g.Expect(cc.Status.Peer.CertificateNotAfter).NotTo(BeNil())
				ready := condition(cc.Status.Conditions, cybercoopv1alpha1.ConditionReady)
				g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s: %s", ready.Reason, ready.Message)
			}).WithTimeout(time.Minute).Should(Succeed())
		}
	})

	It("carries a Preservation request from France to Viet Nam, with a receipt France verifies and both vaults record", func() {
		ref := "OFAC-2026-" + fmt.Sprint(time.Now().UnixNano())
		status, body, err := call(fr.officer(ctx), "POST", fr.gatewayURL+wire.PathOutbound+frToVN.Name+"/requests", example("Preservation", map[string]any{"reference": ref}))
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(201), "%s", body)
		var acc wire.Accepted
		Expect(json.Unmarshal(body, &acc)).To(Succeed())
		Expect(acc.Verified).To(BeTrue())

		By("verifying the receipt with nothing but France's trust in Viet Nam's CA")
		rc, signer, err := receipt.Verify(acc.Receipt, vn.trustPool(ctx), vn.gatewayHost(), time.Now())
		Expect(err).NotTo(HaveOccurred())
		Expect(rc.From).To(Equal("FR"))
		Expect(rc.To).To(Equal("VN"))
		Expect(rc.Reference).To(Equal(ref))
		Expect(signer.DNSNames).To(ContainElement(vn.gatewayHost()))

		By("finding the inclusion proof against the checkpoint Viet Nam's EvidenceVault reports")
		cp, err := vault.OpenCheckpoint([]byte(rc.Custody.Checkpoint), vn.ev.Status.CheckpointVerifierKey)
		Expect(err).NotTo(HaveOccurred(), "the receipt's checkpoint is signed by the key the EvidenceVault's status names")
		Expect(vault.VerifyInclusion(cp, rc.Custody.Sequence, rc.Custody.Entry, rc.Custody.InclusionProof)).To(Succeed())
		var entry vault.Entry
		Expect(json.Unmarshal(rc.Custody.Entry, &entry)).To(Succeed())
		Expect(entry.Cert.Subject).To(ContainSubstring("FR channel to VN"), "the actor is France's channel certificate")
		Expect(entry.LegalBasis).To(ContainSubstring("vn-fr exchange of letters"), "under Viet Nam's channel's legal basis")

		By("verifying both custody logs")
		for _, c := range []*country{vn, fr} {
			Expect(c.vault.Status().Objects).To(Equal(2), "%s holds the request and its receipt", c.code)
			rep, err := c.vault.Verify(ctx, vault.SystemIdentity)
			Expect(err).NotTo(HaveOccurred())
			Expect(rep.OK()).To(BeTrue(), "%s: %+v", c.code, rep)
		}
		By("seeing the EvidenceVaults' status follow: checkpoints consistent, objects counted")
		for _, c := range []*country{vn, fr} {
			Eventually(func(g Gomega) {
				ev := &cybercoopv1alpha1.EvidenceVault{}
				g.Expect(k8sClient.Get(ctx, key(c.ev), ev)).To(Succeed())
				g.Expect(ev.Status.Objects).To(HaveValue(BeNumerically(">=", 2)))
			}).WithTimeout(time.Minute).Should(Succeed())
		}
	})

	It("refuses what the channel does not permit, strangers and malformed requests, leaving nothing behind", func() {
		before := vn.vault.Status().Objects
		frChannel := secretData(ctx, Default, fr.ns(), frToVN.Name+"-client")
		cert, err := tls.X509KeyPair(frChannel[pki.TLSCertKey], frChannel[pki.TLSPrivateKeyKey])
		Expect(err).NotTo(HaveOccurred())
		frAtVN := vn.clientWith(ctx, cert)
		for _, tc := range []struct {
			doc    []byte
			status int
			reason string
		}{
			{example("EmergencyDisclosure", map[string]any{"reference": "T-403"}), 403, wire.ReasonRequestTypeNotPermitted},
			{example("Preservation", map[string]any{"reference": "T-400", "custodian": nil}), 400, wire.ReasonMalformedRequest},
			{example("StoredDataAccess", map[string]any{"reference": "T-intrusive", "authorisation": nil}), 400, wire.ReasonMalformedRequest},
		} {
			status, body, err := call(frAtVN, "POST", vn.gatewayURL+wire.PathRequests, tc.doc)
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(Equal(tc.status), "%s", body)
			var r wire.Refusal
			Expect(json.Unmarshal(body, &r)).To(Succeed())
			Expect(r.Reason).To(Equal(tc.reason))
			if tc.status == 400 {
				Expect(r.Fields).NotTo(BeEmpty())
			}
		}
		By("failing the handshake of a client from a CA no channel trusts")
		stranger, err := pki.CreateCA(pki.CASpec{CommonName: "stranger CA", Country: "DE"}, time.Now())
		Expect(err).NotTo(HaveOccurred())
		leaf, err := pki.IssueLeaf(stranger, pki.LeafSpec{CommonName: "DE channel to VN", Usages: []pki.Usage{pki.UsageClient}}, time.Now())
		Expect(err).NotTo(HaveOccurred())
		_, _, err = call(vn.clientWith(ctx, tls.Certificate{Certificate: [][]byte{leaf.Certificate.Raw}, PrivateKey: leaf.PrivateKey}),
			"POST", vn.gatewayURL+wire.PathRequests, example("Preservation", nil))
		Expect(err).To(HaveOccurred())
		Expect(vn.vault.Status().Objects).To(Equal(before))
	})

	It("keeps France's requests flowing while Viet Nam replaces its CA key, with no bundle copied by hand", func() {
		rollouts := simulateRollouts(vn, fr)
		defer rollouts()
		caBefore := vn.caFingerprint(ctx)
		frAtVN := fr.officer(ctx)

		By("asking Viet Nam's FocalPoint for a key replacement")
		Eventually(func() error {
			fp := &cybercoopv1alpha1.FocalPoint{}
			if err := k8sClient.Get(ctx, key(vn.fp), fp); err != nil {
				return err
			}
			if fp.Annotations == nil {
				fp.Annotations = map[string]string{}
			}
			fp.Annotations[cybercoopv1alpha1.ForceReplaceCAAnnotation] = "two-country-rotation"
			return k8sClient.Update(ctx, fp)
		}).Should(Succeed())

		By("sending France's requests all through it")
		sent, failures := 0, []string{}
		sawWaiting, done := false, false
		deadline := time.Now().Add(2 * time.Minute)
		for !done && time.Now().Before(deadline) {
			ref := fmt.Sprintf("ROT-%d", time.Now().UnixNano())
			status, body, err := call(frAtVN, "POST", fr.gatewayURL+wire.PathOutbound+frToVN.Name+"/requests", example("Preservation", map[string]any{"reference": ref}))
			sent++
			if err != nil || status != 201 {
				failures = append(failures, fmt.Sprintf("%s: %d %v %s", ref, status, err, body))
			}
			// The gateway keeps its connections to the peer; a new one (a restarted
			// pod, an idle connection closed) must work too: France's channel
			// certificate and trust as they are now, a fresh handshake with Viet Nam.
			served, err := fresh(fr.channelClient(ctx, frToVN, vn), vn.gatewayURL+wire.PathTrustBundle)
			if err != nil {
				failures = append(failures, fmt.Sprintf("a new connection from France to Viet Nam: %v", err))
			}
			fp := &cybercoopv1alpha1.FocalPoint{}
			Expect(k8sClient.Get(ctx, key(vn.fp), fp)).To(Succeed())
			if r := fp.Status.Certificates.Rotation; r != nil && len(r.WaitingForPeers) > 0 {
				sawWaiting = true
			}
			// Done once the replacement is over and Viet Nam's gateway serves its
			// certificate from the new CA.
			done = fp.Status.Certificates.CA != nil && fp.Status.Certificates.CA.CAGeneration == 2 &&
				fp.Status.Certificates.Rotation != nil && fp.Status.Certificates.Rotation.Phase == cybercoopv1alpha1.CARotationIdle &&
				served != nil && nationalca.Fingerprint(vn.caCertificate(ctx)) == fp.Status.Certificates.CA.SHA256Fingerprint &&
				served.CheckSignatureFrom(vn.caCertificate(ctx)) == nil
		}
		Expect(done).To(BeTrue(), "the key replacement did not finish with Viet Nam serving from its new CA; failures: %v", failures)
		Expect(failures).To(BeEmpty(), "of %d requests sent during the key replacement", sent)
		Expect(sawWaiting).To(BeTrue(), "Viet Nam's status never named France as holding the replacement back")
		Expect(vn.caFingerprint(ctx)).NotTo(Equal(caBefore))
		GinkgoWriter.Printf("%d requests sent during Viet Nam's key replacement, none failed; the rollout waited for France: %v\n", sent, sawWaiting)

		By("seeing France trust Viet Nam's new CA, learned from Viet Nam's signed bundle")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(frToVN), frToVN)).To(Succeed())
			var published []string
			for _, ca := range frToVN.Status.Peer.TrustedCAs {
				if ca.Source == "Published" {
					published = append(published, ca.SHA256Fingerprint)
				}
			}
			g.Expect(published).To(ContainElement(vn.caFingerprint(ctx)))
		}).WithTimeout(time.Minute).Should(Succeed())
		Expect(frToVN.Spec.Peer.TrustBundle.PEM).NotTo(ContainSubstring(string(vn.caPEM(ctx))), "nobody edited France's channel")
	})

	It("keeps each request as a case both States follow: the channel's deadline, a refusal with grounds France sees, refusals of new types, and the statistics", func() {
		specStart := time.Now()
		By("Viet Nam's channel gives Preservation requests 12 hours and admits content-removal and asset-freezing requests")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(vnToFR), vnToFR)).To(Succeed())
			vnToFR.Spec.Deadlines = []cybercoopv1alpha1.RequestDeadline{{Type: cybercoopv1alpha1.RequestPreservation, Within: &metav1.Duration{Duration: 12 * time.Hour}}}
			vnToFR.Spec.RequestTypes = append(vnToFR.Spec.RequestTypes[:3:3], "ContentRemoval", "AssetFreezing")
			g.Expect(k8sClient.Update(ctx, vnToFR)).To(Succeed())
		}).Should(Succeed())

		ref := "OFAC-CASE-" + fmt.Sprint(time.Now().UnixNano())
		status, body, err := call(fr.officer(ctx), "POST", fr.gatewayURL+wire.PathOutbound+frToVN.Name+"/requests", example("Preservation", map[string]any{"reference": ref}))
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(201), "%s", body)
		var acc wire.Accepted
		Expect(json.Unmarshal(body, &acc)).To(Succeed())
		vnCase := vn.gatewayURL + wire.PathCases + "/inbound/FR/" + acc.RequestID

		By("Viet Nam's officers see the request with the channel's deadline, once the operator has passed it to the gateway")
		Eventually(func(g Gomega) {
			status, body, err := call(vn.officer(ctx), "GET", vnCase, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(200), "%s", body)
			var c wire.Case
			g.Expect(json.Unmarshal(body, &c)).To(Succeed())
			g.Expect(c.State).To(Equal(cases.Received))
			g.Expect(c.Due.Sub(c.Received)).To(Equal(12*time.Hour), "the deadline of the channel's spec.deadlines")
		}).WithTimeout(time.Minute).Should(Succeed())

		By("Viet Nam's channel counts the open request in its status, from the gateway's summary")
		Eventually(func(g Gomega) {
			cc := &cybercoopv1alpha1.CooperationChannel{}
			g.Expect(k8sClient.Get(ctx, key(vnToFR), cc)).To(Succeed())
			g.Expect(cc.Status.Requests).NotTo(BeNil())
			g.Expect(cc.Status.Requests.Open).To(HaveValue(BeNumerically(">=", 1)))
			g.Expect(cc.Status.Requests.Overdue).To(HaveValue(BeZero()))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("Viet Nam refuses it with grounds; the signed update reaches France's gateway")
		action, _ := json.Marshal(wire.CaseAction{Action: cases.Refuse, Reason: "The conduct is not an offence under Vietnamese law.",
			Grounds: []cases.Ground{cases.GroundDualCriminality}})
		status, body, err = call(vn.officer(ctx), "POST", vnCase+"/transitions", action)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(201), "%s", body)
		var cu wire.CaseUpdate
		Expect(json.Unmarshal(body, &cu)).To(Succeed())
		Expect(cu.Delivered).To(HaveValue(BeTrue()))
		u, _, err := receipt.VerifyUpdate(cu.Update, vn.trustPool(ctx), vn.gatewayHost(), time.Now())
		Expect(err).NotTo(HaveOccurred(), "France verifies the update with its trust in Viet Nam alone")
		Expect(u.Transition.Grounds).To(Equal([]cases.Ground{cases.GroundDualCriminality}))

		status, body, err = call(fr.officer(ctx), "GET", fr.gatewayURL+wire.PathCases+"?direction=outbound", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)
		var sent []wire.Case
		Expect(json.Unmarshal(body, &sent)).To(Succeed())
		frID := ""
		for _, c := range sent {
			if c.Reference == ref {
				frID = c.RequestID
				Expect(c.PeerRequestID).To(Equal(acc.RequestID))
			}
		}
		Expect(frID).NotTo(BeEmpty(), "France's officers list the request they sent")
		status, body, err = call(fr.officer(ctx), "GET", fr.gatewayURL+wire.PathCases+"/outbound/VN/"+frID, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)
		var fc wire.Case
		Expect(json.Unmarshal(body, &fc)).To(Succeed())
		Expect(fc.State).To(Equal(cases.Refused))
		Expect(fc.Transitions).To(HaveLen(1))
		Expect(fc.Transitions[0].Reason).To(Equal("The conduct is not an offence under Vietnamese law."))

		By("refusing a content-removal request that embeds the material, and an asset-freezing request without its order's expiry")
		embedded := example("ContentRemoval", map[string]any{"reference": ref + "-cr",
			"locators": []any{map[string]any{"url": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/"}}})
		var freezing map[string]any
		Expect(json.Unmarshal(example("AssetFreezing", map[string]any{"reference": ref + "-af"}), &freezing)).To(Succeed())
		delete(freezing["order"].(map[string]any), "expiry")
		noExpiry, _ := json.Marshal(freezing)
		for _, tc := range []struct {
			doc  []byte
			path string
		}{{embedded, "/locators/0"}, {noExpiry, "/order/expiry"}} {
			status, body, err := call(fr.officer(ctx), "POST", fr.gatewayURL+wire.PathOutbound+frToVN.Name+"/requests", tc.doc)
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(Equal(400), "%s", body)
			var r wire.Refusal
			Expect(json.Unmarshal(body, &r)).To(Succeed())
			Expect(r.Reason).To(Equal(wire.ReasonMalformedRequest))
			var paths []string
			for _, f := range r.Fields {
				paths = append(paths, f.Path)
			}
			Expect(strings.Join(paths, " ")).To(ContainSubstring(tc.path), "%s", body)
			Expect(string(body)).NotTo(ContainSubstring("/9j/4AAQSkZJRg"), "the refusal does not echo the material")
		}

		By("the statistics of this spec's period, from each State's custody records, count exactly its one request")
		for _, c := range []struct {
			country   *country
			direction string
			totals    cases.Totals
		}{{vn, cases.ReceivedFrom, cases.Totals{Received: 1}}, {fr, cases.Sent, cases.Totals{Sent: 1}}} {
			status, body, err := call(c.country.officer(ctx), "GET", c.country.gatewayURL+wire.PathStatistics+"?from="+specStart.UTC().Format(time.RFC3339Nano), nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(Equal(200), "%s", body)
			var report cases.Report
			Expect(json.Unmarshal(body, &report)).To(Succeed())
			Expect(report.Totals).To(Equal(c.totals), "%s", body)
			partner := map[string]string{"VN": "FR", "FR": "VN"}[strings.ToUpper(c.country.code)]
			Expect(report.Counts).To(Equal([]cases.Count{{Direction: c.direction, Partner: partner, Type: "Preservation", Outcome: cases.Refused, Requests: 1}}))
			Expect(report.ResponseTimes).To(HaveLen(1))
		}
	})

	It("shares evidence for a three-State joint investigation with exactly its parties, through their channels, and reports what was shared and fetched", func() {
		By("a third State, Brazil, in a namespace of its own, with channels to and from Viet Nam")
		br := newCountry(ctx, "br", func(ns, _ string) *cybercoopv1alpha1.FocalPoint { return fixtures.Brazil(ns) })
		brToVN := br.channelTo(ctx, vn, cybercoopv1alpha1.RequestPreservation)
		vnToBR := vn.channelTo(ctx, br, cybercoopv1alpha1.RequestPreservation)
		Eventually(func(g Gomega) {
			var chs gateway.Channels
			g.Expect(json.Unmarshal(secretData(ctx, g, br.ns(), br.fp.Name+"-gateway-channels")["channels.json"], &chs)).To(Succeed())
			g.Expect(chs.Channels).To(HaveLen(1))
		}).WithTimeout(time.Minute).Should(Succeed())
		br.startGateway(ctx)
		for _, cc := range []*cybercoopv1alpha1.CooperationChannel{vnToBR, brToVN} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(cc), cc)).To(Succeed())
				ready := condition(cc.Status.Conditions, cybercoopv1alpha1.ConditionReady)
				g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s/%s: %s: %s", cc.Namespace, cc.Name, ready.Reason, ready.Message)
			}).WithTimeout(2 * time.Minute).Should(Succeed())
		}

		jointInvestigation := func(name, caseID string, parties ...*cybercoopv1alpha1.CooperationChannel) *cybercoopv1alpha1.JointInvestigation {
			ji := &cybercoopv1alpha1.JointInvestigation{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: vn.ns()},
				Spec: cybercoopv1alpha1.JointInvestigationSpec{
					FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: vn.fp.Name}, CaseID: caseID,
					Agreement: "joint investigation agreement of 2026-11-02 (example)", Purpose: "The ransomware attack on the Valmont hospital",
					EndDate: &metav1.Time{Time: time.Now().Add(30 * 24 * time.Hour)},
				},
			}
			for _, p := range parties {
				ji.Spec.Parties = append(ji.Spec.Parties, cybercoopv1alpha1.JointInvestigationParty{Channel: p.Name})
			}
			Expect(k8sClient.Create(ctx, ji)).To(Succeed())
			return ji
		}
		share := func(ji *cybercoopv1alpha1.JointInvestigation, item []byte) wire.JointItem {
			var shared wire.JointItem
			Eventually(func(g Gomega) {
				status, body, err := call(vn.officer(ctx), "POST", vn.gatewayURL+wire.PathJoint+ji.Spec.CaseID+"/evidence", item)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(status).To(BeElementOf(200, 201), "%s", body)
				g.Expect(json.Unmarshal(body, &shared)).To(Succeed())
			}).WithTimeout(time.Minute).Should(Succeed())
			return shared
		}
		ji := jointInvestigation("jit-ransom", "JIT-2026-RANSOM-01", vnToFR, vnToBR)
		// A second investigation, with France alone, against which Brazil is a stranger.
		franceOnly := jointInvestigation("jit-fr-only", "JIT-2026-FR-ONLY", vnToFR)

		By("Viet Nam's officer shares an item for each, once the operator has passed them to the gateway")
		item := []byte("server log excerpt, host hcv-fs01: ransom note dropped at 02:14:07 +07:00\n")
		shared := share(ji, item)
		other := share(franceOnly, []byte("wallet cluster of the ransom payments (France only)\n"))

		By("France and Brazil each fetch the item through their own gateway and channel")
		for _, party := range []struct {
			c  *country
			cc *cybercoopv1alpha1.CooperationChannel
		}{{fr, frToVN}, {br, brToVN}} {
			status, body, err := call(party.c.officer(ctx), "GET", party.c.gatewayURL+wire.PathOutbound+party.cc.Name+"/joint/"+ji.Spec.CaseID+"/evidence/"+shared.Digest, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(Equal(200), "%s: %s", party.c.code, body)
			Expect(body).To(Equal(item))
		}

		By("Brazil, not a party to the second investigation, is told it does not exist; France fetches it")
		status, body, err := call(br.officer(ctx), "GET", br.gatewayURL+wire.PathOutbound+brToVN.Name+"/joint/"+franceOnly.Spec.CaseID+"/evidence/"+other.Digest, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(404), "%s", body)
		status, body, err = call(fr.officer(ctx), "GET", fr.gatewayURL+wire.PathOutbound+frToVN.Name+"/joint/"+franceOnly.Spec.CaseID+"/evidence/"+other.Digest, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)

		By("the JointInvestigation reports both parties reachable, the item shared and each party's fetch")
		Eventually(func(g Gomega) {
			got := &cybercoopv1alpha1.JointInvestigation{}
			g.Expect(k8sClient.Get(ctx, key(ji), got)).To(Succeed())
			g.Expect(got.Status.SharedItems).To(HaveValue(BeEquivalentTo(1)))
			g.Expect(got.Status.Parties).To(HaveLen(2))
			for _, p := range got.Status.Parties {
				g.Expect(p.Country).To(BeElementOf(cybercoopv1alpha1.CountryCode("FR"), cybercoopv1alpha1.CountryCode("BR")))
				g.Expect(p.Reachable).To(Equal(metav1.ConditionTrue), "%s", p.Channel)
				g.Expect(p.Fetched).To(HaveValue(BeEquivalentTo(1)), "%s", p.Channel)
			}
			g.Expect(condition(got.Status.Conditions, cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(2 * time.Minute).Should(Succeed())
	})

	It("lets a service provider contest Viet Nam's order, and Viet Nam sees the contest and narrows the order", func() {
		sp := newCountry(ctx, "sp", fixtures.HopThuMail)
		spToVN := sp.channelTo(ctx, vn, cybercoopv1alpha1.RequestPreservation, cybercoopv1alpha1.RequestSubscriberInformation)
		vnToSP := vn.channelTo(ctx, sp, cybercoopv1alpha1.RequestPreservation, cybercoopv1alpha1.RequestSubscriberInformation)
		Eventually(func(g Gomega) {
			var chs gateway.Channels
			g.Expect(json.Unmarshal(secretData(ctx, g, sp.ns(), sp.fp.Name+"-gateway-channels")["channels.json"], &chs)).To(Succeed())
			g.Expect(chs.Channels).To(HaveLen(1))
		}).WithTimeout(time.Minute).Should(Succeed())
		sp.startGateway(ctx)
		Expect(sp.gateway.Self()).To(Equal("hopthu-mail"), "the provider's gateway runs in provider mode")

		By("both channels trust and reach the other side: the provider's signed trust bundle names the provider")
		for _, cc := range []*cybercoopv1alpha1.CooperationChannel{vnToSP, spToVN} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(cc), cc)).To(Succeed())
				ready := condition(cc.Status.Conditions, cybercoopv1alpha1.ConditionReady)
				g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s/%s: %s: %s", cc.Namespace, cc.Name, ready.Reason, ready.Message)
			}).WithTimeout(2 * time.Minute).Should(Succeed())
		}

		By("Viet Nam's officer sends the provider a production order, once Viet Nam's gateway has the channel")
		ref := "A05-SUB-" + fmt.Sprint(time.Now().UnixNano())
		var acc wire.Accepted
		Eventually(func(g Gomega) {
			status, body, err := call(vn.officer(ctx), "POST", vn.gatewayURL+wire.PathOutbound+vnToSP.Name+"/requests", example("SubscriberInformation", map[string]any{"reference": ref}))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(201), "%s", body)
			g.Expect(json.Unmarshal(body, &acc)).To(Succeed())
		}).WithTimeout(time.Minute).Should(Succeed())
		rc, _, err := receipt.Verify(acc.Receipt, sp.trustPool(ctx), sp.gatewayHost(), time.Now())
		Expect(err).NotTo(HaveOccurred(), "Viet Nam verifies the provider's receipt with its trust in the provider's CA alone")
		Expect(rc.From).To(Equal("VN"))
		Expect(rc.To).To(Equal("hopthu-mail"))

		By("the provider refuses nothing: it contests, with grounds")
		spCase := sp.gatewayURL + wire.PathCases + "/inbound/VN/" + acc.RequestID
		refuse, _ := json.Marshal(wire.CaseAction{Action: cases.Refuse, Reason: "no", Grounds: []cases.Ground{cases.GroundOther}})
		status, body, err := call(sp.officer(ctx), "POST", spCase+"/transitions", refuse)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(400), "%s", body)
		contest, _ := json.Marshal(wire.CaseAction{Action: cases.Contest, Grounds: []cases.Ground{cases.GroundOverbroad},
			Reason: "The order names every account registered from the address range since 2021; the offence concerns one week."})
		status, body, err = call(sp.officer(ctx), "POST", spCase+"/transitions", contest)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(201), "%s", body)

		By("Viet Nam's officer sees the contest, from Viet Nam's own vault, and narrows the order")
		status, body, err = call(vn.officer(ctx), "GET", vn.gatewayURL+wire.PathCases+"?direction=outbound", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)
		var sent []wire.Case
		Expect(json.Unmarshal(body, &sent)).To(Succeed())
		var vnCase *wire.Case
		for i := range sent {
			if sent[i].Reference == ref {
				vnCase = &sent[i]
			}
		}
		Expect(vnCase).NotTo(BeNil(), "Viet Nam's officers list the order they sent")
		Expect(vnCase.Peer).To(Equal("hopthu-mail"))
		Expect(vnCase.State).To(Equal(cases.Contested))
		vnURL := vn.gatewayURL + wire.PathCases + "/outbound/hopthu-mail/" + vnCase.RequestID
		status, body, err = call(vn.officer(ctx), "GET", vnURL, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)
		var c wire.Case
		Expect(json.Unmarshal(body, &c)).To(Succeed())
		Expect(c.Transitions).To(HaveLen(1))
		Expect(c.Transitions[0].Grounds).To(Equal([]cases.Ground{cases.GroundOverbroad}))
		clarify, _ := json.Marshal(wire.CaseAction{Action: cases.Clarify, Reason: "Accounts registered from 2026-11-02 to 2026-11-09 only."})
		status, body, err = call(vn.officer(ctx), "POST", vnURL+"/transitions", clarify)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(201), "%s", body)

		By("the provider sees the order resume, and executes it; Viet Nam sees it executed")
		for _, a := range []cases.Action{cases.Start, cases.Execute} {
			step, _ := json.Marshal(wire.CaseAction{Action: a})
			status, body, err = call(sp.officer(ctx), "POST", spCase+"/transitions", step)
			Expect(err).NotTo(HaveOccurred())
			Expect(status).To(Equal(201), "%s: %s", a, body)
		}
		status, body, err = call(vn.officer(ctx), "GET", vnURL, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(200), "%s", body)
		Expect(json.Unmarshal(body, &c)).To(Succeed())
		Expect(c.State).To(Equal(cases.Executed))

		By("a joint investigation naming the provider's channel as a party says a provider is no party")
		mistaken := &cybercoopv1alpha1.JointInvestigation{
			ObjectMeta: metav1.ObjectMeta{Name: "jit-with-a-provider", Namespace: vn.ns()},
			Spec: cybercoopv1alpha1.JointInvestigationSpec{
				FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: vn.fp.Name}, CaseID: "JIT-2026-MAIL-01",
				Agreement: "none (example)", Purpose: "a mistake", Parties: []cybercoopv1alpha1.JointInvestigationParty{{Channel: vnToSP.Name}},
				EndDate: &metav1.Time{Time: time.Now().Add(24 * time.Hour)},
			},
		}
		Expect(k8sClient.Create(ctx, mistaken)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(mistaken), mistaken)).To(Succeed())
			known := condition(mistaken.Status.Conditions, cybercoopv1alpha1.ConditionPartiesKnown)
			g.Expect(known.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(known.Reason).To(Equal(cybercoopv1alpha1.ReasonPartyNotAState))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("the provider's gateway sends no order of its own")
		status, body, err = call(sp.officer(ctx), "POST", sp.gatewayURL+wire.PathOutbound+spToVN.Name+"/requests", example("Preservation", map[string]any{"reference": ref + "-back"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(403), "%s", body)
		Expect(string(body)).To(ContainSubstring(wire.ReasonProviderMode))
	})

	It("turns France's channel unreachable, with the reason, when Viet Nam's gateway stops", func() {
		vn.stopGateway()
		vn.stopGateway = nil
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(frToVN), frToVN)).To(Succeed())
			reach := condition(frToVN.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable)
			g.Expect(reach.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(reach.Reason).To(Equal(cybercoopv1alpha1.ReasonPeerUnreachable))
			g.Expect(strings.ToLower(reach.Message)).To(Or(ContainSubstring("refused"), ContainSubstring("reset"), ContainSubstring("eof")))
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
