package focalpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/workload"
)

const (
	gatewayUID = 65532

	// ConfigHashAnnotation on the gateway pod template rolls the pods when the
	// gateway's configuration changes.
	ConfigHashAnnotation = "cybercoop.io/config-hash"
)

// gatewayName is the name shared by a FocalPoint's gateway children.
func gatewayName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-gateway" }

// selectorLabels select a FocalPoint's gateway pods; they never change after creation
// because a Deployment's selector is immutable.
func selectorLabels(fp *cybercoopv1alpha1.FocalPoint) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "cybercoop-gateway",
		"app.kubernetes.io/instance": fp.Name,
	}
}

func commonLabels(fp *cybercoopv1alpha1.FocalPoint) map[string]string {
	l := selectorLabels(fp)
	l["app.kubernetes.io/component"] = "gateway"
	l["app.kubernetes.io/part-of"] = "cybercoop"
	l[apply.ManagedLabel] = apply.ManagedValue
	l["cybercoop.io/country"] = string(fp.Spec.Country)
	return l
}

func objectMeta(fp *cybercoopv1alpha1.FocalPoint) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: gatewayName(fp), Namespace: fp.Namespace, Labels: commonLabels(fp)}
}

func desiredConfigMap(fp *cybercoopv1alpha1.FocalPoint, vault *gateway.VaultEndpoint) (*corev1.ConfigMap, error) {
	cfg := gateway.Config{
		Country:          string(fp.Spec.Country),
		Authority:        fp.Spec.Authority,
		Languages:        fp.Spec.Languages,
		Services:         fp.Spec.Services,
		Contacts:         fp.Spec.Contacts,
		Roster:           fp.Spec.Roster,
		Vault:            vault,
		OfficerIdentity:  OfficerIdentity(fp.Namespace, fp.Name),
		OperatorIdentity: OperatorIdentity(fp.Namespace, fp.Name),
	}
	if sp := fp.Spec.ServiceProvider; sp != nil {
		cfg.Provider = &gateway.Provider{ID: string(sp.ID), Name: sp.Name}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding gateway configuration: %w", err)
	}
	return &corev1.ConfigMap{ObjectMeta: objectMeta(fp), Data: map[string]string{gateway.ConfigFile: string(data)}}, nil
}

var configMapSpec = apply.Spec[*corev1.ConfigMap]{
	InSync: func(d, l *corev1.ConfigMap) bool {
		return equality.Semantic.DeepEqual(d.Data, l.Data) && len(l.BinaryData) == 0
	},
	Repair: func(d, l *corev1.ConfigMap) { l.Data = d.Data; l.BinaryData = nil },
}

func desiredServiceAccount(fp *cybercoopv1alpha1.FocalPoint) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: objectMeta(fp), AutomountServiceAccountToken: ptr.To(false)}
}

var serviceAccountSpec = apply.Spec[*corev1.ServiceAccount]{
	InSync: func(d, l *corev1.ServiceAccount) bool {
		return ptr.Equal(d.AutomountServiceAccountToken, l.AutomountServiceAccountToken)
	},
	Repair: func(d, l *corev1.ServiceAccount) { l.AutomountServiceAccountToken = d.AutomountServiceAccountToken },
}

func configHash(cm *corev1.ConfigMap) string {
	sum := sha256.Sum256([]byte(cm.Data[gateway.ConfigFile]))
	return hex.EncodeToString(sum[:8])
}

func defaultGatewayResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

