package focalpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// The gateway's own client certificates, issued with its serving certificate.
const (
	// roleGatewayClient is the gateway's client certificate for its evidence vault.
	roleGatewayClient = metrics.RoleGatewayClient
	// roleOfficer is the local desk's credential for the gateway's outbound API.
	roleOfficer = metrics.RoleOfficer
	// roleOperatorClient is the operator's credential for the gateway's cases summary.
	roleOperatorClient = metrics.RoleOperatorClient
)

// GatewayClientSecretName is the gateway's client certificate for the evidence vault
// (kubernetes.io/tls), mounted at gateway.VaultClientDir.
func GatewayClientSecretName(fp *cybercoopv1alpha1.FocalPoint) string {
	return gatewayName(fp) + "-client"
}

// OfficerSecretName is the local officers' credential: a client certificate from the
// national CA carrying OfficerIdentity, which the gateway's outbound API admits. The
// platform team hands it to the 24/7 desk; it is renewed like every leaf.
func OfficerSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-officer" }

// OperatorClientSecretName is the operator's credential for its gateway's cases
// summary: a client certificate from the national CA carrying OperatorIdentity.
func OperatorClientSecretName(fp *cybercoopv1alpha1.FocalPoint) string {
	return gatewayName(fp) + "-operator-client"
}

// ChannelsSecretName is the gateway's channels, aggregated from every
// CooperationChannel of the FocalPoint, mounted at gateway.ChannelsDir.
func ChannelsSecretName(fp *cybercoopv1alpha1.FocalPoint) string {
	return gatewayName(fp) + "-channels"
}

// GatewayIdentity is the URI SAN of the gateway's vault client certificate; the
// EvidenceVault grants it the relay role, so a peer's request is recorded with the
// peer as actor.
func GatewayIdentity(namespace, focalPoint string) string {
	return "spiffe://cybercoop.io/ns/" + namespace + "/focalpoint/" + focalPoint + "/gateway"
}

// OperatorIdentity is the URI SAN that marks the operator's certificate at the gateway.
func OperatorIdentity(namespace, focalPoint string) string {
	return "spiffe://cybercoop.io/ns/" + namespace + "/focalpoint/" + focalPoint + "/operator"
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
		leaf(OperatorClientSecretName(fp), roleOperatorClient, gatewayName(fp)+" operator", OperatorIdentity(fp.Namespace, fp.Name)),
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

// jointInvestigationsOf are the FocalPoint's JointInvestigations as its gateway
// needs them, by case id.
func (r *Reconciler) jointInvestigationsOf(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) ([]gateway.JointInvestigation, error) {
	var list cybercoopv1alpha1.JointInvestigationList
	if err := r.List(ctx, &list, client.InNamespace(fp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing JointInvestigations: %w", err)
	}
	var out []gateway.JointInvestigation
	if fp.Spec.ServiceProvider != nil {
		return out, nil // a provider's endpoint is no party to a joint investigation
	}
	for _, ji := range list.Items {
		if ji.Spec.FocalPointRef.Name != fp.Name || ji.DeletionTimestamp != nil || ji.Spec.EndDate == nil {
			continue
		}
		g := gateway.JointInvestigation{CaseID: ji.Spec.CaseID, Agreement: ji.Spec.Agreement, EndDate: ji.Spec.EndDate.UTC()}
		for _, p := range ji.Spec.Parties {
			g.Parties = append(g.Parties, p.Channel)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b gateway.JointInvestigation) int { return strings.Compare(a.CaseID, b.CaseID) })
	return out, nil
}

// focalPointOfJoint maps a JointInvestigation to its FocalPoint.
func focalPointOfJoint(_ context.Context, o client.Object) []reconcile.Request {
	ji, ok := o.(*cybercoopv1alpha1.JointInvestigation)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ji.Namespace, Name: ji.Spec.FocalPointRef.Name}}}
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

