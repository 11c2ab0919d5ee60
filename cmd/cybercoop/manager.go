package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"time"
	_ "time/tzdata" // roster time zones must resolve in a distroless image without /usr/share/zoneinfo

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cybercoop/cybercoop-operator/controllers/conventionprofile"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/controllers/jointinvestigation"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/version"
)

type managerOptions struct {
	metricsAddr             string
	metricsSecure           bool
	probeAddr               string
	pprofAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	gatewayImage            string
	watchNamespaces         []string
	syncPeriod              time.Duration
	memoryLimitRatio        float64
	zap                     zap.Options
}

func newManagerCommand() *cobra.Command {
	o := &managerOptions{zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: reconcile FocalPoints, EvidenceVaults and the resources they need",
		Long: `manager runs the operator. It watches the cybercoop.io custom resources, provisions
the services each one needs (for a FocalPoint: the gateway's ServiceAccount, ConfigMap,
Deployment, Service, PodDisruptionBudget and NetworkPolicy; for an EvidenceVault: the
vault's StatefulSet and volume, keyring and checkpoint key), repairs drift, and reports
in each resource's status whether its obligation is met.

It serves Prometheus metrics on --metrics-bind-address (with --metrics-secure: HTTPS,
authenticated and authorised by the API server) and liveness (/healthz) and
readiness (/readyz) probes on --health-probe-bind-address. Run two replicas with
--leader-elect for high availability; only the leader reconciles.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runManager(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus /metrics endpoint listens on (plain HTTP); \"0\" disables it")
	f.BoolVar(&o.metricsSecure, "metrics-secure", false, "serve /metrics over HTTPS (a self-signed certificate) and only to callers whose bearer token the API server authenticates (TokenReview) and authorises for GET /metrics (SubjectAccessReview); needs RBAC to create tokenreviews and subjectaccessreviews")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probe endpoints listen on")
	f.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "address Go's profiling endpoints (/debug/pprof/: heap, CPU, goroutines) listen on, plain HTTP and unauthenticated, so bind it to loopback (kubectl port-forward reaches it); \"0\", the default, disables them")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader through a Lease so that only one of several manager replicas reconciles")
	f.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease; default: the namespace the manager runs in")
	f.StringVar(&o.gatewayImage, "gateway-image", envOr("CYBERCOOP_IMAGE", version.DefaultImage()), "image gateway and vault pods run when a FocalPoint or EvidenceVault sets no image (env CYBERCOOP_IMAGE); normally the operator's own image")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespace", nil, "restrict the operator to these namespaces (repeat or comma-separate); default: all namespaces")
	f.DurationVar(&o.syncPeriod, "sync-period", 10*time.Hour, "how often every resource is reconciled even without a change, as a safety net")
	f.Float64Var(&o.memoryLimitRatio, "memory-limit-ratio", 0.9, "set the Go runtime's soft memory limit (GOMEMLIMIT) to this fraction of the container's memory limit (cgroup), so the garbage collector works harder before the kernel kills the manager; 0 turns it off; an explicit GOMEMLIMIT, or AUTOMEMLIMIT, in the environment wins")
	goFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(goFlags)
	f.AddGoFlagSet(goFlags)
	return cmd
}

// metricsOptions serves plain HTTP by default; with --metrics-secure, HTTPS (HTTP/1.1
// only, avoiding HTTP/2 stream-reset attacks) behind controller-runtime's
// authentication and authorisation filter.
func metricsOptions(o *managerOptions) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.metricsAddr}
	if o.metricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return opts
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// setMemoryLimit sets the Go runtime's soft memory limit to ratio of the memory
// limit provider reports (the container's cgroup), with automemlimit: a hub's
// manager holds every channel in its caches, and its heap grows by garbage
// between collections (a rotation storm renews every certificate at once); near
// the limit the collector runs more often instead of the kernel killing the pod.
// No limit found leaves the runtime's default; ratio 0 does nothing.
func setMemoryLimit(ratio float64, provider memlimit.Provider, log logr.Logger) error {
	if ratio < 0 || ratio > 1 {
		return fmt.Errorf("--memory-limit-ratio %g: expected a fraction between 0 (off) and 1", ratio)
	}
	if ratio == 0 {
		return nil
	}
	limit, err := memlimit.Set(memlimit.WithRatio(ratio), memlimit.WithProvider(provider))
	switch {
	case err != nil:
		log.Info("Go memory limit left as it was: the container's memory limit could not be read", "error", err.Error())
	case limit < math.MaxInt64:
		log.Info("Go memory limit set", "bytes", limit, "ratio", ratio)
	}
	return nil
}

func runManager(o *managerOptions) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")
	if err := setMemoryLimit(o.memoryLimitRatio, memlimit.FromCgroup, log); err != nil {
		return err
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster (set KUBECONFIG or run in a pod): %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        manageropts.Scheme(),
		Cache:                         manageropts.Cache(&o.syncPeriod, o.watchNamespaces),
		Client:                        manageropts.Client(),
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              "cybercoop-operator.cybercoop.io",
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	// The reconcilers read from the label-filtered caches and, for an object missing
	// there, from the API server, unless the names cache (the name of every object of
	// those kinds that is not the operator's, nothing else) knows it does not exist: a new resource's
	// children are not asked for before they are created. The channel controller
	// watches the Secrets people name through the same names cache, and reads such
	// a Secret from the API server itself (its APIReader), never through this
	// client: the names cache may not have caught up with a Secret a person just
	// created when that Secret's event wakes the channel.
	names, err := manageropts.NamesCache(mgr, o.watchNamespaces)
	if err != nil {
		return err
	}
	reconcilerClient := manageropts.ReconcilerClientWithNames(mgr.GetClient(), mgr.GetAPIReader(), names)
	if err := (&focalpoint.Reconciler{
		Client:       reconcilerClient,
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("cybercoop-operator"),
		Clock:        clock.RealClock{},
		GatewayImage: o.gatewayImage,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FocalPoint controller: %w", err)
	}
	if err := (&evidencevault.Reconciler{
		Client:     reconcilerClient,
		Scheme:     mgr.GetScheme(),
		Recorder:   mgr.GetEventRecorder("cybercoop-operator"),
		Clock:      clock.RealClock{},
		VaultImage: o.gatewayImage,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the EvidenceVault controller: %w", err)
	}
	if err := (&cooperationchannel.Reconciler{
		Client:      reconcilerClient,
		APIReader:   mgr.GetAPIReader(),
		SecretNames: names,
		Scheme:      mgr.GetScheme(),
		Recorder:    mgr.GetEventRecorder("cybercoop-operator"),
		Clock:       clock.RealClock{},
		Namespaces:  o.watchNamespaces,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CooperationChannel controller: %w", err)
	}
	if err := (&conventionprofile.Reconciler{
		Client:   manageropts.ReconcilerClient(mgr.GetClient(), mgr.GetAPIReader()),
		Recorder: mgr.GetEventRecorder("cybercoop-operator"),
		Clock:    clock.RealClock{},
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ConventionProfile controller: %w", err)
	}
	if err := (&jointinvestigation.Reconciler{
		Client: manageropts.ReconcilerClient(mgr.GetClient(), mgr.GetAPIReader()),
		Scheme: mgr.GetScheme(),
		Clock:  clock.RealClock{},
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the JointInvestigation controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("informer caches are not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	log.Info("starting the manager", "version", version.Version, "gatewayImage", o.gatewayImage, "leaderElection", o.leaderElect, "secureMetrics", o.metricsSecure, "watchNamespaces", o.watchNamespaces)
	return mgr.Start(ctrl.SetupSignalHandler())
}
