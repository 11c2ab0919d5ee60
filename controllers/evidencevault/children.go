package evidencevault

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/workload"
)

// defaultRetentionDays is spec.retention.minimumDays's default.
const defaultRetentionDays = 90

func retentionDays(ev *cybercoopv1alpha1.EvidenceVault) int32 {
	if r := ev.Spec.Retention; r != nil && r.MinimumDays > 0 {
		return r.MinimumDays
	}
	return defaultRetentionDays
}

func hashFlag(ev *cybercoopv1alpha1.EvidenceVault) string {
	if ev.Spec.HashAlgorithm == cybercoopv1alpha1.HashSHA512 {
		return "sha512"
	}
	return "sha256"
}

func defaultVaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
}

// desiredStatefulSet runs `cybercoop vault` on one volume. It is a consumer of the
// FocalPoint's CA (internal/ca): its pods trust the bundle and serve a leaf of the
// CA, so every key replacement waits for its rollouts; the pod template carries the
// bundle hash (and, while the replacement waits for it, the serving leaf's
// fingerprint). One replica: the vault is the only writer of its data directory.
func desiredStatefulSet(ev *cybercoopv1alpha1.EvidenceVault, fp *cybercoopv1alpha1.FocalPoint, defaultImage string, podCertificates map[string]string) *appsv1.StatefulSet {
	image := ev.Spec.Image
	if image == "" {
		image = defaultImage
	}
	resources := defaultVaultResources()
	if ev.Spec.Resources != nil {
		resources = *ev.Spec.Resources
	}
	meta := objectMeta(ev, vaultName(ev))
	maps.Copy(meta.Labels, ca.ConsumerLabels(focalpoint.CARef(fp)))
	meta.Annotations = ca.ConsumerAnnotations(ServingSecretName(ev))
	operator := OperatorIdentity(ev.Namespace)
	args := []string{
		"vault",
		"--data-dir=" + dataDir,
		fmt.Sprintf("--listen=:%d", APIPort),
		fmt.Sprintf("--health-listen=:%d", HealthPort),
		"--tls-cert=" + tlsDir + "/tls.crt",
		"--tls-key=" + tlsDir + "/tls.key",
		"--client-ca=" + trustDir + "/ca.crt",
		"--keyring=" + keyringDir,
		"--signing-key=" + signingDir + "/" + signingFile,
		"--hash=" + hashFlag(ev),
		"--min-retention=" + strconv.Itoa(int(retentionDays(ev))*24) + "h",
		// The operator verifies the store and reads its inventory; nobody else gets
		// the privileged roles unless a person grants them.
		"--verifier=" + operator,
		"--lister=" + operator,
		// The FocalPoint's gateway records peers' requests with the peer as actor.
		"--relay=" + focalpoint.GatewayIdentity(ev.Namespace, ev.Spec.FocalPointRef.Name),
	}
	if ptr.Deref(ev.Spec.LegalHoldByDefault, false) {
		args = append(args, "--legal-hold-default")
	}
	volumes := []corev1.Volume{
		workload.SecretVolume("tls", ServingSecretName(ev)),
		workload.SecretVolume("trust-bundle", focalpoint.TrustBundleSecretName(fp)),
		workload.SecretVolume("keyring", KeyringSecretName(ev)),
		workload.SecretVolume("checkpoint-key", CheckpointKeySecretName(ev)),
	}
	mounts := []corev1.VolumeMount{
		{Name: "data", MountPath: dataDir},
		{Name: "tls", MountPath: tlsDir, ReadOnly: true},
		{Name: "trust-bundle", MountPath: trustDir, ReadOnly: true},
		{Name: "keyring", MountPath: keyringDir, ReadOnly: true},
		{Name: "checkpoint-key", MountPath: signingDir, ReadOnly: true},
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](1),
			ServiceName:         HeadlessServiceName(ev),
			Selector:            &metav1.LabelSelector{MatchLabels: selectorLabels(ev)},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
	if s3 := ev.Spec.Storage.S3; s3 != nil {
		// The evidence is in the bucket: an emptyDir for scratch, and the
		// credentials and CA bundle mounted.
		args = append(args, s3Args(s3)...)
		volumes, mounts = s3Volumes(ev, volumes, mounts)
	} else {
		claim := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: selectorLabels(ev)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: ev.Spec.Storage.Size}},
			},
		}
		if ev.Spec.Storage.StorageClassName != "" {
			claim.Spec.StorageClassName = ptr.To(ev.Spec.Storage.StorageClassName)
		}
		// The volume outlives the StatefulSet and the EvidenceVault: evidence is
		// deleted only through deletionPolicy Delete.
		sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claim}
	}
	sts.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: commonLabels(ev), Annotations: podCertificates},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              workload.RestrictedPod(vaultUID),
			Containers: []corev1.Container{{
				Name:  "vault",
				Image: image,
				Args:  args,
				Ports: []corev1.ContainerPort{
					{Name: "https", ContainerPort: APIPort, Protocol: corev1.ProtocolTCP},
					{Name: "health", ContainerPort: HealthPort, Protocol: corev1.ProtocolTCP},
				},
				Resources:       resources,
				LivenessProbe:   workload.HTTPProbe("/healthz", "health"),
				ReadinessProbe:  workload.HTTPProbe("/readyz", "health"),
				SecurityContext: workload.RestrictedContainer(),
				VolumeMounts:    mounts,
			}},
			Volumes: volumes,
		},
	}
	return sts
}