// desiredChannels are the channels Secrets (shards.go): channels.json and, per
// channel whose client certificate and peer trust are ready, its three files, in as
// many Secrets as they need; placed says which live Secret holds each channel's. A
// channel not ready yet is left out (its own status says why); the others are not
// held back by it.
func (r *Reconciler) desiredChannels(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, channels []cybercoopv1alpha1.CooperationChannel,
	placed map[string]int) ([]*corev1.Secret, []gateway.Channel, error) {
	var files []channelFiles
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
		trust, err := r.peerTrust(ctx, &cc, leaf)
		if err != nil {
			return nil, nil, err
		}
		if cas, err := pki.ParseCertificatesPEM(trust); err != nil || len(cas) == 0 {
			continue
		}
		if fp.Spec.ServiceProvider != nil && cc.Spec.Peer.Provider != "" {
			continue // a provider answers authorities, not other providers: the channel reports it
		}
		ch := gateway.Channel{
			Name: cc.Name, Country: string(cc.Spec.Peer.Country), Provider: string(cc.Spec.Peer.Provider), Endpoint: cc.Spec.Peer.Endpoint,
			ServerName: peerServerName(cc), LegalBasis: cc.Spec.DataProtection.LegalBasis,
			OnwardTransfer: string(cc.Spec.DataProtection.OnwardTransfer), RetentionDays: cc.Spec.DataProtection.RetentionDays,
			Suspended:  ptr.Deref(cc.Spec.Suspend, false),
			ClientURIs: cc.Spec.Peer.ClientURIs,
		}
		for _, t := range cc.Spec.RequestTypes {
			ch.RequestTypes = append(ch.RequestTypes, string(t))
		}
		for _, l := range cc.Spec.Languages {
			ch.Languages = append(ch.Languages, string(l))
		}
		for _, d := range cc.Spec.Deadlines {
			if d.Within == nil {
				continue
			}
			if ch.Deadlines == nil {
				ch.Deadlines = map[string]string{}
			}
			ch.Deadlines[string(d.Type)] = d.Within.Duration.String()
		}
		files = append(files, channelFiles{name: ch.Name, files: map[string][]byte{
			ch.ClientCertFile(): leaf.Data[pki.TLSCertKey], ch.ClientKeyFile(): leaf.Data[pki.TLSPrivateKeyKey], ch.TrustFile(): trust}})
		list.Channels = append(list.Channels, ch)
	}
	if list.Channels == nil {
		list.Channels = []gateway.Channel{}
	}
	joint, err := r.jointInvestigationsOf(ctx, fp)
	if err != nil {
		return nil, nil, err
	}
	list.JointInvestigations = joint
	body, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the channels file: %w", err)
	}
	shards, err := shardChannels(body, files, placed, channelShardBytes, maxChannelShards)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*corev1.Secret, len(shards))
	for i, data := range shards {
		out[i] = channelsSecret(fp, i, data)
	}
	return out, list.Channels, nil
}

// peerTrust is the PEM of the peer CAs a channel trusts: in its client Secret, or,
// for a channel whose reconciler has not yet moved them there since an upgrade, in
// the trust ConfigMap of earlier releases (LegacyTrustUsable), so the gateway keeps
// the channel.
func (r *Reconciler) peerTrust(ctx context.Context, cc *cybercoopv1alpha1.CooperationChannel, leaf *corev1.Secret) ([]byte, error) {
	if pem, ok := leaf.Data[gateway.PeerTrustKey]; ok {
		return pem, nil
	}
	legacy, err := LegacyTrust(ctx, r.Client, cc)
	if err != nil || legacy == nil {
		return nil, err
	}
	return []byte(legacy.Data[gateway.LegacyTrustKey]), nil
}

// LegacyTrust is the trust ConfigMap an earlier release wrote for cc, nil when there
// is none the operator may take CAs from (LegacyTrustUsable).
func LegacyTrust(ctx context.Context, c client.Reader, cc *cybercoopv1alpha1.CooperationChannel) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	err := c.Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: gateway.ChannelTrustConfigMapName(cc.Name)}, cm)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s (the peer trust of channel %s before this release): %w", gateway.ChannelTrustConfigMapName(cc.Name), cc.Name, err)
	case !LegacyTrustUsable(cm, cc):
		return nil, nil
	}
	return cm, nil
}