// desiredDeployment is the gateway Deployment. The certificate state goes into the pod
// template: pods roll only when the trust bundle changes (a CA renewal or a key
// replacement phase) and when a key replacement needs every pod to present the leaf
// re-issued from the new CA, never for an ordinary leaf renewal.
//
// The Deployment is a consumer of the FocalPoint's CA (internal/ca): it trusts the
// bundle and serves the gateway's leaf, so a key replacement waits for its rollouts.
// podCertificates are the pod template's certificate annotations
// (ca.ConsumerTemplateAnnotations); nil leaves the live ones as they are.
func desiredDeployment(fp *cybercoopv1alpha1.FocalPoint, cm *corev1.ConfigMap, defaultImage string, podCertificates map[string]string, channelShards int) *appsv1.Deployment {
	image := fp.Spec.Gateway.Image
	if image == "" {
		image = defaultImage
	}
	resources := defaultGatewayResources()
	if fp.Spec.Gateway.Resources != nil {
		resources = *fp.Spec.Gateway.Resources
	}
	podLabels := commonLabels(fp)
	podAnnotations := map[string]string{ConfigHashAnnotation: configHash(cm)}
	maps.Copy(podAnnotations, podCertificates)
	meta := objectMeta(fp)
	maps.Copy(meta.Labels, ca.ConsumerLabels(CARef(fp)))
	meta.Annotations = ca.ConsumerAnnotations(GatewayTLSSecretName(fp))
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas(fp)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(fp)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				// Never go below the desired count during a rollout: the point of
				// contact must stay reachable.
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: podAnnotations,
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           gatewayName(fp),
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              workload.RestrictedPod(gatewayUID),
					// Spread replicas over nodes so one node failure leaves the point of contact up.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels(fp)},
					}},
					Containers: []corev1.Container{{
						Name:  "gateway",
						Image: image,
						Args: []string{
							"gateway",
							"--config=" + gateway.ConfigPath,
							"--tls-dir=" + gateway.TLSDir,
							"--trust-dir=" + gateway.TrustDir,
							"--channels-dir=" + gateway.ChannelsDir,
							"--vault-client-dir=" + gateway.VaultClientDir,
							fmt.Sprintf("--listen=:%d", gateway.HTTPSPort),
							fmt.Sprintf("--health-addr=:%d", gateway.HealthPort),
						},
						Ports: []corev1.ContainerPort{
							{Name: "https", ContainerPort: gateway.HTTPSPort, Protocol: corev1.ProtocolTCP},
							{Name: "health", ContainerPort: gateway.HealthPort, Protocol: corev1.ProtocolTCP},
						},
						Resources:       resources,
						LivenessProbe:   workload.HTTPProbe("/healthz", "health"),
						ReadinessProbe:  workload.HTTPProbe("/readyz", "health"),
						SecurityContext: workload.RestrictedContainer(),
						VolumeMounts: []corev1.VolumeMount{
							{Name: "config", MountPath: gateway.ConfigDir, ReadOnly: true},
							{Name: "tls", MountPath: gateway.TLSDir, ReadOnly: true},
							{Name: "trust-bundle", MountPath: gateway.TrustDir, ReadOnly: true},
							// Channels and the vault client certificate change without a
							// rollout: the gateway reloads the files.
							{Name: "channels", MountPath: gateway.ChannelsDir, ReadOnly: true},
							{Name: "vault-client", MountPath: gateway.VaultClientDir, ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{
						{
							Name: "config",
							VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
								LocalObjectReference: corev1.LocalObjectReference{Name: gatewayName(fp)},
							}},
						},
						workload.SecretVolume("tls", GatewayTLSSecretName(fp)),
						workload.SecretVolume("trust-bundle", TrustBundleSecretName(fp)),
						channelsVolume(fp, channelShards),
						workload.SecretVolume("vault-client", GatewayClientSecretName(fp)),
					},
				},
			},
		},
	}
}

// deploymentSpec compares with DeepDerivative: fields the operator leaves unset are
// defaulted by the API server and are not drift. Container and volume lists must
// also have the same length, so an injected extra container is removed. The serving
// certificate annotation is compared exactly whenever the certificate state is known
// (the template names a trust bundle), so it is removed when a key replacement ends.
var deploymentSpec = apply.Spec[*appsv1.Deployment]{
	InSync: func(d, l *appsv1.Deployment) bool {
		return ca.TemplateCertificatesInSync(d.Spec.Template.Annotations, l.Spec.Template.Annotations) &&
			channelsVolumeInSync(d.Spec.Template.Spec.Volumes, l.Spec.Template.Spec.Volumes) &&
			workload.PodTemplateInSync(d.Spec.Template, l.Spec.Template) && equality.Semantic.DeepDerivative(d.Spec, l.Spec)
	},
	Repair: func(d, l *appsv1.Deployment) { l.Spec = d.Spec },
}

