package cooperationchannel

import (
	"time"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
)

// kindCooperationChannel labels the channel's certificate metrics.
const kindCooperationChannel = "CooperationChannel"

// roleChannelClient is the certificate role of the channel's client certificate
// towards the peer, in its Secret's label, events and metrics.
const roleChannelClient = "channel-client"

// Indexes of CooperationChannels, for the mapped watches.
const (
	// focalPointIndex indexes channels by spec.focalPointRef.name.
	focalPointIndex = "spec.focalPointRef.name"
	// trustSecretIndex indexes channels by spec.peer.trustBundle.secretRef.name.
	trustSecretIndex = "spec.peer.trustBundle.secretRef.name"
)

// TrustRecordAnnotation on the client Secret records, for every peer CA under
// gateway.PeerTrustKey, by SHA-256 fingerprint, where the channel learned it (Spec
// or Published), since when it is trusted, and whether the Warning about its
// expiry was sent. The Secret is the source of truth: status.peer.trustedCAs is
// derived from it, so what was learned from the peer survives a restart of the
// operator and a lost status.
const TrustRecordAnnotation = "cybercoop.io/peer-trust"

// Sources of a trusted CA (status.peer.trustedCAs[].source).
const (
	// SourceSpec: the CA is in spec.peer.trustBundle.
	SourceSpec = "Spec"
	// SourcePublished: the CA came in the peer's signed trust bundle, verified
	// against a CA the channel already trusted.
	SourcePublished = "Published"
)

const (
	// defaultProbeInterval is spec.probe.interval's default.
	defaultProbeInterval = 5 * time.Minute
	// probeTimeout bounds one probe: connection, handshake and the trust bundle.
	probeTimeout = 10 * time.Second
	// expiringWindow: when every usable peer CA expires within it, PeerTrusted says
	// TrustBundleExpiring and a Warning asks for the peer's next CA.
	expiringWindow = 30 * 24 * time.Hour
	// maxTrustedInStatus is status.peer.trustedCAs's MaxItems.
	maxTrustedInStatus = 16
	// maxAcceptsCAs is status.peer.acceptsCAs's MaxItems.
	maxAcceptsCAs = 4
)

// ClientSecretName is the channel's client certificate towards its peer.
func ClientSecretName(cc *cybercoopv1alpha1.CooperationChannel) string {
	return gateway.ChannelClientSecretName(cc.Name)
}

// TrustConfigMapName is the ConfigMap in which earlier releases kept the peer CAs
// the channel trusts (gateway.ChannelTrustConfigMapName).
func TrustConfigMapName(cc *cybercoopv1alpha1.CooperationChannel) string {
	return gateway.ChannelTrustConfigMapName(cc.Name)
}

// ClientIdentity is the URI SAN of the channel's client certificate: the peer's
// gateway may tell the channels of one State apart by it.
func ClientIdentity(cc *cybercoopv1alpha1.CooperationChannel) string {
	return "spiffe://cybercoop.io/ns/" + cc.Namespace + "/cooperationchannel/" + cc.Name
}

// commonLabels are on every object the channel owns. FocalPointLabel tells the
// FocalPoint's controller, which aggregates its channels for the gateway, that the
// object changed; the managed-by label puts the client Secret in the manager's cache.
func commonLabels(cc *cybercoopv1alpha1.CooperationChannel) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "cybercoop-channel",
		"app.kubernetes.io/instance":  cc.Name,
		"app.kubernetes.io/component": "cooperation-channel",
		"app.kubernetes.io/part-of":   "cybercoop",
		apply.ManagedLabel:            apply.ManagedValue,
		gateway.FocalPointLabel:       cc.Spec.FocalPointRef.Name,
	}
}
