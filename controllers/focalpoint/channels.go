package focalpoint

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// The gateway's own client certificates, issued with its serving certificate.
const (
	// roleGatewayClient is the gateway's client certificate for its evidence vault.
	roleGatewayClient = metrics.RoleGatewayClient
	// roleOfficer is the local desk's credential for the gateway's outbound API.
	roleOfficer = metrics.RoleOfficer
)

// GatewayClientSecretName is the gateway's client certificate for the evidence vault
// (kubernetes.io/tls), mounted at gateway.VaultClientDir.
func GatewayClientSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return gatewayName(fp) + "-client" }

// OfficerSecretName is the local officers' credential: a client certificate from the
// national CA carrying OfficerIdentity, which the gateway's outbound API admits. The
// platform team hands it to the 24/7 desk; it is renewed like every leaf.
func OfficerSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-officer" }

// ChannelsSecretName is the gateway's channels, aggregated from every
// CooperationChannel of the FocalPoint, mounted at gateway.ChannelsDir.
func ChannelsSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return gatewayName(fp) + "-channels" }

// GatewayIdentity is the URI SAN of the gateway's vault client certificate; the
// EvidenceVault grants it the relay role, so a peer's request is recorded with the
// peer as actor.
func GatewayIdentity(namespace, focalPoint string) string {
	return "spiffe://cybercoop.io/ns/" + namespace + "/focalpoint/" + focalPoint + "/gateway"
}

// OfficerIdentity is the URI SAN that marks a local officer's certificate.
func OfficerIdentity(namespace, focalPoint string) string {
	return "spiffe://cybercoop.io/ns/" + namespace + "/focalpoint/" + focalPoint + "/officer"
}

// clientLeaves are the gateway's vault client certificate and the officers' credential.
func clientLeaves(fp *cybercoopv1alpha1.FocalPoint) []certs.Leaf {
	leaf := func(secret, role, cn, uri string) certs.Leaf {
		spec := pki.LeafSpec{CommonName: truncateUTF8(cn, 64), URIs: []string{uri}, Usages: []pki.Usage{pki.UsageClient}}
		if c := fp.Spec.Certificates; c != nil {
			spec.KeyAlgorithm = pki.KeyAlgorithm(c.KeyAlgorithm)
			spec = certs.WithLifetime(spec, c.LeafCertificateSpec)
		}
		return certs.Leaf{SecretName: secret, Role: role, Spec: spec,
			ForceRenewToken: fp.Annotations[cybercoopv1alpha1.ForceRenewAnnotation], Labels: commonLabels(fp)}
	}
	return []certs.Leaf{
		leaf(GatewayClientSecretName(fp), roleGatewayClient, gatewayName(fp)+" vault client", GatewayIdentity(fp.Namespace, fp.Name)),
		leaf(OfficerSecretName(fp), roleOfficer, string(fp.Spec.Country)+" duty officer", OfficerIdentity(fp.Namespace, fp.Name)),
	}
}

// vaultEndpoint is the gateway's evidence vault: the first EvidenceVault (by name)
// serving the FocalPoint that reports its endpoint; nil when there is none.
func (r *Reconciler) vaultEndpoint(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) (*gateway.VaultEndpoint, error) {
	var list cybercoopv1alpha1.EvidenceVaultList
	if err := r.List(ctx, &list, client.InNamespace(fp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing EvidenceVaults: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b cybercoopv1alpha1.EvidenceVault) int { return strings.Compare(a.Name, b.Name) })
	for _, ev := range list.Items {
		if ev.Spec.FocalPointRef.Name != fp.Name || ev.Status.Endpoint == "" || ev.DeletionTimestamp != nil {
			continue
		}
		u, err := url.Parse(ev.Status.Endpoint)
		if err != nil || u.Hostname() == "" {
			continue
		}
		return &gateway.VaultEndpoint{URL: ev.Status.Endpoint, ServerName: u.Hostname()}, nil
	}
	return nil, nil
}

