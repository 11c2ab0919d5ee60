package evidencevault

import (
	"context"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
	"github.com/cybercoop/cybercoop-operator/internal/vault/vaultcmd"
)

// s3Spec keeps the evidence in tg's bucket (or the one given) under a prefix of the spec's own.
func s3Spec(tg *s3test.Target, bucket string) *cybercoopv1alpha1.VaultS3Storage {
	s := &cybercoopv1alpha1.VaultS3Storage{Endpoint: tg.Endpoint, Bucket: bucket, Region: tg.Region,
		Prefix: s3test.Prefix(GinkgoT()), CredentialsSecretRef: cybercoopv1alpha1.SecretReference{Name: "vault-s3"}}
	if tg.PathStyle {
		s.Addressing = cybercoopv1alpha1.S3AddressingPath
	}
	return s
}

// startS3Vault runs the vault as the StatefulSet would on storage.s3: an empty
// data directory, the objects and custody log in the bucket.
func startS3Vault(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault, tg *s3test.Target) *runningVault {
	s3 := ev.Spec.Storage.S3
	store, err := vault.NewS3Store(vault.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region, Prefix: s3.Prefix,
		PathStyle: s3.Addressing == cybercoopv1alpha1.S3AddressingPath, AccessKeyID: tg.AccessKeyID, SecretAccessKey: tg.SecretAccessKey,
		CABundle: tg.CABundle, CustodyRetention: 5 * time.Minute, ProbeRetention: time.Minute}, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	return startVaultOn(ctx, ev, GinkgoT().TempDir(), store)
}

func credentialsSecret(ev *cybercoopv1alpha1.EvidenceVault, tg *s3test.Target) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: "vault-s3"},
		Data: map[string][]byte{s3AccessKeyIDKey: []byte(tg.AccessKeyID), s3SecretAccessKeyKey: []byte(tg.SecretAccessKey)}}
}

