//go:build perf

package perf

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// bundlesRun is the mesh again with every peer sending a large trust bundle: the
// gateway's channels then take more than one Secret (controllers/focalpoint,
// shards.go).
type bundlesRun struct {
	run
	bundleSize int // bytes of PEM each channel's peer sends
	secrets    int // channels Secrets of the FocalPoint
	// renewal is one channel's certificate renewed (force-renew) once all are
	// configured: the channels Secrets written for it.
	renewalWrites int
	renewal       time.Duration
}

// bundles creates a country with a channel to each of peers, each peer's bundle
// its CA and then about bundleSize bytes of other CA certificates (intermediates,
// a CA being replaced), as RSA CAs or a key replacement make it; it measures the
// mesh's figures, then renews one channel's certificate, and removes the country.
// A rollout of the gateway's pods is needed once, when the channels first take
// more than one Secret: no Deployment controller runs here, so the harness reports
// the Deployment of that namespace rolled out, as keepRolledOut does in the
// controllers' suites.
func (h *harness) bundles(peers []string, bundleSize int) *bundlesRun {
	h.t.Helper()
	var filler []byte
	for len(filler) < bundleSize {
		ca, err := pki.CreateCA(pki.CASpec{CommonName: fmt.Sprintf("perf intermediate %d", len(filler)), Country: "FR",
			Duration: 10 * 365 * 24 * time.Hour}, time.Now().Add(-24*time.Hour))
		if err != nil {
			h.t.Fatal(err)
		}
		filler = append(filler, ca.CertificatePEM()...)
	}
	c := newCountry("bundles", peers, h.farm)
	for _, cc := range c.channels {
		cc.Spec.Peer.TrustBundle.PEM += string(filler)
		applied(cc)
	}
	stop := envtestutil.KeepRolledOut(h.ctx, h.cp.Client, c.namespace)
	r := &bundlesRun{run: h.create("bundles", []*country{c}), bundleSize: len(filler) + len(h.farm.ca.CertificatePEM())}
	r.secrets = r.configSecrets

	// One channel's certificate renewed: its Secret is written again, and no other.
	target := c.channels[len(c.channels)/2]
	old := &cybercoopv1alpha1.CooperationChannel{}
	if err := h.cp.Client.Get(h.ctx, client.ObjectKeyFromObject(target), old); err != nil {
		h.t.Fatal(err)
	}
	serial := clientSerial(old)
	mark := h.counter.mark()
	start := time.Now()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"perf-%d"}}}`,
		cybercoopv1alpha1.ForceRenewAnnotation, time.Now().UnixNano()))
	if err := h.cp.Client.Patch(h.ctx, target, patch); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.watch.wait(h.ctx, 5*time.Minute, "the channel's certificate renewed", func(state map[types.NamespacedName]channelState) bool {
		s := state[client.ObjectKeyFromObject(target)]
		return s.ready && s.serial != "" && s.serial != serial
	}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
	r.renewal = time.Since(start)
	r.renewalWrites = channelsSecretWrites(h.counter.since(mark), c.fp)
	h.t.Logf("bundles: %d channels of %d KiB bundles in %d Secrets, Ready in %s, configured in %s; a renewal wrote %d of them",
		len(c.channels), r.bundleSize>>10, r.secrets, r.ready, r.configured, r.renewalWrites)
	stop()
	h.remove(c)
	return r
}

// bundlesReport is the report's section of the large bundles.
func (r *report) bundlesSection(w func(string, ...any)) {
	b := r.bundles
	if b == nil {
		return
	}
	w("## Large trust bundles: the mesh with every peer sending a %d KiB bundle", b.bundleSize>>10)
	w("")
	w("Each peer's bundle is its CA and other CA certificates (as intermediates, RSA CAs or a CA key replacement make it); the spec accepts up to 64 KiB. The gateway's channels no longer fit in one Secret (1 MiB): the FocalPoint's controller splits them (controllers/focalpoint/shards.go). The gateway's pods must mount every channels Secret before the channels file names a channel in another, so the first split waits for one rollout; no Deployment controller runs here, and the harness reports the gateway's Deployment rolled out.")
	w("")
	w("| measure | value |")
	w("|---|---|")
	w("| every channel Ready | %s |", secs(b.ready))
	w("| every channel in the gateway's channels file (one rollout of the gateway included) | %s |", secs(b.configured))
	w("| gateway channels Secrets; their files' size | %d; %.0f KiB, %.1f KiB per channel |", b.secrets, float64(b.configSize)/1024, float64(b.configSize)/1024/float64(max(1, b.channels)))
	w("| writes per channel to its status and client Secret | %s (target ≤ 3) |", per(b.ownWrites, b.channels))
	w("| gateway channels Secrets writes | %d |", b.gatewayCfg)
	w("| 409 conflicts | %d |", b.requests.conflicts)
	w("| writes by resource | %s |", b.requests.describeWrites())
	w("| one channel's certificate renewed: channels Secrets written | %d, in %s |", b.renewalWrites, secs(b.renewal))
	w("")
}