// channelsOf lists the FocalPoint's CooperationChannels, by name.
func (r *Reconciler) channelsOf(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) ([]cybercoopv1alpha1.CooperationChannel, error) {
	var list cybercoopv1alpha1.CooperationChannelList
	if err := r.List(ctx, &list, client.InNamespace(fp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing CooperationChannels: %w", err)
	}
	out := list.Items[:0]
	for _, cc := range list.Items {
		if cc.Spec.FocalPointRef.Name == fp.Name && cc.DeletionTimestamp == nil {
			out = append(out, cc)
		}
	}
	slices.SortFunc(out, func(a, b cybercoopv1alpha1.CooperationChannel) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// desiredChannels is the channels Secret: channels.json and, per channel whose
// client certificate and peer trust are ready, its three files. A channel not ready
// yet is left out (its own status says why); the others are not held back by it.
func (r *Reconciler) desiredChannels(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, channels []cybercoopv1alpha1.CooperationChannel) (*corev1.Secret, []gateway.Channel, error) {
	data := map[string][]byte{}
	var list gateway.Channels
	for _, cc := range channels {
		leaf := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: gateway.ChannelClientSecretName(cc.Name)}, leaf)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the client certificate of channel %s: %w", cc.Name, err)
		}
		if _, err := tls.X509KeyPair(leaf.Data[pki.TLSCertKey], leaf.Data[pki.TLSPrivateKeyKey]); err != nil {
			continue // being issued or repaired by the channel's reconciler
		}
		trust := &corev1.ConfigMap{}
		err = r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: gateway.ChannelTrustConfigMapName(cc.Name)}, trust)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the peer trust of channel %s: %w", cc.Name, err)
		}
		if cas, err := pki.ParseCertificatesPEM([]byte(trust.Data[gateway.TrustKey])); err != nil || len(cas) == 0 {
			continue
		}
		ch := gateway.Channel{
			Name: cc.Name, Country: string(cc.Spec.Peer.Country), Endpoint: cc.Spec.Peer.Endpoint,
			ServerName: peerServerName(cc), LegalBasis: cc.Spec.DataProtection.LegalBasis,
			OnwardTransfer: string(cc.Spec.DataProtection.OnwardTransfer), RetentionDays: cc.Spec.DataProtection.RetentionDays,
			Suspended: ptr.Deref(cc.Spec.Suspend, false),
		}
		for _, t := range cc.Spec.RequestTypes {
			ch.RequestTypes = append(ch.RequestTypes, string(t))
		}
		for _, l := range cc.Spec.Languages {
			ch.Languages = append(ch.Languages, string(l))
		}
		data[ch.ClientCertFile()] = leaf.Data[pki.TLSCertKey]
		data[ch.ClientKeyFile()] = leaf.Data[pki.TLSPrivateKeyKey]
		data[ch.TrustFile()] = []byte(trust.Data[gateway.TrustKey])
		list.Channels = append(list.Channels, ch)
	}
	if list.Channels == nil {
		list.Channels = []gateway.Channel{}
	}
	body, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the channels file: %w", err)
	}
	data[gateway.ChannelsFile] = body
	meta := objectMeta(fp)
	meta.Name = ChannelsSecretName(fp)
	return &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: data}, list.Channels, nil
}

// peerServerName is spec.peer.serverName, defaulting to the endpoint's host.
func peerServerName(cc cybercoopv1alpha1.CooperationChannel) string {
	if cc.Spec.Peer.ServerName != "" {
		return cc.Spec.Peer.ServerName
	}
	if u, err := url.Parse(cc.Spec.Peer.Endpoint); err == nil {
		return u.Hostname()
	}
	return ""
}

// peerPort is the TCP port of a channel's endpoint.
func peerPort(endpoint string) (host string, port int32) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", 443
	}
	port = 443
	if p, err := strconv.Atoi(u.Port()); err == nil && p > 0 && p < 65536 {
		port = int32(p)
	}
	return u.Hostname(), port
}

// isIP reports whether host is an IP literal, which a NetworkPolicy can name.
func isIP(host string) bool { return net.ParseIP(host) != nil }

var channelsSecretSpec = apply.Spec[*corev1.Secret]{
	InSync: func(d, l *corev1.Secret) bool {
		return l.Type == d.Type && equality.Semantic.DeepEqual(d.Data, l.Data) && len(l.StringData) == 0
	},
	Repair: func(d, l *corev1.Secret) { l.Data = d.Data; l.StringData = nil },
	// A Secret's type is immutable.
	Recreate: func(d, l *corev1.Secret) bool { return l.Type != d.Type },
}

// reconcileChannels writes the channels Secret the gateway reloads: one write for
// any number of channel changes, and no pod rollout.
func (r *Reconciler) reconcileChannels(ctx context.Context, s *scope) error {
	channels, err := r.channelsOf(ctx, s.fp)
	if err != nil {
		return s.Provisioned(err)
	}
	desired, loaded, err := r.desiredChannels(ctx, s.fp, channels)
	if err != nil {
		return s.Provisioned(err)
	}
	s.channels = loaded
	_, err = apply.Apply(ctx, s.children, desired, channelsSecretSpec, "")
	return s.Provisioned(err)
}

// focalPointOfChannel maps a CooperationChannel to the FocalPoint it names.
func focalPointOfChannel(_ context.Context, o client.Object) []reconcile.Request {
	cc, ok := o.(*cybercoopv1alpha1.CooperationChannel)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: cc.Namespace, Name: cc.Spec.FocalPointRef.Name}}}
}

// focalPointOfVault maps an EvidenceVault to the FocalPoint it serves.
func focalPointOfVault(_ context.Context, o client.Object) []reconcile.Request {
	ev, ok := o.(*cybercoopv1alpha1.EvidenceVault)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ev.Namespace, Name: ev.Spec.FocalPointRef.Name}}}
}

// focalPointOfLabel maps a channel's client Secret or trust ConfigMap to the
// FocalPoint its label names.
func focalPointOfLabel(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[gateway.FocalPointLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// vaultEndpointChanged passes an EvidenceVault event only when what the gateway's
// configuration takes from it may have changed: its existence, its FocalPoint, its
// endpoint. Its counts and checkpoints change all the time and matter not here.
var vaultEndpointChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*cybercoopv1alpha1.EvidenceVault)
		n, ok2 := e.ObjectNew.(*cybercoopv1alpha1.EvidenceVault)
		return !ok1 || !ok2 || o.Status.Endpoint != n.Status.Endpoint ||
			o.Spec.FocalPointRef != n.Spec.FocalPointRef || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil)
	},
}
