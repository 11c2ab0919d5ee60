package compliance

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// TestVaultRetentionStoreLock: a vault on S3 shows its evidence under the
// store's own lock once the vault has confirmed it; a refused bucket fails.
func TestVaultRetentionStoreLock(t *testing.T) {
	onS3 := func(in *Inputs) {
		in.Vaults[0].Spec.Storage = &v1.VaultStorage{S3: &v1.VaultS3Storage{Bucket: "evidence-ke",
			CredentialsSecretRef: v1.SecretReference{Name: "vault-s3"}}}
	}
	locked := func(in *Inputs) {
		onS3(in)
		in.Vaults[0].Status.Conditions = append(in.Vaults[0].Status.Conditions,
			cond(v1.ConditionStorageBound, metav1.ConditionTrue, v1.ReasonBucketLocked, "bucket evidence-ke: Object Lock enabled"))
		in.Vaults[0].Status.Storage = &v1.VaultStorageStatus{Backend: v1.StorageBackendS3, Bucket: "evidence-ke", LockMode: v1.StorageLockCompliance}
	}
	cases := []struct {
		name    string
		mutate  func(in *Inputs)
		result  v1.ControlResult
		reason  string
		message string
	}{
		{"a volume", func(*Inputs) {}, v1.ControlPass, "RetentionSufficient", "keeps evidence at least 90 days"},
		{"a bucket the vault confirmed", locked, v1.ControlPass, "RetentionStoreEnforced", "S3 Object Lock in COMPLIANCE mode on bucket evidence-ke"},
		{"a bucket not confirmed yet", onS3, v1.ControlUnknown, "StoreLockUnknown", "not yet confirmed the Object Lock of bucket evidence-ke"},
		{"a bucket the vault refuses", func(in *Inputs) {
			onS3(in)
			in.Vaults[0].Status.Conditions = append(in.Vaults[0].Status.Conditions, cond(v1.ConditionStorageBound, metav1.ConditionFalse,
				v1.ReasonBucketUnprotected, "the vault refuses to serve: bucket evidence-ke does not have Object Lock enabled"))
		}, v1.ControlFail, "StoreLockMissing", "does not have Object Lock enabled"},
		{"a lock reported for another bucket", func(in *Inputs) {
			locked(in)
			in.Vaults[0].Status.Storage.Bucket = "evidence-old"
		}, v1.ControlUnknown, "StoreLockUnknown", ""},
		{"a lock mode of None", func(in *Inputs) {
			locked(in)
			in.Vaults[0].Status.Storage.LockMode = v1.StorageLockNone
		}, v1.ControlUnknown, "StoreLockUnknown", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy()
			tc.mutate(&in)
			c := results(Evaluate(in, now).Controls)[ControlVaultRetention]
			if c.Result != tc.result || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
				t.Errorf("%s = %s/%s (%s), want %s/%s mentioning %q", ControlVaultRetention, c.Result, c.Reason, c.Message, tc.result, tc.reason, tc.message)
			}
		})
	}
}
