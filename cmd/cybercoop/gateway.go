package main

import (
	"flag"
	"fmt"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cybercoop/cybercoop-operator/internal/gateway"
)

func newGatewayCommand() *cobra.Command {
	var (
		configPath, healthAddr, listen string
		zapOpts                        zap.Options
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a FocalPoint's intake service (this release: health and readiness only)",
		Long: `gateway is the 24/7 point of contact's intake service that peer States and local
officers call. The operator runs it in the FocalPoint's Deployment.

In this release the gateway loads and checks its configuration and serves only its
probes: /healthz (alive) and /readyz (configuration loaded) on --health-addr. It does
NOT yet accept requests: the mutual-TLS request API on --listen comes in a later release.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			log := ctrl.Log.WithName("gateway")
			cfg, err := gateway.LoadConfig(configPath)
			if err != nil {
				return err
			}
			log.Info("configuration loaded", "country", cfg.Country, "services", cfg.Services,
				"note", "the request API on "+listen+" is not served in this release")
			return (&gateway.HealthServer{Addr: healthAddr, Config: cfg, Log: log}).Run(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", gateway.ConfigPath, "the configuration file the operator writes into the gateway's ConfigMap")
	f.StringVar(&healthAddr, "health-addr", fmt.Sprintf(":%d", gateway.HealthPort), "address of the /healthz and /readyz endpoints (plain HTTP, for the kubelet)")
	f.StringVar(&listen, "listen", fmt.Sprintf(":%d", gateway.HTTPSPort), "address of the mutual-TLS request API (reserved; not served in this release)")
	goFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	zapOpts.BindFlags(goFlags)
	f.AddGoFlagSet(goFlags)
	return cmd
}