// LegacyTrustUsable reports whether cm, the ConfigMap named for cc's trust in
// earlier releases, is one such a release wrote for it, whose CAs may be moved
// into the channel's client Secret: the channel controls it and had been
// reconciled before (its status holds conditions). Anything else under that name
// was made by someone else, or for a channel made since; taking its CAs would let
// whoever can create a ConfigMap widen the channel's trust.
func LegacyTrustUsable(cm *corev1.ConfigMap, cc *cybercoopv1alpha1.CooperationChannel) bool {
	return metav1.IsControlledBy(cm, cc) && len(cc.Status.Conditions) > 0
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

// channelsInSync: the cached copy holds the files as digests
// (manageropts.DigestLabel); desired is compared in the same form.
func channelsInSync(d, l *corev1.Secret) bool {
	return l.Type == d.Type && equality.Semantic.DeepEqual(manageropts.ComparableData(d, l), l.Data) && len(l.StringData) == 0
}

var channelsSecretSpec = apply.Spec[*corev1.Secret]{
	// A repair writes the files themselves.
	InSync: channelsInSync,
	Repair: func(d, l *corev1.Secret) { manageropts.UndigestedForWrite(l, d.Data); l.StringData = nil },
	// A Secret's type is immutable.
	// So is an immutable one's data: one the FocalPoint controls (or that claims it
	// does, as anyone who may create a Secret can make it) that holds other files is
	// replaced whole.
	Recreate: func(d, l *corev1.Secret) bool {
		return l.Type != d.Type || (ptr.Deref(l.Immutable, false) && !channelsInSync(d, l))
	},
}

// reconcileChannels writes the channels Secret the gateway reloads: one write for
// any number of channel changes, and no pod rollout. When the channels take more
// than one Secret, it writes the channels Secrets in the order shards.go explains.
// Until the channels file is written, s.channels (the NetworkPolicy's egress)
// stays what the gateway has loaded.
func (r *Reconciler) reconcileChannels(ctx context.Context, s *scope) error {
	live, err := r.liveShards(ctx, s.fp)
	if err != nil {
		return s.Provisioned(err) // s.channelShards 0: neither egress nor the Deployment is touched
	}
	mounted, err := r.mountedChannels(ctx, s.fp)
	if err != nil {
		return s.Provisioned(err)
	}
	s.channelShards = mounted
	if live.sharded() {
		// The Secrets hold channels the first Secret's file names: pods must mount
		// them all, even a Deployment made again after a deletion.
		s.channelShards = maxChannelShards
	}
	// What the gateway loads is known when the first Secret is the FocalPoint's (its
	// channels file), or when nothing is there yet (no channel).
	var list gateway.Channels
	switch {
	case live.own[0] != nil:
		s.channelsKnown = json.Unmarshal(live.own[0].Data[gateway.ChannelsFile], &list) == nil
		s.channels = list.Channels
	case !slices.Contains(live.foreign, ChannelsSecretName(s.fp)):
		s.channelsKnown = true
	}
	if r.batches.underWay(client.ObjectKeyFromObject(s.fp)) {
		// The batch's end reconciles again; until then the gateway keeps the file it
		// has, and the egress rules follow that file.
		return nil
	}
	channels, err := r.channelsOf(ctx, s.fp)
	if err != nil {
		return s.Provisioned(err)
	}
	desired, loaded, err := r.desiredChannels(ctx, s.fp, channels, live.placed(s.channelShards))
	if err != nil {
		return s.Provisioned(err)
	}
	if len(desired) == 1 && s.channelShards == 1 {
		planned := r.plannedChannels(ctx, desired[0])
		if _, err := apply.Apply(ctx, s.children, desired[0], channelsSecretSpec, planned); err != nil {
			return s.Provisioned(err)
		}
		s.channels, s.channelsKnown = loaded, true
		return s.Provisioned(nil)
	}
	written, err := r.writeShards(ctx, s, live, desired)
	if written {
		s.channels, s.channelsKnown = loaded, true
	}
	return s.Provisioned(err)
}

// A batch of channel changes is the changes that come close together: a country's
// peers applied at once, every client certificate renewed in the same minute. The
// FocalPoint writes its gateway's channels file once per batch, when no change has
// come for channelBatchQuiet (or channelBatchMax after the first), so the gateway
// reloads once, not once per channel. While a batch is under way a reconcile of the
// FocalPoint for any other reason leaves the file as it is.
const (
	channelBatchQuiet = 2 * time.Second
	channelBatchMax   = 30 * time.Second
)

// channelBatches are the FocalPoints with a batch of channel changes under way.
type channelBatches struct {
	mu      sync.Mutex
	pending map[reconcile.Request]*channelBatch
}

type channelBatch struct {
	first time.Time
	timer *time.Timer
}

// add records a change for req; req is enqueued when the batch ends.
func (b *channelBatches) add(req reconcile.Request, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if p := b.pending[req]; p != nil {
		p.timer.Reset(max(0, min(channelBatchQuiet, p.first.Add(channelBatchMax).Sub(now))))
		return
	}
	if b.pending == nil {
		b.pending = map[reconcile.Request]*channelBatch{}
	}
	b.pending[req] = &channelBatch{first: now, timer: time.AfterFunc(channelBatchQuiet, func() {
		b.mu.Lock()
		delete(b.pending, req)
		b.mu.Unlock()
		q.Add(req)
	})}
}

// underWay reports whether a batch of changes to the FocalPoint's channels has not
// ended yet. A nil set (a reconciler not set up with a manager) has none.
func (b *channelBatches) underWay(key types.NamespacedName) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending[reconcile.Request{NamespacedName: key}] != nil
}

