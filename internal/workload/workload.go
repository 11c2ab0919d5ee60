// Package workload holds the pod settings every workload the operator runs shares:
// the restricted Pod Security profile, probes and Secret volumes.
package workload

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// RestrictedPod is the pod security context of the restricted Pod Security profile,
// running as uid.
func RestrictedPod(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(uid),
		RunAsGroup:     ptr.To(uid),
		FSGroup:        ptr.To(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// RestrictedContainer is the container security context of the restricted profile,
// with a read-only root file system.
func RestrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// HTTPProbe probes path on the named container port over plain HTTP. Numbers are
// compared exactly in drift detection (only unset pointers, strings and collections
// count as "left to the defaults"), so every numeric field the API server would
// default is set here.
func HTTPProbe(path, port string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString(port), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    10,
		TimeoutSeconds:   2,
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
}

// SecretVolume mounts Secret secret as volume name.
func SecretVolume(name, secret string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}
}

// PodTemplateInSync reports whether a live pod template carries what the desired
// one sets: the same number of containers, init containers and volumes (an
// injected container or volume is drift), no host namespaces, and every field the
// desired template sets (fields it leaves unset are the API server's defaults).
func PodTemplateInSync(desired, live corev1.PodTemplateSpec) bool {
	d, l := desired.Spec, live.Spec
	return len(d.Containers) == len(l.Containers) && len(d.InitContainers) == len(l.InitContainers) &&
		len(d.Volumes) == len(l.Volumes) && !l.HostNetwork && !l.HostPID && !l.HostIPC &&
		equality.Semantic.DeepDerivative(desired, live)
}
