package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
	_ "time/tzdata" // roster time zones must resolve in a distroless image without /usr/share/zoneinfo

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/version"
)

type managerOptions struct {
	metricsAddr             string
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	gatewayImage            string
	watchNamespaces         []string
	syncPeriod              time.Duration
	zap                     zap.Options
}

func newManagerCommand() *cobra.Command {
	o := &managerOptions{zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: reconcile FocalPoints and the resources they need",
		Long: `manager runs the operator. It watches the cybercoop.io custom resources, provisions
the services each one needs (for a FocalPoint: the gateway's ServiceAccount, ConfigMap,
Deployment, Service, PodDisruptionBudget and NetworkPolicy), repairs drift, and reports
in each resource's status whether its obligation is met.

It serves Prometheus metrics on --metrics-bind-address and liveness (/healthz) and
readiness (/readyz) probes on --health-probe-bind-address. Run two replicas with
--leader-elect for high availability; only the leader reconciles.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runManager(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus /metrics endpoint listens on (plain HTTP); \"0\" disables it")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probe endpoints listen on")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader through a Lease so that only one of several manager replicas reconciles")
	f.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease; default: the namespace the manager runs in")
	f.StringVar(&o.gatewayImage, "gateway-image", envOr("CYBERCOOP_IMAGE", version.DefaultImage()), "image gateway pods run when a FocalPoint sets no spec.gateway.image (env CYBERCOOP_IMAGE); normally the operator's own image")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespace", nil, "restrict the operator to these namespaces (repeat or comma-separate); default: all namespaces")
	f.DurationVar(&o.syncPeriod, "sync-period", 10*time.Hour, "how often every resource is reconciled even without a change, as a safety net")
	goFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(goFlags)
	f.AddGoFlagSet(goFlags)
	return cmd
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func runManager(o *managerOptions) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cybercoopv1alpha1.AddToScheme(scheme))

	// Only the operator's own Secrets are cached (and watched): keeping every Secret
	// of the cluster in memory would cost memory and widen what a leak exposes.
	// Reconcilers read a Secret missing from the cache from the API server
	// (apply.SecretFallbackClient), so an unlabelled one is still found and repaired.
	cacheOpts := cache.Options{
		SyncPeriod: &o.syncPeriod,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{apply.ManagedLabel: apply.ManagedValue})},
		},
	}
	if len(o.watchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster (set KUBECONFIG or run in a pod): %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		// cert-manager Certificates are handled as unstructured objects (no
		// cert-manager Go dependency); read them from the informer cache too.
		Client:                        client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              "cybercoop-operator.cybercoop.io",
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := (&focalpoint.Reconciler{
		Client:       apply.SecretFallbackClient{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()},
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("cybercoop-operator"),
		Clock:        clock.RealClock{},
		GatewayImage: o.gatewayImage,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FocalPoint controller: %w", err)
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
	log.Info("starting the manager", "version", version.Version, "gatewayImage", o.gatewayImage, "leaderElection", o.leaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}