// statefulSetSpec compares the fields the operator sets; the claim templates,
// selector, service name and pod management policy cannot change after creation,
// so they are neither compared nor repaired (the volume grows through its claim).
var statefulSetSpec = apply.Spec[*appsv1.StatefulSet]{
	InSync: func(d, l *appsv1.StatefulSet) bool {
		return ca.TemplateCertificatesInSync(d.Spec.Template.Annotations, l.Spec.Template.Annotations) &&
			workload.PodTemplateInSync(d.Spec.Template, l.Spec.Template) &&
			equality.Semantic.DeepDerivative(d.Spec.Replicas, l.Spec.Replicas) &&
			equality.Semantic.DeepDerivative(d.Spec.PersistentVolumeClaimRetentionPolicy, l.Spec.PersistentVolumeClaimRetentionPolicy) &&
			equality.Semantic.DeepDerivative(d.Spec.UpdateStrategy, l.Spec.UpdateStrategy)
	},
	Repair: func(d, l *appsv1.StatefulSet) {
		l.Spec.Template = d.Spec.Template
		l.Spec.Replicas = d.Spec.Replicas
		l.Spec.PersistentVolumeClaimRetentionPolicy = d.Spec.PersistentVolumeClaimRetentionPolicy
		l.Spec.UpdateStrategy = d.Spec.UpdateStrategy
	},
}

// desiredServices are the StatefulSet's governing (headless) Service and the client Service.
func desiredServices(ev *cybercoopv1alpha1.EvidenceVault) []*corev1.Service {
	ports := []corev1.ServicePort{{Name: "https", Port: APIPort, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP}}
	headless := &corev1.Service{ObjectMeta: objectMeta(ev, HeadlessServiceName(ev)),
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: selectorLabels(ev), Ports: ports}}
	client := &corev1.Service{ObjectMeta: objectMeta(ev, vaultName(ev)),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selectorLabels(ev), Ports: ports}}
	return []*corev1.Service{headless, client}
}

var serviceSpec = apply.Spec[*corev1.Service]{
	InSync: func(d, l *corev1.Service) bool {
		return len(d.Spec.Ports) == len(l.Spec.Ports) && equality.Semantic.DeepEqual(d.Spec.Selector, l.Spec.Selector) &&
			equality.Semantic.DeepDerivative(d.Spec, l.Spec)
	},
	Repair: func(d, l *corev1.Service) { l.Spec.Selector, l.Spec.Ports = d.Spec.Selector, d.Spec.Ports },
}

// desiredNetworkPolicy admits to the vault's API only its FocalPoint's gateway pods
// and the operator's pods; the health port is open for probes and metrics (no
// evidence is reachable there); the vault itself reaches nothing but DNS.
func desiredNetworkPolicy(ev *cybercoopv1alpha1.EvidenceVault) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(p))}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(ev, vaultName(ev)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(ev)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					Ports: []networkingv1.NetworkPolicyPort{port(APIPort, tcp)},
					From: []networkingv1.NetworkPolicyPeer{
						{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
							"app.kubernetes.io/name": "cybercoop-gateway", "app.kubernetes.io/instance": ev.Spec.FocalPointRef.Name}}},
						{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
							"app.kubernetes.io/name": "cybercoop-operator"}}},
					},
				},
				{Ports: []networkingv1.NetworkPolicyPort{port(HealthPort, tcp)}},
			},
			Egress: vaultEgress(ev, port(53, udp), port(53, tcp)),
		},
	}
}

