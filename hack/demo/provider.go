package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/officer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/localstack"
)

// safiri is the stack chart's provider example: a mail provider established in
// Kenya, whose endpoint answers the Kenyan authority's orders.
var safiri = &demoCountry{name: "Safiri Mail", release: "safiri-mail", ns: "cybercoop-safiri-mail", fp: "safiri-mail-poc",
	ev: "safiri-mail-evidence", channel: "to-ke", example: "provider.yaml", caSecret: "safiri-mail-ca", host: "orders.safiri-mail.example"}

// kenyaToSafiri is the channel Kenya's stack gains for the provider.
const kenyaToSafiri = "to-safiri-mail"

// serviceProvider stands up Safiri Mail's endpoint from the stack chart's
// provider example, adds the provider to Kenya's stack with helm upgrade, and
// lets Kenya's officer send it a production order, which the provider contests
// and Kenya sees contested.
func (s *stack) serviceProvider(ctx context.Context) error {
	step("a service provider: Safiri Mail, established in Kenya, installs its endpoint from the stack chart's provider example (articles 25 to 27)")
	var err error
	if safiri.ln, safiri.url, err = localstack.Listen(); err != nil {
		return err
	}
	s.stops = append(s.stops, safiri.ln.Close)
	if err := s.installStack(ctx, safiri, kenya); err != nil {
		return err
	}

	step("Kenya's platform team adds the provider to Kenya's stack: helm upgrade with a peer that names it (peers[].provider)")
	kenyaValues, err := s.kenyaWithProvider()
	if err != nil {
		return err
	}
	fmt.Printf("  helm upgrade %s charts/cybercoop-stack --namespace %s -f charts/cybercoop-stack/examples/%s -f %s\n",
		kenya.release, kenya.ns, kenya.example, kenyaValues)
	if err := s.helm("upgrade", kenya.release, filepath.Join(s.root, "charts", "cybercoop-stack"), "--namespace", kenya.ns,
		"-f", filepath.Join(s.root, "charts", "cybercoop-stack", "examples", kenya.example), "-f", kenyaValues); err != nil {
		return err
	}

	step("the provider's FocalPoint and EvidenceVault: its own CA, gateway in provider mode and vault")
	if err := s.kubectl("wait", "--for=condition=Ready", "focalpoint/"+safiri.fp, "-n", safiri.ns, "--timeout=180s"); err != nil {
		s.conditions("focalpoints")
		return err
	}
	for _, condition := range []string{"KeysReady", "CertificateReady"} {
		if err := s.kubectl("wait", "--for=condition="+condition, "evidencevault/"+safiri.ev, "-n", safiri.ns, "--timeout=120s"); err != nil {
			return err
		}
	}
	if err := s.runVault(ctx, safiri); err != nil {
		return err
	}

	step("Kenya and Safiri Mail exchange CA certificates out of band; the provider's gateway runs on the Secrets the operator issued")
	if err := s.exchangeCAs(ctx, [][2]*demoCountry{{kenya, safiri}, {safiri, kenya}}); err != nil {
		return err
	}
	if err := s.runGateway(ctx, safiri); err != nil {
		return err
	}
	if err := s.kubectl("wait", "--for=condition=Ready", "cooperationchannels", "--all", "-A", "--timeout=120s"); err != nil {
		s.conditions("cooperationchannels")
		return err
	}
	_ = s.kubectl("get", "cooperationchannels", "-A", "-o", "wide")

	step("Kenya's duty officer sends Safiri Mail a production order (cybercoop cases send " + kenyaToSafiri + " -f order.json)")
	ke, err := s.officerOf(ctx, kenya)
	if err != nil {
		return err
	}
	order, err := exampleRequest(s.root, "SubscriberInformation", fmt.Sprintf("KE-DCI-SUB-%d", time.Now().Unix()))
	if err != nil {
		return err
	}
	// Kenya's gateway takes the new channel at its next reload of the operator's files.
	var acc *wire.Accepted
	for deadline := time.Now().Add(time.Minute); ; {
		acc, err = ke.Send(ctx, kenyaToSafiri, order)
		var refused *officer.Error
		if err == nil || !errors.As(err, &refused) || refused.Refusal.Reason != wire.ReasonUnknownChannel || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(localstack.SyncInterval):
		}
	}
	if err != nil {
		return err
	}
	providerTrust, err := secretKey(ctx, s.c, safiri.ns, safiri.fp+"-trust-bundle", pki.CACertKey)
	if err != nil {
		return err
	}
	rc, _, err := receipt.Verify(acc.Receipt, pool(providerTrust), safiri.host, time.Now())
	if err != nil {
		return fmt.Errorf("the provider's receipt does not verify: %w", err)
	}
	fmt.Printf("  Created: the provider recorded order %s (channel %s, from %s to %s), receipt verified against its CA\n", acc.RequestID, rc.Channel, rc.From, rc.To)

	step("the provider's response team contests the order as overbroad (a provider contests; it does not refuse)")
	sp, err := s.officerOf(ctx, safiri)
	if err != nil {
		return err
	}
	target := "inbound/KE/" + acc.RequestID
	if _, err := sp.Act(ctx, target, wire.CaseAction{Action: cases.Refuse, Reason: "No.", Grounds: []cases.Ground{cases.GroundOther}}); err != nil {
		fmt.Printf("  Refuse: %v\n", err)
	}
	u, err := sp.Act(ctx, target, wire.CaseAction{Action: cases.Contest, Grounds: []cases.Ground{cases.GroundOverbroad},
		Reason: "The order names every account registered from the address range since 2021; the offence concerns one week."})
	if err != nil {
		return err
	}
	fmt.Printf("  Contest: %s → %s, recorded in the provider's vault and signed; pushed to Kenya's gateway: %v\n",
		u.Transition.From, u.Transition.To, u.Delivered != nil && *u.Delivered)

	step("Kenya's duty officer sees the contest, verified against Kenya's trust in the provider and kept in Kenya's vault")
	sent, err := ke.List(ctx, officer.Filter{Direction: "outbound"})
	if err != nil {
		return err
	}
	for _, c := range sent {
		if c.Peer != safiri.release {
			continue
		}
		shown, err := ke.Show(ctx, "outbound/"+c.Peer+"/"+c.RequestID)
		if err != nil {
			return err
		}
		for _, t := range shown.Transitions {
			fmt.Printf("  %s/%s/%s: %d. %s by the %s side (%s): %s → %s %s\n", shown.Direction, shown.Peer, shown.RequestID, t.Sequence, t.Action,
				strings.ToLower(string(t.By)), joinGrounds(t.Grounds), t.From, t.To, t.Reason)
		}
		if shown.State != cases.Contested {
			return fmt.Errorf("kenya sees the order %s, not Contested", shown.State)
		}
		fmt.Println("  Kenya answers with Clarify (the order resumes where it was) or Withdraw.")
		return nil
	}
	return fmt.Errorf("kenya's gateway lists no order sent to %s", safiri.release)
}

