package validation

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
)

const peerPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func validChannel(name string) *v1.CooperationChannel {
	return &v1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.CooperationChannelSpec{
			FocalPointRef: v1.FocalPointReference{Name: "vn-poc"},
			Peer: v1.PeerSpec{
				Country:     "FR",
				Endpoint:    "https://gateway.fr.example",
				TrustBundle: v1.PeerTrustBundle{PEM: peerPEM},
			},
			RequestTypes:   []v1.RequestType{v1.RequestPreservation, v1.RequestSubscriberInformation},
			DataProtection: v1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42"},
		},
	}
}

func createChannel(mutate func(cc *v1.CooperationChannel)) error {
	counter++
	cc := validChannel(fmt.Sprintf("cc-%d", counter))
	mutate(cc)
	return k8sClient.Create(context.Background(), cc)
}

var _ = Describe("CooperationChannel validation by the API server", func() {
	It("accepts a valid CooperationChannel and applies the defaults", func() {
		cc := validChannel("valid-channel")
		Expect(k8sClient.Create(context.Background(), cc)).To(Succeed())
		Expect(cc.Spec.DataProtection.OnwardTransfer).To(Equal(v1.OnwardTransferProhibited))
		Expect(cc.Spec.DataProtection.RetentionDays).To(Equal(int32(365)))
	})

	// The API's enum mirrors the gateway's request types: a type the gateway has a
	// schema for can be permitted on a channel, and nothing else can.
	It("accepts every request type the gateway has a schema for", func() {
		cc := validChannel("every-type")
		cc.Spec.RequestTypes = nil
		for _, t := range requests.Types {
			cc.Spec.RequestTypes = append(cc.Spec.RequestTypes, v1.RequestType(t))
		}
		Expect(cc.Spec.RequestTypes).To(ContainElements(v1.RequestContentRemoval, v1.RequestAssetTracing, v1.RequestAssetFreezing))
		Expect(k8sClient.Create(context.Background(), cc)).To(Succeed())
	})

	It("defaults the key of a trust bundle taken from a Secret", func() {
		cc := validChannel("secret-trust")
		cc.Spec.Peer.TrustBundle = v1.PeerTrustBundle{SecretRef: &v1.SecretKeyReference{Name: "fr-ca"}}
		Expect(k8sClient.Create(context.Background(), cc)).To(Succeed())
		Expect(cc.Spec.Peer.TrustBundle.SecretRef.Key).To(Equal("ca.crt"))
	})

	DescribeTable("rejects an invalid CooperationChannel with a message naming the field",
		func(mutate func(cc *v1.CooperationChannel), field, expected string) {
			err := createChannel(mutate)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field), "the message must name the field")
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("no focal point", func(cc *v1.CooperationChannel) { cc.Spec.FocalPointRef = v1.FocalPointReference{} },
			"spec.focalPointRef", "Required value"),
		Entry("a country that does not exist", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Country = "XX" },
			"spec.peer.country", "ISO 3166-1 alpha-2"),
		Entry("a plain-HTTP endpoint", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Endpoint = "http://gateway.fr.example" },
			"spec.peer.endpoint", "must be an https URL"),
		Entry("an endpoint that is not a URL", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Endpoint = "gateway.fr.example:443" },
			"spec.peer.endpoint", "must be an https URL"),
		Entry("an endpoint with credentials in it", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Endpoint = "https://user:pw@gateway.fr.example" },
			"spec.peer.endpoint", "must not carry user information"),
		Entry("a server name with upper case and a space", func(cc *v1.CooperationChannel) { cc.Spec.Peer.ServerName = "Gateway FR" },
			"spec.peer.serverName", "lower-case DNS name"),
		Entry("no trust bundle", func(cc *v1.CooperationChannel) { cc.Spec.Peer.TrustBundle = v1.PeerTrustBundle{} },
			"spec.peer.trustBundle", "Required value"),
		Entry("a trust bundle both inline and from a Secret", func(cc *v1.CooperationChannel) {
			cc.Spec.Peer.TrustBundle.SecretRef = &v1.SecretKeyReference{Name: "fr-ca"}
		}, "spec.peer.trustBundle", "exactly one of pem or secretRef"),
		Entry("a trust bundle that is not PEM", func(cc *v1.CooperationChannel) { cc.Spec.Peer.TrustBundle.PEM = "MIIB..." },
			"spec.peer.trustBundle.pem", "PEM-encoded certificates"),
		Entry("a trust bundle key that is a path", func(cc *v1.CooperationChannel) {
			cc.Spec.Peer.TrustBundle = v1.PeerTrustBundle{SecretRef: &v1.SecretKeyReference{Name: "fr-ca", Key: "../ca.crt"}}
		}, "spec.peer.trustBundle.secretRef.key", "must be a Secret data key"),
		Entry("a pinned client identity that is not a URI", func(cc *v1.CooperationChannel) { cc.Spec.Peer.ClientURIs = []string{"to-ke channel"} },
			"spec.peer.clientURIs[0]", "must be absolute URIs"),
		Entry("no request types", func(cc *v1.CooperationChannel) { cc.Spec.RequestTypes = nil },
			"spec.requestTypes", "Required value"),
		Entry("an unknown request type", func(cc *v1.CooperationChannel) { cc.Spec.RequestTypes = []v1.RequestType{"Surveillance"} },
			"spec.requestTypes[0]", `supported values: "Preservation"`),
		Entry("a request type twice", func(cc *v1.CooperationChannel) {
			cc.Spec.RequestTypes = []v1.RequestType{v1.RequestPreservation, v1.RequestPreservation}
		}, "spec.requestTypes[1]", "Duplicate value"),
		Entry("no data-protection terms", func(cc *v1.CooperationChannel) { cc.Spec.DataProtection = v1.DataProtectionSpec{} },
			"spec.dataProtection", "Required value"),
		Entry("no legal basis", func(cc *v1.CooperationChannel) { cc.Spec.DataProtection = v1.DataProtectionSpec{RetentionDays: 90} },
			"spec.dataProtection.legalBasis", "Required value"),
		Entry("an unknown onward-transfer rule", func(cc *v1.CooperationChannel) { cc.Spec.DataProtection.OnwardTransfer = "Allowed" },
			"spec.dataProtection.onwardTransfer", `supported values: "Prohibited", "RequiresAuthorization"`),
		Entry("requests kept for less than the 60 days a preservation runs", func(cc *v1.CooperationChannel) { cc.Spec.DataProtection.RetentionDays = 30 },
			"spec.dataProtection.retentionDays", "greater than or equal to 60"),
		Entry("a language that is not BCP 47", func(cc *v1.CooperationChannel) { cc.Spec.Languages = []v1.LanguageTag{"French language"} },
			"spec.languages[0]", "BCP 47"),
		Entry("a probe every second", func(cc *v1.CooperationChannel) { cc.Spec.Probe = &v1.ProbeSpec{Interval: dur("1s")} },
			"spec.probe.interval", "between 10s and 24h"),
		Entry("a leaf renewed after it expires", func(cc *v1.CooperationChannel) {
			cc.Spec.Certificates = &v1.LeafCertificateSpec{LeafDuration: dur("24h"), LeafRenewBefore: dur("48h")}
		}, "spec.certificates", "leafRenewBefore must be shorter than leafDuration"),
		Entry("a trust bundle over 64 KiB", func(cc *v1.CooperationChannel) {
			cc.Spec.Peer.TrustBundle.PEM = peerPEM + strings.Repeat("A", 70000)
		}, "spec.peer.trustBundle.pem", "Too long"),
		Entry("neither a country nor a provider", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Country = "" },
			"spec.peer", "peer needs exactly one of country (a State) or provider (a service provider)"),
		Entry("both a country and a provider", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Provider = "hopthu-mail" },
			"spec.peer", "peer needs exactly one of country (a State) or provider (a service provider)"),
		Entry("a provider identifier in capitals", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", "HopThu" },
			"spec.peer.provider", "must be a lower-case DNS label of 3 to 63 characters"),
		Entry("a provider identifier as short as a country code", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", "fr" },
			"spec.peer.provider", "at least 3 chars long"),
		Entry("an assistance request sent to a service provider", func(cc *v1.CooperationChannel) {
			cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", "hopthu-mail"
			cc.Spec.RequestTypes = []v1.RequestType{v1.RequestPreservation, v1.RequestMutualLegalAssistance}
		}, "spec", "requestTypes: a channel to a service provider carries only Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval"),
	)

	It("accepts a channel to a service provider and keeps it one", func() {
		ctx := context.Background()
		cc := validChannel("to-hopthu-mail")
		cc.Spec.Peer.Country, cc.Spec.Peer.Provider = "", "hopthu-mail"
		cc.Spec.RequestTypes = []v1.RequestType{v1.RequestPreservation, v1.RequestSubscriberInformation, v1.RequestContentRemoval}
		Expect(k8sClient.Create(ctx, cc)).To(Succeed())
		Expect(cc.Spec.Peer.Party()).To(Equal("hopthu-mail"))

		By("refusing to turn it into a channel to a State")
		turned := cc.DeepCopy()
		turned.Spec.Peer.Provider, turned.Spec.Peer.Country = "", "FR"
		err := k8sClient.Update(ctx, turned)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("a channel to a State cannot become a channel to a service provider, nor the reverse"))

		By("refusing another provider")
		other := cc.DeepCopy()
		other.Spec.Peer.Provider = "other-mail"
		err = k8sClient.Update(ctx, other)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("peer.provider is immutable"))
	})

	It("rejects an empty trust bundle written out by hand", func() {
		cc := validChannel("empty-trust")
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cc)
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{Object: raw}
		u.SetGroupVersionKind(v1.GroupVersion.WithKind("CooperationChannel"))
		Expect(unstructured.SetNestedMap(u.Object, map[string]any{}, "spec", "peer", "trustBundle")).To(Succeed())
		err = k8sClient.Create(context.Background(), u)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.peer.trustBundle"))
		Expect(err.Error()).To(ContainSubstring("exactly one of pem or secretRef"))
	})

	DescribeTable("refuses changes that would make it another channel",
		func(mutate func(cc *v1.CooperationChannel), field, expected string) {
			counter++
			cc := validChannel(fmt.Sprintf("cc-%d", counter))
			Expect(k8sClient.Create(context.Background(), cc)).To(Succeed())
			mutate(cc)
			err := k8sClient.Update(context.Background(), cc)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("another peer country", func(cc *v1.CooperationChannel) { cc.Spec.Peer.Country = "DE" }, "spec.peer.country", "immutable"),
		Entry("another focal point", func(cc *v1.CooperationChannel) { cc.Spec.FocalPointRef.Name = "other" }, "spec.focalPointRef", "immutable"),
	)

	It("lets the peer's endpoint, types and terms change", func() {
		cc := validChannel("changing-channel")
		Expect(k8sClient.Create(context.Background(), cc)).To(Succeed())
		cc.Spec.Peer.Endpoint = "https://gateway2.fr.example:8443/cybercoop"
		cc.Spec.RequestTypes = append(cc.Spec.RequestTypes, v1.RequestInterception)
		cc.Spec.DataProtection.OnwardTransfer = v1.OnwardTransferRequiresAuthorization
		Expect(k8sClient.Update(context.Background(), cc)).To(Succeed())
	})
})
