package validation

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

func validFocalPoint(name string) *v1.FocalPoint { return fixtures.VietNam(namespace, name) }

var counter int

// explicitEdits are edits of the JSON sent, for values the typed client leaves out
// under omitempty but a person's YAML states (authority: "").
var explicitEdits []func(obj map[string]any)

// explicit sets the field at path (a list index as an int) to value in the JSON sent,
// as kubectl sends what the user wrote.
func explicit(value any, path ...any) func(*v1.FocalPoint) {
	return func(*v1.FocalPoint) {
		explicitEdits = append(explicitEdits, func(obj map[string]any) {
			var node any = obj
			for _, step := range path[:len(path)-1] {
				switch k := step.(type) {
				case string:
					node = node.(map[string]any)[k]
				case int:
					node = node.([]any)[k]
				}
			}
			node.(map[string]any)[path[len(path)-1].(string)] = value
		})
	}
}

func create(mutate func(fp *v1.FocalPoint)) error {
	counter++
	fp := validFocalPoint(fmt.Sprintf("fp-%d", counter))
	explicitEdits = nil
	mutate(fp)
	if len(explicitEdits) == 0 {
		return k8sClient.Create(context.Background(), fp)
	}
	fp.SetGroupVersionKind(v1.GroupVersion.WithKind("FocalPoint"))
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fp)
	if err != nil {
		return err
	}
	for _, edit := range explicitEdits {
		edit(content)
	}
	return k8sClient.Create(context.Background(), &unstructured.Unstructured{Object: content})
}

