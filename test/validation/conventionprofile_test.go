package validation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

func validProfile(name string) *v1.ConventionProfile {
	return &v1.ConventionProfile{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.ConventionProfileSpec{
			Country: "KE",
			CentralAuthority: v1.CentralAuthority{
				Name:           "Office of the Attorney General",
				Contact:        v1.Contact{Name: "Liaison", Email: "mla@justice.example.go.ke"},
				Languages:      []v1.LanguageTag{"en", "sw"},
				PointOfContact: v1.PointOfContactPartOfCentralAuthority,
			},
			AcceptedRequestTypes: []v1.RequestType{v1.RequestPreservation},
		},
	}
}

func createProfile(mutate func(p *v1.ConventionProfile)) error {
	counter++
	p := validProfile(fmt.Sprintf("profile-%d", counter))
	mutate(p)
	return k8sClient.Create(context.Background(), p)
}

var _ = Describe("ConventionProfile validation by the API server", func() {
	It("accepts a valid ConventionProfile", func() {
		Expect(k8sClient.Create(context.Background(), validProfile("valid-profile"))).To(Succeed())
	})

	It("accepts the samples of config/samples", func() {
		for _, file := range []string{"cybercoop_v1alpha1_conventionprofile.yaml", "cybercoop_v1alpha1_conventionprofile_fr.yaml"} {
			raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "samples", file))
			Expect(err).NotTo(HaveOccurred())
			p := &v1.ConventionProfile{}
			Expect(yaml.UnmarshalStrict(raw, p)).To(Succeed(), file)
			p.Namespace, p.Name = namespace, "sample-"+strings.TrimSuffix(file, ".yaml")[len("cybercoop_v1alpha1_"):]
			p.Name = strings.ReplaceAll(p.Name, "_", "-")
			Expect(k8sClient.Create(context.Background(), p)).To(Succeed(), file)
		}
	})

	DescribeTable("rejects an invalid ConventionProfile with a message naming the field",
		func(mutate func(p *v1.ConventionProfile), field, expected string) {
			err := createProfile(mutate)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field), "the message must name the field")
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("a country that does not exist", func(p *v1.ConventionProfile) { p.Spec.Country = "XX" },
			"spec.country", "ISO 3166-1 alpha-2"),
		Entry("no central authority name", func(p *v1.ConventionProfile) { p.Spec.CentralAuthority.Name = "" },
			"spec.centralAuthority.name", "Required value"),
		Entry("a contact without e-mail or phone", func(p *v1.ConventionProfile) {
			p.Spec.CentralAuthority.Contact = v1.Contact{Name: "Liaison"}
		}, "spec.centralAuthority.contact", "at least one of email or phone"),
		Entry("no accepted language", func(p *v1.ConventionProfile) { p.Spec.CentralAuthority.Languages = nil },
			"spec.centralAuthority.languages", "Required value"),
		Entry("a language that is not a BCP 47 tag", func(p *v1.ConventionProfile) {
			p.Spec.CentralAuthority.Languages = []v1.LanguageTag{"english language"}
		}, "spec.centralAuthority.languages[0]", "BCP 47"),
		Entry("no placement of the point of contact", func(p *v1.ConventionProfile) { p.Spec.CentralAuthority.PointOfContact = "" },
			"spec.centralAuthority.pointOfContact", "Required value"),
		Entry("an unknown placement", func(p *v1.ConventionProfile) { p.Spec.CentralAuthority.PointOfContact = "Elsewhere" },
			"spec.centralAuthority.pointOfContact", "Unsupported value"),
		Entry("a separate point of contact without coordination", func(p *v1.ConventionProfile) {
			p.Spec.CentralAuthority.PointOfContact = v1.PointOfContactSeparate
		}, "spec.centralAuthority", "centralAuthority.coordination is required when pointOfContact is Separate"),
		Entry("no accepted request type", func(p *v1.ConventionProfile) { p.Spec.AcceptedRequestTypes = nil },
			"spec.acceptedRequestTypes", "Required value"),
		Entry("an unknown request type", func(p *v1.ConventionProfile) {
			p.Spec.AcceptedRequestTypes = []v1.RequestType{"Extradition"}
		}, "spec.acceptedRequestTypes[0]", "Unsupported value"),
		Entry("a request type twice", func(p *v1.ConventionProfile) {
			p.Spec.AcceptedRequestTypes = []v1.RequestType{v1.RequestPreservation, v1.RequestPreservation}
		}, "spec.acceptedRequestTypes[1]", "Duplicate value"),
		Entry("a reservation on no article", func(p *v1.ConventionProfile) {
			p.Spec.Reservations = []v1.ArticleStatement{{Article: "article 42", Text: "x"}}
		}, "spec.reservations[0].article", "must be an article of the convention"),
		Entry("a declaration on article 0", func(p *v1.ConventionProfile) {
			p.Spec.Declarations = []v1.ArticleStatement{{Article: "0", Text: "x"}}
		}, "spec.declarations[0].article", "must be an article of the convention"),
		Entry("a declaration without text", func(p *v1.ConventionProfile) {
			p.Spec.Declarations = []v1.ArticleStatement{{Article: "40(8)(b)"}}
		}, "spec.declarations[0].text", "Required value"),
	)

	It("refuses to change the country", func() {
		p := validProfile("immutable-profile")
		Expect(k8sClient.Create(context.Background(), p)).To(Succeed())
		p.Spec.Country = "FR"
		err := k8sClient.Update(context.Background(), p)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.country"))
		Expect(err.Error()).To(ContainSubstring("immutable"))
	})

	It("accepts articles with paragraph and subparagraph", func() {
		Expect(createProfile(func(p *v1.ConventionProfile) {
			p.Spec.Reservations = []v1.ArticleStatement{{Article: "42(4)", Text: "x"}, {Article: "40(8)(b)", Text: "y"}, {Article: "41", Text: "z"}}
		})).To(Succeed())
	})
})
