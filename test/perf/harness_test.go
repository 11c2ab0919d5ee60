//go:build perf

package perf

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// The harness's knobs, by environment variable; the defaults are issue 15's sizes.
//
//	PERF_CHANNELS          channels of the full mesh (192)
//	PERF_NAMESPACES        countries of the region (20)
//	PERF_REGION_CHANNELS   channels per country of the region (50)
//	PERF_IDLE              idle window of the steady state (5m)
//	PERF_MEMORY_CHANNELS   channels, all Ready, for the memory figure (10000)
//	PERF_HUB_CHANNELS      channels per country added to reach them (200)
//	PERF_BUNDLE_KIB        KiB of CA certificates each peer of the large bundles' mesh sends (20; 0 skips it)
//	PERF_CONCURRENCY       clients creating objects, and the floor's workers (the channel controller's, cooperationchannel.Workers)
//	PERF_OUT               the report (docs/performance.md)
//	PERF_BENCH_DIR         where make bench left the micro-benchmarks' output
//	PERF_CPUPROFILE        write a CPU profile of the scenarios here
//	PERF_APISERVER_CPUPROFILE  write a CPU profile of the API server over the mesh's first 2 seconds here
//	PERF_HEAPPROFILE       write a heap profile of the manager process with the memory scenario's channels
//	                       cached, and one of the process started again with them to PERF_HEAPPROFILE.restart
//	                       (every 4 KiB allocated is sampled then, not every 512 KiB, so small objects are seen)
//	PERF_GC_PERCENT        the test process's GOGC, set in the process so the API server, etcd and the
//	                       manager process keep theirs (GOGC in the environment would reach them too);
//	                       100 by default
//	PERF_LOG               the manager's log (discarded by default); the manager process's goes to
//	                       PERF_LOG.process
//	PERF_TIMELINE          log each scenario's manager requests: start (ms from its creation), latency, verb, object
func init() {
	if v := os.Getenv("PERF_GC_PERCENT"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			debug.SetGCPercent(n)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q is not a non-negative integer", name, s)
		}
		return n
	}
	return def
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	if s := os.Getenv(name); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q is not a duration", name, s)
		}
		return d
	}
	return def
}

// harness is one run: the control plane, the operator and what was measured.
type harness struct {
	t           *testing.T
	ctx         context.Context
	cp          *envtestutil.ControlPlane
	counter     *apiCounter
	clock       *shiftedClock
	farm        *peerFarm
	op          *operator
	concurrency int
	peers       []string
	report      *report
	watch       *channelWatch
	// writes counts the manager's writes so far: h.counter's, or the manager
	// process's once it runs (memory).
	writes            func() (int, error)
	managerBin        string // the manager binary, once built
	managerKubeconfig string
}