var _ = Describe("FocalPoint validation by the API server", func() {
	It("accepts a valid FocalPoint and applies defaults", func() {
		fp := validFocalPoint("valid")
		Expect(k8sClient.Create(context.Background(), fp)).To(Succeed())
		Expect(*fp.Spec.Gateway.Replicas).To(Equal(int32(2)))
		Expect(fp.Spec.Gateway.ServiceType).To(Equal(v1.GatewayServiceClusterIP))
	})

	DescribeTable("rejects an invalid FocalPoint with a message naming the field",
		func(mutate func(fp *v1.FocalPoint), field, expected string) {
			err := create(mutate)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field), "the message must name the field")
			Expect(err.Error()).To(ContainSubstring(expected))
		},
		Entry("an unknown CA deletion policy", func(fp *v1.FocalPoint) {
			fp.Spec.Certificates = &v1.CertificatesSpec{CADeletionPolicy: "Orphan"}
		}, "spec.certificates.caDeletionPolicy", `supported values: "Retain", "Delete"`),
		Entry("an external name with upper case", func(fp *v1.FocalPoint) { fp.Spec.Gateway.ExternalNames = []string{"Gateway.KE.example"} },
			"spec.gateway.externalNames[0]", "lower-case DNS names"),
		Entry("country not assigned by ISO 3166-1", func(fp *v1.FocalPoint) { fp.Spec.Country = "ZZ" },
			"spec.country", "officially assigned ISO 3166-1 alpha-2 country code"),
		Entry("country in lower case", func(fp *v1.FocalPoint) { fp.Spec.Country = "vn" },
			"spec.country", "in upper case"),
		Entry("country as alpha-3", func(fp *v1.FocalPoint) { fp.Spec.Country = "VNM" },
			"spec.country", "may not be more than 2 bytes"),
		Entry("unknown assistance service", func(fp *v1.FocalPoint) { fp.Spec.Services = append(fp.Spec.Services, "Hacking") },
			"spec.services[2]", `supported values: "TechnicalAdvice"`),
		Entry("duplicate service", func(fp *v1.FocalPoint) { fp.Spec.Services = []v1.AssistanceService{"Preservation", "Preservation"} },
			"spec.services[1]", "Duplicate value"),
		Entry("no services", explicit([]any{}, "spec", "services"),
			"spec.services", "should have at least 1 items"),
		Entry("shift ending at 25:00", func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts[0].End = "25:00" },
			"spec.roster.shifts[0].end", "must be a time of day HH:MM between 00:00 and 24:00"),
		Entry("shift starting at 24:00", func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts[0].Start = "24:00" },
			"spec.roster.shifts[0]", "start must be a time of day from 00:00 to 23:59"),
		Entry("empty shift", func(fp *v1.FocalPoint) {
			fp.Spec.Roster.Shifts[0].Start, fp.Spec.Roster.Shifts[0].End = "08:00", "08:00"
		},
			"spec.roster.shifts[0]", "start and end must differ"),
		Entry("empty roster", explicit([]any{}, "spec", "roster", "shifts"),
			"spec.roster.shifts", "should have at least 1 items"),
		Entry("shift on an unknown day", func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts[0].Days = []v1.Weekday{"Funday"} },
			"spec.roster.shifts[0].days[0]", `supported values: "Monday"`),
		Entry("shift with nobody on call", explicit("", "spec", "roster", "shifts", 0, "onCall"),
			"spec.roster.shifts[0].onCall", "should be at least 1 chars long"),
		Entry("time zone that is not an IANA name", func(fp *v1.FocalPoint) { fp.Spec.Roster.TimeZone = "GMT+7" },
			"spec.roster.timeZone", "must be an IANA time zone name"),
		Entry("too many contacts", func(fp *v1.FocalPoint) {
			for i := 0; i < 11; i++ {
				fp.Spec.Contacts = append(fp.Spec.Contacts, v1.Contact{Name: "Officer", Phone: "+84240000001"})
			}
		}, "spec.contacts", "must have at most 10 items"),
		Entry("contact with neither email nor phone", func(fp *v1.FocalPoint) { fp.Spec.Contacts[0] = v1.Contact{Name: "Duty officer"} },
			"spec.contacts[0]", "a contact needs at least one of email or phone"),
		Entry("phone not in E.164 form", func(fp *v1.FocalPoint) { fp.Spec.Contacts[0].Phone = "024 000 0000" },
			"spec.contacts[0].phone", "E.164"),
		Entry("malformed e-mail", func(fp *v1.FocalPoint) { fp.Spec.Contacts[0].Email = "duty-at-example" },
			"spec.contacts[0].email", "must be an e-mail address"),
		Entry("language that is not a BCP 47 tag", func(fp *v1.FocalPoint) { fp.Spec.Languages = []v1.LanguageTag{"Vietnamese!"} },
			"spec.languages[0]", "must be a BCP 47 language tag"),
		Entry("no accepted language", func(fp *v1.FocalPoint) { fp.Spec.Languages = nil },
			"spec.languages", "Required value"),
		Entry("empty authority", explicit("", "spec", "authority"),
			"spec.authority", "should be at least 1 chars long"),
		Entry("zero gateway replicas", func(fp *v1.FocalPoint) { zero := int32(0); fp.Spec.Gateway.Replicas = &zero },
			"spec.gateway.replicas", "should be greater than or equal to 1"),
		Entry("unknown service type", func(fp *v1.FocalPoint) { fp.Spec.Gateway.ServiceType = "ExternalName" },
			"spec.gateway.serviceType", `supported values: "ClusterIP", "NodePort", "LoadBalancer"`),
		Entry("leaf renewal not shorter than its lifetime", func(fp *v1.FocalPoint) {
			fp.Spec.Certificates = &v1.CertificatesSpec{LeafCertificateSpec: v1.LeafCertificateSpec{LeafDuration: dur("24h"), LeafRenewBefore: dur("48h")}}
		}, "spec.certificates", "leafRenewBefore must be shorter than leafDuration"),
		Entry("leaf lifetime of ten years", func(fp *v1.FocalPoint) {
			fp.Spec.Certificates = &v1.CertificatesSpec{LeafCertificateSpec: v1.LeafCertificateSpec{LeafDuration: dur("87600h")}}
		}, "spec.certificates.leafDuration", "must be between 1h and 8760h"),
	)

	It("keeps country immutable", func() {
		fp := validFocalPoint("immutable")
		ctx := context.Background()
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		fp.Spec.Country = "KH"
		err := k8sClient.Update(ctx, fp)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.country"))
		Expect(err.Error()).To(ContainSubstring("country is immutable"))

		By("leaving the stored object untouched")
		stored := &v1.FocalPoint{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), stored)).To(Succeed())
		Expect(stored.Spec.Country).To(Equal(v1.CountryCode("VN")))
	})

	It("makes a FocalPoint a service provider's endpoint, for good", func() {
		ctx := context.Background()
		fp := validFocalPoint("provider")
		fp.Spec.ServiceProvider = &v1.ServiceProviderSpec{ID: "hopthu-mail", Name: "Hộp Thư Mail JSC"}
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Expect(fp.Spec.Party()).To(Equal("hopthu-mail"))

		By("refusing to drop it")
		dropped := fp.DeepCopy()
		dropped.Spec.ServiceProvider = nil
		err := k8sClient.Update(ctx, dropped)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("serviceProvider cannot be added or removed after creation"))

		By("refusing another identifier")
		renamed := fp.DeepCopy()
		renamed.Spec.ServiceProvider.ID = "other-mail"
		err = k8sClient.Update(ctx, renamed)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("serviceProvider.id is immutable"))

		By("refusing to add it to a State's point of contact")
		state := validFocalPoint("state-then-provider")
		Expect(k8sClient.Create(ctx, state)).To(Succeed())
		state.Spec.ServiceProvider = &v1.ServiceProviderSpec{ID: "late-mail", Name: "Late"}
		err = k8sClient.Update(ctx, state)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("serviceProvider cannot be added or removed after creation"))

		By("naming the field of a malformed identifier")
		err = create(func(fp *v1.FocalPoint) { fp.Spec.ServiceProvider = &v1.ServiceProviderSpec{ID: "-mail", Name: "x"} })
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.serviceProvider.id"))
		Expect(err.Error()).To(ContainSubstring("must be a lower-case DNS label"))
	})

	It("lists every rule violated at once, so one round trip fixes them all", func() {
		err := create(func(fp *v1.FocalPoint) {
			fp.Spec.Country = "ZZ"
			fp.Spec.Roster.Shifts[0].End = "25:00"
		})
		Expect(err).To(HaveOccurred())
		msg := err.Error()
		Expect(strings.Contains(msg, "spec.country") && strings.Contains(msg, "spec.roster.shifts[0].end")).To(BeTrue(), msg)
	})
})

func dur(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	Expect(err).NotTo(HaveOccurred())
	return &metav1.Duration{Duration: d}
}