// vaultEgress is DNS, and with storage.s3 the store's port (to any address: the
// store's are not known in advance).
func vaultEgress(ev *cybercoopv1alpha1.EvidenceVault, dns ...networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyEgressRule {
	rules := []networkingv1.NetworkPolicyEgressRule{{Ports: dns}}
	for _, p := range s3Egress(ev) {
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(p)}}})
	}
	return rules
}

var networkPolicySpec = apply.Spec[*networkingv1.NetworkPolicy]{
	InSync: func(d, l *networkingv1.NetworkPolicy) bool { return equality.Semantic.DeepEqual(d.Spec, l.Spec) },
	Repair: func(d, l *networkingv1.NetworkPolicy) { l.Spec = d.Spec },
}

// desiredPodDisruptionBudget lets a node drain evict the vault (one replica, so the
// budget cannot keep it up through a drain) while refusing any second voluntary
// disruption at the same time; the vault resumes from its volume.
func desiredPodDisruptionBudget(ev *cybercoopv1alpha1.EvidenceVault) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(ev, vaultName(ev)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(ev)},
		},
	}
}

var podDisruptionBudgetSpec = apply.Spec[*policyv1.PodDisruptionBudget]{
	InSync: func(d, l *policyv1.PodDisruptionBudget) bool {
		return l.Spec.MinAvailable == nil && equality.Semantic.DeepEqual(d.Spec, l.Spec)
	},
	Repair: func(d, l *policyv1.PodDisruptionBudget) { l.Spec = d.Spec },
}

func (r *Reconciler) reconcileNetworkPolicy(ctx context.Context, s *scope) error {
	_, err := apply.Apply(ctx, s.children, desiredNetworkPolicy(s.ev), networkPolicySpec, "")
	return s.Provisioned(err)
}

func (r *Reconciler) reconcileServices(ctx context.Context, s *scope) error {
	for _, svc := range desiredServices(s.ev) {
		if _, err := apply.Apply(ctx, s.children, svc, serviceSpec, ""); err != nil {
			return s.Provisioned(err)
		}
	}
	return nil
}

// reconcileStatefulSet runs the vault once everything it mounts exists: its
// FocalPoint's trust bundle, its serving certificate, the keyring and the
// checkpoint key. A keyring found missing a version is not mounted anew: the
// vault keeps running on the keyring it loaded.
func (r *Reconciler) reconcileStatefulSet(ctx context.Context, s *scope) error {
	if s.fp == nil || s.ca == nil || !s.ca.HasBundle() || s.servedCertificate() == nil || s.keyring.active == 0 || s.verifierKey == "" {
		return nil // the phase that is missing reports why
	}
	desired := desiredStatefulSet(s.ev, s.fp, r.VaultImage, s.podCertificates)
	live := &appsv1.StatefulSet{}
	planned := ""
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), live); err == nil {
		planned = ca.PlannedRollout(s.podCertificates, live.Spec.Template.Annotations, "vault")
	}
	_, err := apply.Apply(ctx, s.children, desired, statefulSetSpec, planned)
	return s.Provisioned(err)
}

func (r *Reconciler) reconcileDisruptionBudget(ctx context.Context, s *scope) error {
	_, err := apply.Apply(ctx, s.children, desiredPodDisruptionBudget(s.ev), podDisruptionBudgetSpec, "")
	return s.Provisioned(err)
}

// reconcileStorage reads the vault's volume claim and grows it when spec.storage.size
// grew (the claim template of a StatefulSet cannot change; the claim can, if its
// storage class allows expansion). A claim is never shrunk.
func (r *Reconciler) reconcileStorage(ctx context.Context, s *scope) error {
	if s.ev.Spec.Storage.S3 != nil {
		return r.checkS3Credentials(ctx, s)
	}
	claim := &corev1.PersistentVolumeClaim{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.ev.Namespace, Name: ClaimName(s.ev)}, claim)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading volume claim %s: %w", ClaimName(s.ev), err)
	}
	s.claim = claim
	want := s.ev.Spec.Storage.Size
	have := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return nil
	}
	grown := claim.DeepCopy()
	grown.Spec.Resources.Requests[corev1.ResourceStorage] = want
	if err := r.Update(ctx, grown); err != nil {
		return s.Provisioned(fmt.Errorf("growing volume claim %s from %s to %s (its storage class must allow volume expansion): %w",
			claim.Name, have.String(), want.String(), err))
	}
	s.children.Record(ctx, "PersistentVolumeClaim", claim.Name, apply.Updated, fmt.Sprintf("spec.storage.size grew from %s to %s", have.String(), want.String()))
	s.claim = grown
	return nil
}