// enqueueBatched adds the FocalPoints mapFn names to the batches, for events on
// channels and their Secrets (and legacy trust ConfigMaps).
func (b *channelBatches) enqueueBatched(mapFn handler.MapFunc) handler.EventHandler {
	add := func(ctx context.Context, objs []client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, o := range objs {
			if o == nil {
				continue
			}
			for _, req := range mapFn(ctx, o) {
				b.add(req, q)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, []client.Object{e.Object}, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, []client.Object{e.ObjectOld, e.ObjectNew}, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, []client.Object{e.Object}, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, []client.Object{e.Object}, q)
		},
	}
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

// focalPointOfLabel maps a channel's client Secret (or legacy trust ConfigMap) to the
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

// The gateway's configuration, channels file and egress follow other resources (the
// EvidenceVault, the CooperationChannels), not only the FocalPoint's spec: a change
// they explain is planned and reported as such, not as drift.

// plannedConfig explains a configuration change that follows the vault.
func (r *Reconciler) plannedConfig(ctx context.Context, desired *corev1.ConfigMap) string {
	live := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return ""
	}
	var was, will gateway.Config
	if json.Unmarshal([]byte(live.Data[gateway.ConfigFile]), &was) != nil || json.Unmarshal([]byte(desired.Data[gateway.ConfigFile]), &will) != nil {
		return ""
	}
	// Only a change confined to what follows other resources (or an operator upgrade)
	// is planned; anything else in the file is drift, or a spec change.
	rest := func(c gateway.Config) gateway.Config {
		c.Vault, c.OfficerIdentity, c.OperatorIdentity = nil, "", ""
		return c
	}
	switch {
	case !equality.Semantic.DeepEqual(rest(was), rest(will)):
		return ""
	case equality.Semantic.DeepEqual(was.Vault, will.Vault):
		return "the gateway admits officers by their identity " + will.OfficerIdentity + " and the operator by " + will.OperatorIdentity
	case will.Vault == nil:
		return "the FocalPoint no longer has an EvidenceVault; the gateway refuses requests until it has one"
	default:
		return "the gateway records requests in the EvidenceVault at " + will.Vault.URL
	}
}