func replicas(fp *cybercoopv1alpha1.FocalPoint) int32 {
	return ptr.Deref(fp.Spec.Gateway.Replicas, 2)
}

func desiredService(fp *cybercoopv1alpha1.FocalPoint) *corev1.Service {
	st := corev1.ServiceTypeClusterIP
	if fp.Spec.Gateway.ServiceType != "" {
		st = corev1.ServiceType(fp.Spec.Gateway.ServiceType)
	}
	return &corev1.Service{
		ObjectMeta: objectMeta(fp),
		Spec: corev1.ServiceSpec{
			Type:     st,
			Selector: selectorLabels(fp),
			Ports: []corev1.ServicePort{{
				Name: "https", Port: gateway.ServicePort, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

var serviceSpec = apply.Spec[*corev1.Service]{
	InSync: func(d, l *corev1.Service) bool {
		return len(d.Spec.Ports) == len(l.Spec.Ports) && equality.Semantic.DeepEqual(d.Spec.Selector, l.Spec.Selector) &&
			equality.Semantic.DeepDerivative(d.Spec, l.Spec)
	},
	// Allocated values (cluster IPs, node ports) are kept by the API server when unset.
	Repair: func(d, l *corev1.Service) {
		l.Spec.Type = d.Spec.Type
		l.Spec.Selector = d.Spec.Selector
		l.Spec.Ports = d.Spec.Ports
		if d.Spec.Type == corev1.ServiceTypeClusterIP {
			l.Spec.ExternalTrafficPolicy = ""
			l.Spec.AllocateLoadBalancerNodePorts = nil
		}
	},
}

func desiredPodDisruptionBudget(fp *cybercoopv1alpha1.FocalPoint) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(fp),
		Spec: policyv1.PodDisruptionBudgetSpec{
			// At most one gateway pod may be evicted at a time.
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(fp)},
		},
	}
}

var podDisruptionBudgetSpec = apply.Spec[*policyv1.PodDisruptionBudget]{
	InSync: func(d, l *policyv1.PodDisruptionBudget) bool {
		return l.Spec.MinAvailable == nil && equality.Semantic.DeepEqual(d.Spec, l.Spec)
	},
	Repair: func(d, l *policyv1.PodDisruptionBudget) { l.Spec = d.Spec },
}

// desiredNetworkPolicy admits peers and officers to the API and lets the gateway
// reach DNS, its evidence vault and each channel's peer: by address when the
// endpoint names an IP, else by port only (a NetworkPolicy cannot name a host).
func desiredNetworkPolicy(fp *cybercoopv1alpha1.FocalPoint, channels []gateway.Channel) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(p))}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(fp),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(fp)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			// Peers and officers reach the mTLS API from anywhere; the API itself
			// authenticates them. Nothing else is reachable.
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{port(gateway.HTTPSPort, tcp)},
			}},
			Egress: egressRules(port, channels, tcp, udp),
		},
	}
}

func egressRules(port func(int32, corev1.Protocol) networkingv1.NetworkPolicyPort, channels []gateway.Channel, tcp, udp corev1.Protocol) []networkingv1.NetworkPolicyEgressRule {
	rules := []networkingv1.NetworkPolicyEgressRule{
		{Ports: []networkingv1.NetworkPolicyPort{port(53, udp), port(53, tcp)}},
		// The evidence vault's API, only to the vault pods of the namespace.
		{
			To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "cybercoop-vault"}}}},
			Ports: []networkingv1.NetworkPolicyPort{port(8443, tcp)},
		},
	}
	seen := map[string]bool{}
	for _, ch := range channels {
		host, p := peerPort(ch.Endpoint)
		rule := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{port(p, tcp)}}
		key := fmt.Sprint(p)
		if isIP(host) {
			bits := "/32"
			if strings.Contains(host, ":") {
				bits = "/128"
			}
			rule.To = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: host + bits}}}
			key = host + key
		}
		if !seen[key] {
			seen[key] = true
			rules = append(rules, rule)
		}
	}
	return rules
}

