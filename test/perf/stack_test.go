package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

const testImage = "registry.test/cybercoop/cybercoop-operator:perf"

// shiftedClock is the real clock moved forward by an offset the harness sets: time
// passes as usual (probe intervals, idle windows), and a step makes every
// certificate reach its renewal time at once.
type shiftedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// reset sets the clock back to the real one.
func (c *shiftedClock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = 0
}

func (c *shiftedClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// operator is the manager with the three reconcilers, in this process, its
// requests counted.
type operator struct {
	mgr  ctrl.Manager
	stop func() error
}

// operatorOptions are what a run of the operator may vary.
type operatorOptions struct {
	// ProbeInterval is the channels' default probe interval; zero is the
	// operator's default.
	ProbeInterval time.Duration
}

// startOperator starts a manager on cfg (already counted) with production caches
// and the reconcilers as cmd/cybercoop sets them up, on clock.
func startOperator(cfg *rest.Config, clock *shiftedClock, opts operatorOptions) (*operator, error) {
	mgr, err := envtestutil.NewManager(cfg)
	if err != nil {
		return nil, err
	}
	names, err := manageropts.NamesCache(mgr, nil)
	if err != nil {
		return nil, err
	}
	c := manageropts.ReconcilerClientWithNames(mgr.GetClient(), mgr.GetAPIReader(), names)
	rec := mgr.GetEventRecorder("cybercoop-operator")
	if err := (&focalpoint.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: rec, Clock: clock, GatewayImage: testImage}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&evidencevault.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: rec, Clock: clock, VaultImage: testImage,
		// No vault runs: the EvidenceVault reports it unreachable, as in a
		// cluster whose volume is not bound yet.
		VaultEndpoint: func(*cybercoopv1alpha1.EvidenceVault) string { return "https://127.0.0.1:1" },
	}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&cooperationchannel.Reconciler{Client: c, APIReader: mgr.GetAPIReader(), SecretNames: names, Scheme: mgr.GetScheme(),
		Recorder: rec, Clock: clock, ProbeInterval: opts.ProbeInterval}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return &operator{mgr: mgr, stop: envtestutil.StartManager(mgr)}, nil
}

// country is one State's stack in its namespace: a FocalPoint, an EvidenceVault
// and a channel to each peer.
type country struct {
	namespace string
	fp        *cybercoopv1alpha1.FocalPoint
	ev        *cybercoopv1alpha1.EvidenceVault
	channels  []*cybercoopv1alpha1.CooperationChannel
}

// newCountry describes Kenya's stack in namespace with a channel to each of peers,
// all served by farm. Nothing is created yet.
func newCountry(namespace string, peers []string, farm *peerFarm) *country {
	fp := fixtures.Kenya(namespace)
	ev := &cybercoopv1alpha1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-vault", Namespace: namespace},
		Spec: cybercoopv1alpha1.EvidenceVaultSpec{FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: fp.Name},
			Storage: &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("20Gi")}},
	}
	c := &country{namespace: namespace, fp: fp, ev: ev}
	for _, p := range peers {
		c.channels = append(c.channels, newChannel(namespace, fp.Name, p, farm))
	}
	return c
}

// newChannel is a channel to peer as `kubectl apply -f` sends it: with the
// last-applied-configuration annotation, its manifest as JSON, which client-side
// apply (kubectl's default) adds to every object it creates.
func newChannel(namespace, fp, peer string, farm *peerFarm) *cybercoopv1alpha1.CooperationChannel {
	cc := &cybercoopv1alpha1.CooperationChannel{
		TypeMeta:   metav1.TypeMeta{APIVersion: cybercoopv1alpha1.GroupVersion.String(), Kind: "CooperationChannel"},
		ObjectMeta: metav1.ObjectMeta{Name: "to-" + strings.ToLower(peer), Namespace: namespace},
		Spec: cybercoopv1alpha1.CooperationChannelSpec{
			FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: fp},
			Peer: cybercoopv1alpha1.PeerSpec{Country: cybercoopv1alpha1.CountryCode(peer), Endpoint: farm.url, ServerName: peerServerName(peer),
				TrustBundle: cybercoopv1alpha1.PeerTrustBundle{PEM: string(farm.ca.CertificatePEM())}},
			RequestTypes:   []cybercoopv1alpha1.RequestType{cybercoopv1alpha1.RequestPreservation, cybercoopv1alpha1.RequestSubscriberInformation},
			DataProtection: cybercoopv1alpha1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42; bilateral memorandum"},
		},
	}
	applied(cc)
	return cc
}

// applied sets cc's kubectl last-applied-configuration annotation to its manifest.
func applied(cc *cybercoopv1alpha1.CooperationChannel) {
	manifest, err := json.Marshal(map[string]any{"apiVersion": cc.APIVersion, "kind": cc.Kind,
		"metadata": map[string]string{"name": cc.Name, "namespace": cc.Namespace}, "spec": cc.Spec})
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	cc.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: string(manifest) + "\n"}
}

// objects are every resource of the stack.
func (c *country) objects() []client.Object {
	out := []client.Object{c.fp, c.ev}
	for _, cc := range c.channels {
		out = append(out, cc)
	}
	return out
}

// createAll creates objs with workers creating side by side, as `kubectl apply`
// of a directory or a Helm install would send them.
func createAll(ctx context.Context, c client.Client, workers int, objs []client.Object) error {
	work := make(chan client.Object)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range work {
				if err := c.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// readyChannels counts the channels in namespace (all namespaces if empty) whose
// Ready condition is True for their current generation.
func readyChannels(ctx context.Context, c client.Client, namespace string) (int, error) {
	var list cybercoopv1alpha1.CooperationChannelList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	n := 0
	for _, cc := range list.Items {
		if cond := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionReady); cond != nil &&
			cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == cc.Generation {
			n++
		}
	}
	return n, nil
}

// waitFor polls done every interval until it reports true or timeout passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