var _ = Describe("an EvidenceVault on S3", func() {
	ctx := context.Background()

	It("runs the vault without a volume claim and reports the bucket's lock as the vault checked it", func() {
		tg := s3test.Get(GinkgoT())
		_, ev := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) {
			ev.Spec.Storage.Size = resource.MustParse("2Gi")
			ev.Spec.Storage.S3 = s3Spec(tg, tg.Bucket)
		})
		By("saying which Secret is missing before it exists")
		Eventually(func(g Gomega) {
			c := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionStorageBound)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonS3CredentialsMissing))
			g.Expect(c.Message).To(ContainSubstring("vault-s3"))
		}).Should(Succeed())
		Expect(k8sClient.Create(ctx, credentialsSecret(ev, tg))).To(Succeed())

		By("a StatefulSet with an emptyDir of storage.size and the credentials mounted, and no claim")
		sts := &appsv1.StatefulSet{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), sts)).To(Succeed())
		}).Should(Succeed())
		Expect(sts.Spec.VolumeClaimTemplates).To(BeEmpty())
		var data *corev1.Volume
		for i, vol := range sts.Spec.Template.Spec.Volumes {
			if vol.Name == "data" {
				data = &sts.Spec.Template.Spec.Volumes[i]
			}
		}
		Expect(data).NotTo(BeNil())
		Expect(data.EmptyDir).NotTo(BeNil())
		Expect(data.EmptyDir.SizeLimit.String()).To(Equal("2Gi"))
		args := strings.Join(sts.Spec.Template.Spec.Containers[0].Args, " ")
		Expect(args).To(ContainSubstring("--s3-bucket=" + tg.Bucket))
		Expect(args).To(ContainSubstring("--s3-endpoint=" + tg.Endpoint))
		Expect(args).To(ContainSubstring("--s3-credentials-dir=" + s3CredsDir))
		Expect(args).To(ContainSubstring("--s3-prefix=" + ev.Spec.Storage.S3.Prefix))
		Expect(args).NotTo(ContainSubstring(tg.SecretAccessKey))
		// The arguments are the vault command's own flags, with the values the spec gives.
		command := vaultcmd.NewCommand()
		Expect(command.ParseFlags(sts.Spec.Template.Spec.Containers[0].Args[1:])).To(Succeed())
		flags := command.Flags()
		for name, want := range map[string]string{"s3-bucket": tg.Bucket, "s3-endpoint": tg.Endpoint, "s3-region": tg.Region,
			"s3-prefix": ev.Spec.Storage.S3.Prefix, "s3-path-style": strconv.FormatBool(tg.PathStyle), "s3-credentials-dir": s3CredsDir,
			"s3-custody-retention": "87600h0m0s"} {
			Expect(flags.Lookup(name).Value.String()).To(Equal(want), "--%s", name)
		}
		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), np)).To(Succeed())
		Expect(np.Spec.Egress).To(HaveLen(2), "DNS, and the store's port")
		Expect(np.Spec.Egress[1].Ports[0].Port.IntValue()).To(Equal(int(s3EndpointPort(ev.Spec.Storage.S3))))

		By("StorageBound True once the vault reports the bucket checked")
		rv := startS3Vault(ctx, ev, tg)
		defer rv.stop()
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			c := condition(got, cybercoopv1alpha1.ConditionStorageBound)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonBucketLocked))
			g.Expect(got.Status.Storage).To(Equal(&cybercoopv1alpha1.VaultStorageStatus{Backend: cybercoopv1alpha1.StorageBackendS3,
				Bucket: tg.Bucket, LockMode: cybercoopv1alpha1.StorageLockCompliance}))
		}).Should(Succeed())

		By("deleted with Retain, it says the evidence stays in the bucket and keeps the keys")
		Expect(k8sClient.Delete(ctx, ev)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), &cybercoopv1alpha1.EvidenceVault{}))).To(BeTrue())
			events := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, events, client.InNamespace(ev.Namespace))).To(Succeed())
			g.Expect(events.Items).To(ContainElement(And(
				HaveField("Reason", cybercoopv1alpha1.EventEvidenceRetained),
				HaveField("Note", ContainSubstring("the evidence stays in bucket "+tg.Bucket)))))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ev, KeyringSecretName(ev)), &corev1.Secret{})).To(Succeed())
	})

	It("says why the vault refuses a bucket without Object Lock, naming no credential", func() {
		tg := s3test.Get(GinkgoT())
		if tg.UnlockedBucket == "" {
			Skip("VAULT_S3_UNLOCKED_BUCKET names no bucket without Object Lock")
		}
		_, ev := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.S3 = s3Spec(tg, tg.UnlockedBucket) })
		Expect(k8sClient.Create(ctx, credentialsSecret(ev, tg))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(get(ctx, g, ev).Status.CheckpointVerifierKey).NotTo(BeEmpty())
			g.Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), &appsv1.StatefulSet{})).To(Succeed())
		}).Should(Succeed())
		rv := startS3Vault(ctx, ev, tg)
		defer rv.stop()
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			c := condition(got, cybercoopv1alpha1.ConditionStorageBound)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonBucketUnprotected))
			g.Expect(c.Message).To(ContainSubstring("does not have Object Lock enabled"))
			g.Expect(c.Message).To(ContainSubstring(tg.UnlockedBucket))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Status).NotTo(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.Storage).NotTo(BeNil())
			g.Expect(got.Status.Storage.LockMode).To(Equal(cybercoopv1alpha1.StorageLockNone))
		}).Should(Succeed())
		got := get(ctx, Default, ev)
		for _, c := range got.Status.Conditions {
			Expect(c.Message).NotTo(ContainSubstring(tg.SecretAccessKey))
		}
		events := &corev1.EventList{}
		Expect(k8sClient.List(ctx, events)).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Message).NotTo(ContainSubstring(tg.SecretAccessKey))
		}
	})

	DescribeTable("the API server refuses storage.s3 that cannot work, naming the field",
		func(mutate func(*cybercoopv1alpha1.EvidenceVault), message string) {
			ns := "default"
			ev := &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{GenerateName: "ev-s3-", Namespace: ns},
				Spec: cybercoopv1alpha1.EvidenceVaultSpec{FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: "ke"},
					Storage: &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("1Gi"), S3: &cybercoopv1alpha1.VaultS3Storage{
						Bucket: "evidence-ke", CredentialsSecretRef: cybercoopv1alpha1.SecretReference{Name: "vault-s3"}}}}}
			mutate(ev)
			err := k8sClient.Create(ctx, ev)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("a bucket name with capitals", func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.S3.Bucket = "Evidence_KE" },
			"storage.s3.bucket must be an S3 bucket name"),
		Entry("an endpoint that is not a URL", func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.S3.Endpoint = "rgw.example.org" },
			"storage.s3.endpoint must be an http:// or https:// URL"),
		Entry("an endpoint with credentials in it", func(ev *cybercoopv1alpha1.EvidenceVault) {
			ev.Spec.Storage.S3.Endpoint = "https://vault:hunter2@rgw.example.org"
		}, "storage.s3.endpoint must not carry credentials"),
		Entry("a prefix without its trailing slash", func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.S3.Prefix = "vault-ke" },
			"storage.s3.prefix must end with '/'"),
		Entry("a storage class with s3", func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.StorageClassName = "fast" },
			"storage.storageClassName does not apply with storage.s3"),
		Entry("custody segments kept less than 60 days", func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.S3.CustodyRetentionDays = 30 },
			"custodyRetentionDays"),
	)

	It("refuses to move evidence between a volume and a bucket, or to another bucket", func() {
		// update applies mutate to the live object until the API server answers
		// with something other than a conflict (the controller writes it too).
		update := func(ev *cybercoopv1alpha1.EvidenceVault, mutate func(*cybercoopv1alpha1.EvidenceVault)) error {
			var err error
			Eventually(func() bool {
				live := get(ctx, Default, ev)
				mutate(live)
				err = k8sClient.Update(ctx, live)
				return !apierrors.IsConflict(err)
			}).Should(BeTrue())
			return err
		}
		_, ev := stack(ctx, nil)
		err := update(ev, func(live *cybercoopv1alpha1.EvidenceVault) {
			live.Spec.Storage.S3 = &cybercoopv1alpha1.VaultS3Storage{Bucket: "evidence-ke", CredentialsSecretRef: cybercoopv1alpha1.SecretReference{Name: "vault-s3"}}
		})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("storage.s3 can be set only when the EvidenceVault is created"))

		_, onS3 := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) {
			ev.Spec.Storage.S3 = &cybercoopv1alpha1.VaultS3Storage{Bucket: "evidence-ke", CredentialsSecretRef: cybercoopv1alpha1.SecretReference{Name: "vault-s3"}}
		})
		err = update(onS3, func(live *cybercoopv1alpha1.EvidenceVault) { live.Spec.Storage.S3.Bucket = "evidence-elsewhere" })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("storage.s3.bucket is immutable"))
	})
})