var networkPolicySpec = apply.Spec[*networkingv1.NetworkPolicy]{
	InSync: func(d, l *networkingv1.NetworkPolicy) bool { return equality.Semantic.DeepEqual(d.Spec, l.Spec) },
	Repair: func(d, l *networkingv1.NetworkPolicy) { l.Spec = d.Spec },
}

// The child phases. Each records its error for the Ready condition; the gateway
// Deployment is left alone when its configuration could not be applied.

func (r *Reconciler) reconcileNetworkPolicy(ctx context.Context, s *scope) error {
	if !s.channelsKnown {
		return nil // the channels Secrets could not be read: that error is reported, and egress stays as it is
	}
	desired := desiredNetworkPolicy(s.fp, s.channels)
	_, err := apply.Apply(ctx, s.children, desired, networkPolicySpec, r.plannedEgress(ctx, s, desired))
	return s.Provisioned(err)
}

func (r *Reconciler) reconcileConfiguration(ctx context.Context, s *scope) error {
	vault, err := r.vaultEndpoint(ctx, s.fp)
	if err != nil {
		s.configured = false
		return s.Provisioned(err)
	}
	s.vault = vault
	cm, err := desiredConfigMap(s.fp, vault)
	if err == nil {
		_, err = apply.Apply(ctx, s.children, cm, configMapSpec, r.plannedConfig(ctx, cm))
	}
	if err == nil {
		_, err = apply.Apply(ctx, s.children, desiredServiceAccount(s.fp), serviceAccountSpec, "")
	}
	s.configured = err == nil
	return s.Provisioned(err)
}

func (r *Reconciler) reconcileGateway(ctx context.Context, s *scope) error {
	if !s.configured {
		return nil // the configuration phase's error is reported already
	}
	if s.channelShards == 0 {
		return nil // the channels Secrets, which the pods mount, could not be read: that error is reported
	}
	cm, err := desiredConfigMap(s.fp, s.vault)
	if err != nil {
		return s.Provisioned(err)
	}
	desired := desiredDeployment(s.fp, cm, r.GatewayImage, s.podCertificates, s.channelShards)
	live := &appsv1.Deployment{}
	planned := ""
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), live); err == nil {
		planned = ca.PlannedRollout(s.podCertificates, live.Spec.Template.Annotations, "gateway")
		if planned == "" && live.Spec.Template.Annotations[ConfigHashAnnotation] != desired.Spec.Template.Annotations[ConfigHashAnnotation] {
			// The configuration follows the EvidenceVault too, not only the spec.
			planned = "the gateway's configuration changed; the pods roll to load it"
		}
		if was := mountedShards(live); planned == "" && was != 0 && was != s.channelShards {
			planned = fmt.Sprintf("the gateway's channels take %d Secret(s), not %d; the pods roll to mount them", s.channelShards, was)
		}
	}
	s.deployment, err = apply.Apply(ctx, s.children, desired, deploymentSpec, planned)
	return s.Provisioned(err)
}

func (r *Reconciler) reconcileService(ctx context.Context, s *scope) error {
	_, err := apply.Apply(ctx, s.children, desiredService(s.fp), serviceSpec, "")
	return s.Provisioned(err)
}

// reconcileDisruptionBudget: one replica cannot tolerate any disruption, so a budget
// would only block node drains.
func (r *Reconciler) reconcileDisruptionBudget(ctx context.Context, s *scope) error {
	if replicas(s.fp) < 2 {
		return s.Provisioned(s.children.Absent(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta(s.fp)}))
	}
	_, err := apply.Apply(ctx, s.children, desiredPodDisruptionBudget(s.fp), podDisruptionBudgetSpec, "")
	return s.Provisioned(err)
}