func TestHarness(t *testing.T) {
	logTo := io.Discard
	if p := os.Getenv("PERF_LOG"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		logTo = f
	}
	cp, err := envtestutil.StartControlPlane(logTo)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cp.Stop() }()
	if p := os.Getenv("PERF_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	peers, err := peerCountries("KE")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: context.Background(), cp: cp, counter: &apiCounter{}, clock: &shiftedClock{}, peers: peers,
		concurrency: envInt(t, "PERF_CONCURRENCY", cooperationchannel.Workers), report: newReport()}
	h.writes = func() (int, error) { return count(h.counter.since(0), nil).writes, nil }
	h.farm, err = startPeerFarm(peers, h.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer h.farm.stop()
	start := time.Now()

	meshN := envInt(t, "PERF_CHANNELS", 192)
	if meshN > len(peers) {
		t.Fatalf("PERF_CHANNELS=%d: there are only %d peer countries", meshN, len(peers))
	}
	// The operator first makes a country of 4 channels Ready (the warm-up), whose
	// first channel's status and client Secret the floor copies, so it writes the
	// same content as the operator. Then the operator stops and the floor runs,
	// so nothing but the plain client writes to the API server. The floor and the
	// mesh are each run meshRuns times and compared by their medians: on a
	// machine of two cores one run varies by ±15 %.
	meshRuns := max(1, envInt(t, "PERF_MESH_RUNS", 3))
	opStart := time.Now()
	h.op, err = startOperator(h.counter.wrap(cp.Config), h.clock, operatorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if h.op != nil {
			_ = h.op.stop()
		}
	}()
	h.watch, err = watchChannels(cp.Config, client.Options{Scheme: cp.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var tmpl floorTemplate
	h.report.warmUp, tmpl = h.warmUp(opStart)
	h.watch.stop()
	if err := h.op.stop(); err != nil {
		t.Fatal(err)
	}
	h.floor("floor-warmup", 16, tmpl) // the API server's first writes of each kind are slower
	var floors []floorRun
	for i := range meshRuns {
		floors = append(floors, h.floor(fmt.Sprintf("floor-%d", i+1), meshN, tmpl))
	}
	h.op, err = startOperator(h.counter.wrap(cp.Config), h.clock, operatorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.watch, err = watchChannels(cp.Config, client.Options{Scheme: cp.Client.Scheme()}); err != nil {
		t.Fatal(err)
	}

	// Every mesh but the last is removed again; the last stays for the scenarios
	// that follow.
	var meshes []run
	for i := range meshRuns - 1 {
		c := newCountry(fmt.Sprintf("mesh-%d", i+1), peers[:meshN], h.farm)
		meshes = append(meshes, h.create("mesh", []*country{c}))
		h.remove(c)
	}
	meshCountry := newCountry("mesh", peers[:meshN], h.farm)
	mesh := h.create("mesh", []*country{meshCountry})
	meshes = append(meshes, mesh)
	h.report.mesh(meshes, floors)
	t.Logf("mesh Ready / floor: %s (medians of %d runs: %s / %s)", ratio(h.report.meshReady().Seconds(), h.report.floorTime().Seconds()),
		meshRuns, h.report.meshReady(), h.report.floorTime())
	if os.Getenv("PERF_ONLY") == "mesh" {
		return
	}
	h.steadyState(mesh, envDuration(t, "PERF_IDLE", 5*time.Minute))
	h.rotationStorm(mesh)
	if kib := envInt(t, "PERF_BUNDLE_KIB", 20); kib > 0 {
		h.report.bundles = h.bundles(peers[:meshN], kib<<10)
	}

	// The region too is run meshRuns times, each compared by its median with the
	// mesh's median: one run of either moves by ±15 %, so a ratio of one run to
	// one run moved across 1.2× with no change to the code. Every region but the
	// last is removed again.
	newRegion := func(prefix string) []*country {
		var region []*country
		for i := range envInt(t, "PERF_NAMESPACES", 20) {
			region = append(region, newCountry(fmt.Sprintf("%s-%02d", prefix, i), peers[:envInt(t, "PERF_REGION_CHANNELS", 50)], h.farm))
		}
		return region
	}
	var regions []run
	for i := range meshRuns - 1 {
		region := newRegion(fmt.Sprintf("region%d", i+1))
		regions = append(regions, h.create("region", region))
		h.remove(region...)
	}
	region := newRegion("region")
	regions = append(regions, h.create("region", region))
	h.report.region(regions)
	h.memory(envInt(t, "PERF_MEMORY_CHANNELS", 10000), envInt(t, "PERF_HUB_CHANNELS", 200), append(region, meshCountry)...)
	h.report.services(os.Getenv("PERF_BENCH_DIR"))
	h.report.took = time.Since(start)

	out := os.Getenv("PERF_OUT")
	if out == "" {
		out = filepath.Join(envtestutil.RepoRoot(), "docs", "performance.md")
	}
	if err := os.WriteFile(out, []byte(h.report.markdown()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}

// run is what one creation scenario measured.
type run struct {
	name          string
	objects       int
	countries     int
	channels      int
	ready         time.Duration // creation start to every channel Ready
	configured    time.Duration // creation start to every channel in its gateway's channels file
	requests      tally         // the manager's requests, events left out
	events        int
	issued        int      // channel client certificate Secrets written
	ownWrites     int      // the channels' writes to themselves (status) and their client Secrets (certificate and peer trust)
	configSize    int      // bytes of the files of the largest FocalPoint's gateway channels Secrets
	configSecrets int      // the most gateway channels Secrets of one FocalPoint
	gatewayCfg    int      // writes of the gateway channels Secrets
	cpu           cpuTimes // CPU time by process from creation start to every channel Ready (and a little after: read when the watch told)
}

// create creates the countries' resources at once and waits until every channel is
// Ready and in its gateway's channels file.
func (h *harness) create(name string, countries []*country) run {
	h.t.Helper()
	var objs []client.Object
	channels := 0
	for _, c := range countries {
		if err := h.cp.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace}}); err != nil {
			h.t.Fatal(err)
		}
		objs = append(objs, c.objects()...)
		channels += len(c.channels)
	}
	namespaces := map[string]bool{}
	for _, c := range countries {
		namespaces[c.namespace] = true
	}
	mark := h.counter.mark()
	cpuBefore := readCPU()
	var apiProfile func() error
	if p := os.Getenv("PERF_APISERVER_CPUPROFILE"); p != "" && name == "mesh" {
		apiProfile = profileAPIServer(h.cp.Config, 2*time.Second, p)
	}
	start := time.Now()
	if err := createAll(h.ctx, h.cp.Client, h.concurrency, objs); err != nil {
		h.t.Fatal(err)
	}
	r := run{name: name, objects: len(objs), countries: len(countries), channels: channels}
	readyAt, err := h.watch.wait(h.ctx, 20*time.Minute, name+": every channel Ready", func(state map[types.NamespacedName]channelState) bool {
		return readyIn(state, namespaces) >= channels
	})
	if err != nil {
		h.t.Fatal(err)
	}
	r.ready = readyAt.Sub(start)
	r.cpu = readCPU().sub(cpuBefore)
	if apiProfile != nil {
		if err := apiProfile(); err != nil {
			h.t.Fatal(err)
		}
	}
	// The gateway's channels file is one Secret per country, read until it lists
	// every channel.
	err = waitFor(h.ctx, 20*time.Minute, 100*time.Millisecond, name+": every channel in its gateway's channels file", func() (bool, error) {
		for _, c := range countries {
			n, err := h.configuredChannels(c)
			if err != nil || n < len(c.channels) {
				return false, err
			}
		}
		r.configured = time.Since(start)
		return true, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.settle()
	for _, c := range countries {
		size, secrets := 0, 0
		for _, name := range focalpoint.ChannelsSecretNames(c.fp) {
			s := &corev1.Secret{}
			err := h.cp.Client.Get(h.ctx, types.NamespacedName{Namespace: c.namespace, Name: name}, s)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				h.t.Fatal(err)
			}
			secrets++
			for k, v := range s.Data {
				size += len(k) + len(v)
			}
		}
		r.configSize = max(r.configSize, size)
		r.configSecrets = max(r.configSecrets, secrets)
	}
	reqs := h.counter.since(mark)
	if os.Getenv("PERF_TIMELINE") != "" {
		for _, q := range reqs {
			if q.verb != "watch" && notEvent(q) {
				h.t.Logf("TL %7.1f %6.1f %s %s %s/%s %d", time.Unix(0, q.start).Sub(start).Seconds()*1000, q.took.Seconds()*1000, q.verb, q.resource, q.namespace, q.name, q.status)
			}
		}
	}
	r.requests = count(reqs, notEvent)
	r.events = count(reqs, func(r apiRequest) bool { return !notEvent(r) }).total
	for _, c := range countries {
		r.gatewayCfg += channelsSecretWrites(reqs, c.fp)
		for _, cc := range c.channels {
			issued := writesTo(reqs, "secrets", c.namespace, gateway.ChannelClientSecretName(cc.Name))
			r.issued += issued
			r.ownWrites += issued + writesTo(reqs, "configmaps", c.namespace, gateway.ChannelTrustConfigMapName(cc.Name)) +
				writesTo(reqs, "cooperationchannels/status", c.namespace, cc.Name) + writesTo(reqs, "cooperationchannels", c.namespace, cc.Name)
		}
	}
	h.t.Logf("%s: %d objects, every channel Ready in %s (CPU %s), configured in %s; writes: %s", name, r.objects, r.ready, r.cpu, r.configured, r.requests.describeWrites())
	return r
}

// warmUp makes a first small country Ready and removes it again, before anything
// is timed: the mesh is created in a cluster whose operator is already running, as
// a country applies its stack to a cluster where the operator was installed
// before. Without it the mesh's time held the manager's start (its informers'
// lists and watches, about 2 s here) and the API server's first writes of each kind,
// which the floor's own warm-up spares it. It returns the time from starting the
// manager to that country being Ready, reported apart.
func (h *harness) warmUp(started time.Time) (time.Duration, floorTemplate) {
	h.t.Helper()
	c := newCountry("warm-up", h.peers[:4], h.farm)
	before := time.Now()
	w := h.create("warm-up", []*country{c})
	took := before.Sub(started) + w.ready
	var tmpl floorTemplate
	cc := &cybercoopv1alpha1.CooperationChannel{}
	if err := h.cp.Client.Get(h.ctx, client.ObjectKeyFromObject(c.channels[0]), cc); err != nil {
		h.t.Fatal(err)
	}
	tmpl.status = cc.Status
	if err := h.cp.Client.Get(h.ctx, types.NamespacedName{Namespace: cc.Namespace, Name: gateway.ChannelClientSecretName(cc.Name)}, &tmpl.secret); err != nil {
		h.t.Fatal(err)
	}
	h.remove(c)
	return took, tmpl
}

// floorTemplate is what the operator wrote for one channel it made Ready: the
// floor writes the same status, and a client Secret with the same keys, labels
// and annotations (its own certificate and key under tls.crt and tls.key).
type floorTemplate struct {
	status cybercoopv1alpha1.CooperationChannelStatus
	secret corev1.Secret
}

// remove deletes the countries' resources, all at once, waits until they are
// gone, and deletes what their FocalPoints and EvidenceVaults left in their
// namespaces (no garbage collector runs here: Secrets, ConfigMaps, the gateways'
// and vaults' workloads, Services, policies and claims), so the manager's caches
// hold nothing of them.
func (h *harness) remove(countries ...*country) {
	h.t.Helper()
	objs := []client.Object{}
	for _, c := range countries {
		for _, cc := range c.channels {
			objs = append(objs, cc)
		}
		objs = append(objs, c.ev, c.fp)
	}
	for _, o := range objs {
		if err := h.cp.Client.Delete(h.ctx, o); err != nil {
			h.t.Fatal(err)
		}
	}
	// The FocalPoint and the EvidenceVault carry the operator's finalizers: gone
	// means the operator has processed their deletion.
	err := waitFor(h.ctx, 5*time.Minute, 100*time.Millisecond, fmt.Sprintf("%d countries removed", len(countries)), func() (bool, error) {
		for _, o := range objs {
			if err := h.cp.Client.Get(h.ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
				return false, client.IgnoreNotFound(err)
			}
		}
		return true, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range countries {
		for _, o := range []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{}, &corev1.ServiceAccount{},
			&corev1.PersistentVolumeClaim{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}, &networkingv1.NetworkPolicy{}, &policyv1.PodDisruptionBudget{}} {
			if err := h.cp.Client.DeleteAllOf(h.ctx, o, client.InNamespace(c.namespace)); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	h.settle()
}

// configuredChannels counts the channels in the FocalPoint's gateway channels file.
func (h *harness) configuredChannels(c *country) (int, error) {
	s := &corev1.Secret{}
	if err := h.cp.Client.Get(h.ctx, types.NamespacedName{Namespace: c.namespace, Name: focalpoint.ChannelsSecretName(c.fp)}, s); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	return strings.Count(string(s.Data[gateway.ChannelsFile]), `"name":`), nil
}

// settle waits until the manager has sent no write for three seconds, longer than a
// FocalPoint waits for a batch of channel changes to end.
func (h *harness) settle() {
	h.t.Helper()
	last, lastChange := -1, time.Now()
	err := waitFor(h.ctx, 10*time.Minute, 100*time.Millisecond, "the manager to stop writing", func() (bool, error) {
		n, err := h.writes()
		if err != nil {
			return false, err
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		return time.Since(lastChange) >= 3*time.Second, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// floorRun is the floor: what the API server and the signing of leaves cost for
// the writes the operator cannot avoid.
type floorRun struct {
	channels int
	workers  int
	api      time.Duration // create each channel, its Secret, write its status once
	signing  time.Duration // key generation and signature per leaf, with the same workers
	cpu      cpuTimes      // CPU time by process during api
}

// floor times a plain client loop, with the operator's concurrency, that creates n
// channels, a client certificate Secret for each, and writes each status once, the
// Secret and the status of the same content as the operator's (tmpl); and apart
// from it the issuance of n leaves. The objects are removed again.
func (h *harness) floor(ns string, n int, tmpl floorTemplate) floorRun {
	h.t.Helper()
	if err := h.cp.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		h.t.Fatal(err)
	}
	ca, err := pki.CreateCA(pki.CASpec{CommonName: "KE national CA", Country: "KE"}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	leaves := make([][]byte, n)
	keys := make([][]byte, n)
	r := floorRun{channels: n, workers: h.concurrency}
	r.signing = parallel(n, h.concurrency, func(i int) error {
		leaf, err := pki.IssueLeaf(ca, pki.LeafSpec{CommonName: "KE channel " + h.peers[i], URIs: []string{"spiffe://cybercoop.io/ns/" + ns + "/cooperationchannel/" + h.peers[i]},
			Usages: []pki.Usage{pki.UsageClient}}, time.Now())
		if err != nil {
			return err
		}
		leaves[i] = leaf.CertificatePEM()
		keys[i], err = pki.EncodePrivateKeyPEM(leaf.PrivateKey)
		return err
	})
	c := h.cp.Client
	cpuBefore := readCPU()
	r.api = parallel(n, h.concurrency, func(i int) error {
		cc := newChannel(ns, "ke-poc", h.peers[i], h.farm)
		if err := c.Create(h.ctx, cc); err != nil {
			return err
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: gateway.ChannelClientSecretName(cc.Name),
			Labels: tmpl.secret.Labels, Annotations: tmpl.secret.Annotations}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{}}
		for k, v := range tmpl.secret.Data {
			s.Data[k] = v
		}
		s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey] = leaves[i], keys[i]
		if err := c.Create(h.ctx, s); err != nil {
			return err
		}
		cc.Status = *tmpl.status.DeepCopy()
		cc.Status.ObservedGeneration = cc.Generation
		for j := range cc.Status.Conditions {
			cc.Status.Conditions[j].ObservedGeneration = cc.Generation
		}
		return c.Status().Update(h.ctx, cc)
	})
	r.cpu = readCPU().sub(cpuBefore)
	// Gone before the operator starts, so it never sees them.
	if err := c.DeleteAllOf(h.ctx, &cybercoopv1alpha1.CooperationChannel{}, client.InNamespace(ns)); err != nil {
		h.t.Fatal(err)
	}
	if err := c.DeleteAllOf(h.ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("floor: %d channels: API %s (CPU %s), signing %s", n, r.api, r.cpu, r.signing)
	return r
}

// parallel runs f(0..n-1) on workers goroutines and returns how long it took.
func parallel(n, workers int, f func(i int) error) time.Duration {
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		panic(first)
	}
	return time.Since(start)
}

// idleRun is what an idle window measured.
type idleRun struct {
	window     time.Duration
	objects    int
	writes     tally
	reconciles float64
	probes     int64
	channels   int
	// busiest is the most probes the peers received within one second of the
	// window, probeSeconds the seconds in which they received any.
	busiest, probeSeconds int
}

// steadyState leaves the operator idle for window after the mesh settled and
// counts what it does.
func (h *harness) steadyState(mesh run, window time.Duration) {
	h.t.Helper()
	h.settle()
	mark, probes, before := h.counter.mark(), h.farm.probes.Load(), reconciles("")
	start := time.Now()
	idle := time.NewTimer(window)
	<-idle.C
	reqs := h.counter.since(mark)
	r := idleRun{window: window, objects: mesh.objects, channels: mesh.channels, writes: count(reqs, notEvent),
		reconciles: reconciles("") - before, probes: h.farm.probes.Load() - probes}
	// Whole seconds inside the window only: its first and last are partly outside.
	r.busiest, r.probeSeconds = h.farm.busiestSecond(start.Add(time.Second), time.Now().Add(-time.Second))
	h.t.Logf("steady state over %s: writes %s; %v reconciles, %d probes, at most %d in one second, in %d seconds",
		window, r.writes.describeWrites(), r.reconciles, r.probes, r.busiest, r.probeSeconds)
	h.report.idle = &r
}

// stormRun is the rotation storm.
type stormRun struct {
	channels   int
	renewed    time.Duration
	requests   tally
	gatewayCfg int
	leaves     int
}

// rotationStorm moves the operator's clock past the renewal time of every leaf of
// the mesh and restarts the operator (a restart is what makes every object
// reconcile at once; a clock step alone wakes nothing before its timers): every
// channel's client certificate, the gateway's and the vault's leaves are due at
// once.
func (h *harness) rotationStorm(mesh run) {
	h.t.Helper()
	serials := map[string]string{}
	var list cybercoopv1alpha1.CooperationChannelList
	if err := h.cp.Client.List(h.ctx, &list, client.InNamespace("mesh")); err != nil {
		h.t.Fatal(err)
	}
	for _, cc := range list.Items {
		serials[cc.Name] = clientSerial(&cc)
	}
	if err := h.op.stop(); err != nil {
		h.t.Fatal(err)
	}
	// Leaves live 90 days and are renewed at two thirds of their life.
	h.clock.step(61 * 24 * time.Hour)
	mark := h.counter.mark()
	start := time.Now()
	var err error
	h.op, err = startOperator(h.counter.wrap(h.cp.Config), h.clock, operatorOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	r := stormRun{channels: mesh.channels}
	renewedAt, err := h.watch.wait(h.ctx, 20*time.Minute, "every channel's certificate renewed", func(state map[types.NamespacedName]channelState) bool {
		for name, old := range serials {
			s, ok := state[types.NamespacedName{Namespace: "mesh", Name: name}]
			if !ok || s.serial == "" || s.serial == old || !s.ready {
				return false
			}
		}
		return true
	})
	if err != nil {
		h.t.Fatal(err)
	}
	r.renewed = renewedAt.Sub(start)
	h.settle()
	reqs := h.counter.since(mark)
	r.requests = count(reqs, notEvent)
	r.gatewayCfg = channelsSecretWrites(reqs, &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Namespace: "mesh", Name: "ke-poc"}})
	for _, rq := range reqs {
		if rq.write() && rq.resource == "secrets" && rq.namespace == "mesh" && (strings.HasSuffix(rq.name, "-client") || strings.HasSuffix(rq.name, "-tls") || strings.HasSuffix(rq.name, "-officer")) {
			r.leaves++
		}
	}
	h.t.Logf("rotation storm: renewed in %s; writes %s", r.renewed, r.requests.describeWrites())
	h.report.storm = &r
}

func isReady(cc *cybercoopv1alpha1.CooperationChannel) bool {
	c := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == cc.Generation
}

// clientSerial is the serial number of the channel's client certificate in status.
func clientSerial(cc *cybercoopv1alpha1.CooperationChannel) string {
	if c := cc.Status.Certificates; c != nil && c.Client != nil {
		return c.Client.SerialNumber
	}
	return ""
}

// memoryRun is the manager's memory, in a process of its own: with no country,
// and with many channels.
type memoryRun struct {
	empty     memStats
	channels  int // channels in the cluster, every one Ready
	countries int // countries added to reach them
	hub       run // their creation
	withMany  memStats
	settled   time.Duration
	// afterRestart is the manager started again with every channel already Ready
	// (an upgrade, a rescheduled pod): its caches filled by one list, each channel
	// reconciled once (its peer probed later, at the channel's point of the probe
	// interval), nothing written. restartSettled is the time from its start until
	// it had reconciled every channel and stopped writing.
	afterRestart   memStats
	restartSettled time.Duration
}

// startManagerProcess starts the manager binary (built into the test's temporary
// directory on first use) and waits until it has reconciled each of the channels
// in the cluster once and writes nothing more; h.settle waits for it from then on.
func (h *harness) startManagerProcess(channels int) (*managerProcess, time.Duration) {
	h.t.Helper()
	if h.managerBin == "" {
		dir := h.t.TempDir()
		bin, err := buildManager(dir)
		if err != nil {
			h.t.Fatal(err)
		}
		h.managerBin, h.managerKubeconfig = bin, filepath.Join(dir, "manager.kubeconfig")
		if err := managerKubeconfig(h.cp.Env, h.managerKubeconfig); err != nil {
			h.t.Fatal(err)
		}
	}
	logTo := os.DevNull
	if p := os.Getenv("PERF_LOG"); p != "" {
		logTo = p + ".process"
	}
	start := time.Now()
	m, err := startManagerProcess(h.ctx, h.managerBin, h.managerKubeconfig, logTo)
	if err != nil {
		h.t.Fatal(err)
	}
	h.writes = m.writes
	err = waitFor(h.ctx, 20*time.Minute, 200*time.Millisecond, "the manager process to reconcile every channel", func() (bool, error) {
		n, err := m.reconciles("cooperationchannel")
		return n >= float64(channels), err
	})
	if err != nil {
		_ = m.stop()
		h.t.Fatal(err)
	}
	h.settle()
	return m, time.Since(start)
}

// measure measures m, writing a heap profile to profile unless it is "".
func (h *harness) measure(m *managerProcess, profile string) memStats {
	h.t.Helper()
	stats, err := m.measure(h.ctx, profile)
	if err != nil {
		h.t.Fatal(err)
	}
	return stats
}

type memStats struct {
	heapInuse, heapAlloc, rss uint64
	heapFree                  uint64        // freed heap the runtime has not returned to the operating system yet
	stacks, runtimeOther      uint64        // goroutine stacks; the runtime's own structures (spans, GC metadata, ...)
	rssFile                   uint64        // file-backed pages of RSS: the binary's code and read-only data
	rssSettled                time.Duration // from the first collection until RSS stopped falling
}

// procStatusOf reads the sizes in /proc/<pid>/status, in bytes, by name.
func procStatusOf(pid string) (map[string]uint64, error) {
	out := map[string]uint64{}
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return out, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			out[strings.TrimSuffix(f[0], ":")] = kb * 1024
		}
	}
	return out, nil
}

// memory measures the manager binary in its own process, as a pod runs it. The
// earlier scenarios' countries are removed first, and the manager of this process
// stops: their certificates were issued on the storm's clock, ahead of the real
// one, which the process keeps. The process is measured with no country (what the
// manager costs before its first channel), then whole countries of hubChannels
// channels each (FocalPoint, EvidenceVault, channels to as many peers) are added
// until total channels exist, and once every one is Ready and in its gateway's
// channels file (client certificate issued, trust ConfigMap written, peer probed,
// metrics kept) the process is measured again: a hub running many countries'
// stacks. Last, the process is started again with them, and measured.
func (h *harness) memory(total, hubChannels int, earlier ...*country) {
	h.t.Helper()
	h.remove(earlier...)
	h.watch.stop()
	if err := h.op.stop(); err != nil {
		h.t.Fatal(err)
	}
	h.op = nil
	h.clock.reset()
	proc, _ := h.startManagerProcess(0)
	defer func() { _ = proc.stop() }()
	r := memoryRun{empty: h.measure(proc, "")}
	extra := total
	hubChannels = min(max(1, hubChannels), len(h.peers))
	var hub []*country
	for i := 0; i < extra; i += hubChannels {
		hub = append(hub, newCountry(fmt.Sprintf("hub-%03d", i/hubChannels), h.peers[:min(hubChannels, extra-i)], h.farm))
	}
	start := time.Now()
	if len(hub) > 0 {
		var err error
		if h.watch, err = watchChannels(h.cp.Config, client.Options{Scheme: h.cp.Client.Scheme()}); err != nil {
			h.t.Fatal(err)
		}
		r.hub = h.create("hub", hub)
		h.watch.stop()
	}
	r.settled = time.Since(start)
	r.countries = len(hub)
	r.withMany = h.measure(proc, os.Getenv("PERF_HEAPPROFILE"))
	var list cybercoopv1alpha1.CooperationChannelList
	if err := h.cp.Client.List(h.ctx, &list); err != nil {
		h.t.Fatal(err)
	}
	for _, cc := range list.Items {
		if !isReady(&cc) {
			h.t.Fatalf("channel %s/%s is not Ready", cc.Namespace, cc.Name)
		}
	}
	r.channels = len(list.Items)
	list = cybercoopv1alpha1.CooperationChannelList{}
	if err := proc.stop(); err != nil {
		h.t.Fatal(err)
	}
	proc, r.restartSettled = h.startManagerProcess(r.channels)
	restartProfile := ""
	if p := os.Getenv("PERF_HEAPPROFILE"); p != "" {
		restartProfile = p + ".restart"
	}
	r.afterRestart = h.measure(proc, restartProfile)
	h.t.Logf("memory of the manager process: with no country %+v; with %d channels %+v; restarted with them %+v", r.empty, r.channels, r.withMany, r.afterRestart)
	h.report.memory = &r
}
