package evidencevault

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
	"github.com/cybercoop/cybercoop-operator/internal/workload"
)

// With storage.s3 the evidence and its custody log live in the bucket, under the
// store's own Object Lock; the pod keeps nothing that must outlive it. So there is
// no PersistentVolumeClaim (nothing to bind, back up or lose with a node), only an
// emptyDir of storage.size for objects being uploaded and the working copy of the
// custody log, rebuilt from the bucket at every start. A PVC would add a second
// copy that could disagree with the bucket and a zone the pod is tied to, and
// protect nothing the bucket does not.

// The keys of the credentials Secret (as Rook's ObjectBucketClaim Secrets name them).
const (
	s3AccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	s3SecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
	defaultS3Region      = "us-east-1"
	defaultCustodyDays   = 3650
)

func s3Args(s3 *cybercoopv1alpha1.VaultS3Storage) []string {
	region := s3.Region
	if region == "" {
		region = defaultS3Region
	}
	days := s3.CustodyRetentionDays
	if days == 0 {
		days = defaultCustodyDays
	}
	args := []string{
		"--s3-bucket=" + s3.Bucket,
		"--s3-region=" + region,
		"--s3-credentials-dir=" + s3CredsDir,
		"--s3-custody-retention=" + strconv.Itoa(int(days)*24) + "h",
	}
	if s3.Endpoint != "" {
		args = append(args, "--s3-endpoint="+s3.Endpoint)
	}
	if s3.Prefix != "" {
		args = append(args, "--s3-prefix="+s3.Prefix)
	}
	if s3.Addressing == cybercoopv1alpha1.S3AddressingPath {
		args = append(args, "--s3-path-style")
	}
	if s3.CABundleRef != nil {
		args = append(args, "--s3-ca-file="+s3CADir+"/ca.crt")
	}
	return args
}

// s3Volumes adds what the vault needs when the evidence is in a bucket to the
// volumes and mounts of the volume case: an emptyDir of spec.storage.size for
// scratch (uploads in progress, the working copy of the custody log) in place of
// the claim, the credentials Secret and the endpoint's CA bundle.
func s3Volumes(ev *cybercoopv1alpha1.EvidenceVault, volumes []corev1.Volume, mounts []corev1.VolumeMount) ([]corev1.Volume, []corev1.VolumeMount) {
	s3 := ev.Spec.Storage.S3
	size := ev.Spec.Storage.Size
	volumes = append([]corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size}}}}, volumes...)
	volumes = append(volumes, workload.SecretVolume("s3-credentials", s3.CredentialsSecretRef.Name))
	mounts = append(mounts, corev1.VolumeMount{Name: "s3-credentials", MountPath: s3CredsDir, ReadOnly: true})
	if ref := s3.CABundleRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = "ca.crt"
		}
		volumes = append(volumes, corev1.Volume{Name: "s3-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Items: []corev1.KeyToPath{{Key: key, Path: "ca.crt"}}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "s3-ca", MountPath: s3CADir, ReadOnly: true})
	}
	return volumes, mounts
}

// s3EndpointPort is the TCP port the vault reaches the store on, for its egress rule.
func s3EndpointPort(s3 *cybercoopv1alpha1.VaultS3Storage) int32 {
	u, err := url.Parse(s3.Endpoint)
	if s3.Endpoint == "" || err != nil {
		return 443
	}
	if p, err := strconv.Atoi(u.Port()); err == nil && p > 0 && p < 65536 {
		return int32(p)
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

// s3Egress lets the vault reach its store. The store's addresses are not known
// (a name, often behind a load balancer), so the rule names only the port.
func s3Egress(ev *cybercoopv1alpha1.EvidenceVault) []intstr.IntOrString {
	if ev.Spec.Storage.S3 == nil {
		return nil
	}
	return []intstr.IntOrString{intstr.FromInt32(s3EndpointPort(ev.Spec.Storage.S3))}
}

// checkS3Credentials reads storage.s3's credentials Secret and says what is
// missing from it. It never reads the values beyond their presence.
func (r *Reconciler) checkS3Credentials(ctx context.Context, s *scope) error {
	ref := s.ev.Spec.Storage.S3.CredentialsSecretRef
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.ev.Namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		s.s3Problem = fmt.Sprintf("the credentials Secret %s named by spec.storage.s3.credentialsSecretRef does not exist; create it with the keys %s and %s",
			ref.Name, s3AccessKeyIDKey, s3SecretAccessKeyKey)
		return nil
	case err != nil:
		return fmt.Errorf("reading the credentials Secret %s: %w", ref.Name, err)
	}
	for _, key := range []string{s3AccessKeyIDKey, s3SecretAccessKeyKey} {
		if len(secret.Data[key]) == 0 {
			s.s3Problem = fmt.Sprintf("the credentials Secret %s named by spec.storage.s3.credentialsSecretRef has no key %s (it needs %s and %s)",
				ref.Name, key, s3AccessKeyIDKey, s3SecretAccessKeyKey)
			return nil
		}
	}
	return nil
}

// s3StorageCondition is StorageBound for a vault on S3: True once the vault
// reports the bucket checked (Object Lock, versioning, a probe's deletion
// refused); False with the vault's reason when it refuses the bucket.
func s3StorageCondition(s *scope) metav1.Condition {
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionStorageBound, status, reason, format, args...)
	}
	s3 := s.ev.Spec.Storage.S3
	v := s.vault
	switch {
	case s.s3Problem != "":
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonS3CredentialsMissing, "%s", s.s3Problem)
	case v == nil:
		why := "not reached yet"
		if s.vaultErr != nil {
			why = s.vaultErr.Error()
		}
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonVaultUnreachable, "bucket %s: the vault has not reported on it: %s", s3.Bucket, why)
	case v.StorageFault:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonBucketUnprotected, "the vault refuses to serve: %s", v.Fault)
	case v.Storage == nil || v.Storage.Backend != "s3" || v.Storage.Bucket != s3.Bucket:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the vault does not run on bucket %s yet (its pod is being replaced)", s3.Bucket)
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonBucketLocked,
		"bucket %s: Object Lock enabled, versioning on, and a probe object under COMPLIANCE retention could not be deleted when the vault started; "+
			"every object and custody entry carries its own COMPLIANCE retention", s3.Bucket)
}

// storageStatus is status.storage from the vault's report; the last one is kept
// while the vault cannot be asked.
func storageStatus(s *scope) *cybercoopv1alpha1.VaultStorageStatus {
	v := s.vault
	if v == nil || v.Storage == nil {
		return s.ev.Status.Storage
	}
	out := &cybercoopv1alpha1.VaultStorageStatus{Backend: cybercoopv1alpha1.StorageBackendFilesystem, LockMode: cybercoopv1alpha1.StorageLockNone}
	if v.Storage.Backend == "s3" {
		out.Backend, out.Bucket = cybercoopv1alpha1.StorageBackendS3, v.Storage.Bucket
		if v.Storage.LockMode == vaultLockCompliance && !v.StorageFault {
			out.LockMode = cybercoopv1alpha1.StorageLockCompliance
		}
	}
	return out
}

// vaultLockCompliance is the lock mode the vault reports for S3 Object Lock.
const vaultLockCompliance = "COMPLIANCE"