// kenyaWithProvider writes Kenya's demo values with a second peer: the provider.
func (s *stack) kenyaWithProvider() (string, error) {
	path := filepath.Join(s.work, "values", kenya.release+"-demo.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return "", err
	}
	peers, _ := values["peers"].([]any)
	peers = append(peers, map[string]any{
		"provider": safiri.release, "name": kenyaToSafiri, "endpoint": safiri.url, "serverName": safiri.host,
		"trustBundle":  map[string]any{"secretRef": map[string]any{"name": safiri.caSecret}},
		"requestTypes": []string{string(cybercoopv1alpha1.RequestPreservation), string(cybercoopv1alpha1.RequestSubscriberInformation)},
		"dataProtection": map[string]any{
			"legalBasis": "Computer Misuse and Cybercrimes Act 2018; UNCC art. 25-27 (illustrative)", "onwardTransfer": "Prohibited", "retentionDays": 365,
		},
	})
	out, err := yaml.Marshal(map[string]any{"peers": peers})
	if err != nil {
		return "", err
	}
	path = filepath.Join(s.work, "values", kenya.release+"-with-provider.yaml")
	return path, os.WriteFile(path, out, 0o600)
}

func joinGrounds(gs []cases.Ground) string {
	if len(gs) == 0 {
		return "no grounds"
	}
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = string(g)
	}
	return strings.Join(s, ", ")
}