// plannedChannels explains a channels file change by the channels added, removed
// or changed (a renewed certificate, a learned peer CA, new terms).
func (r *Reconciler) plannedChannels(ctx context.Context, desired *corev1.Secret) string {
	live := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return ""
	}
	comparable := manageropts.ComparableData(desired, live)
	var was, will gateway.Channels
	if json.Unmarshal(live.Data[gateway.ChannelsFile], &was) != nil || json.Unmarshal(desired.Data[gateway.ChannelsFile], &will) != nil {
		return ""
	}
	before := map[string]gateway.Channel{}
	for _, c := range was.Channels {
		before[c.Name] = c
	}
	var added, changed, removed []string
	for _, c := range will.Channels {
		old, ok := before[c.Name]
		delete(before, c.Name)
		switch {
		case !ok:
			added = append(added, c.Name)
		case !equality.Semantic.DeepEqual(old, c) ||
			!bytesEqual(live.Data, comparable, c.ClientCertFile(), c.ClientKeyFile(), c.TrustFile()):
			changed = append(changed, c.Name)
		}
	}
	for name := range before {
		removed = append(removed, name)
	}
	return listChanges(changes{"channels added", added}, changes{"channels changed", changed}, changes{"channels removed", removed})
}

func bytesEqual(a, b map[string][]byte, keys ...string) bool {
	for _, k := range keys {
		if string(a[k]) != string(b[k]) {
			return false
		}
	}
	return true
}

// plannedEgress explains a NetworkPolicy change that follows the channels' peers.
func (r *Reconciler) plannedEgress(ctx context.Context, s *scope, desired *networkingv1.NetworkPolicy) string {
	live := &networkingv1.NetworkPolicy{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return ""
	}
	if equality.Semantic.DeepEqual(live.Spec.Ingress, desired.Spec.Ingress) && !equality.Semantic.DeepEqual(live.Spec.Egress, desired.Spec.Egress) &&
		equality.Semantic.DeepEqual(live.Spec.PodSelector, desired.Spec.PodSelector) {
		return fmt.Sprintf("egress follows the %d channel(s)' peers", len(s.channels))
	}
	return ""
}

// peersAccepting holds a CA key replacement until every channel's peer accepts the
// new CA (internal/ca Authority.Peers): the channel's probe has completed a
// handshake at the peer with a certificate from the new CA and recorded it in
// status.peer.acceptsCAs. A suspended channel passes nothing and holds nothing back.
func (r *Reconciler) peersAccepting(fp *cybercoopv1alpha1.FocalPoint) func(context.Context, *x509.Certificate) ([]string, error) {
	return func(ctx context.Context, newCA *x509.Certificate) ([]string, error) {
		channels, err := r.channelsOf(ctx, fp)
		if err != nil {
			return nil, err
		}
		want := ca.Fingerprint(newCA)
		var waiting []string
		for _, cc := range channels {
			if ptr.Deref(cc.Spec.Suspend, false) {
				continue
			}
			if cc.Status.Peer == nil || !slices.Contains(cc.Status.Peer.AcceptsCAs, want) {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", cc.Name, cc.Spec.Peer.Party()))
			}
		}
		return waiting, nil
	}
}

// channelChanged passes a CooperationChannel event when the channels file or a
// key replacement may follow from it: its spec, or the CAs its peer accepts.
var channelChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*cybercoopv1alpha1.CooperationChannel)
		n, ok2 := e.ObjectNew.(*cybercoopv1alpha1.CooperationChannel)
		if !ok1 || !ok2 || o.Generation != n.Generation || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
			return true
		}
		accepts := func(cc *cybercoopv1alpha1.CooperationChannel) []string {
			if cc.Status.Peer == nil {
				return nil
			}
			return cc.Status.Peer.AcceptsCAs
		}
		return !slices.Equal(accepts(o), accepts(n))
	},
}
