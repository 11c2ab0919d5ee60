package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cybercoop/cybercoop-operator/internal/gateway"
)

func newGatewayCommand() *cobra.Command {
	var (
		paths            = gateway.DefaultPaths()
		healthAddr, addr string
		perPeer          int
		zapOpts          zap.Options
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a FocalPoint's intake service: the mutual-TLS request API for peer States and local officers",
		Long: `gateway is the 24/7 point of contact's intake service. The operator runs it in the
FocalPoint's Deployment, with its configuration, certificates, trust bundle, channels
and vault client certificate mounted from the ConfigMap and Secrets it writes.

On --listen (HTTPS, TLS 1.3, client certificates required):
  POST /v1/requests                       a peer State's request over its CooperationChannel:
                                          checked against the type's JSON Schema, recorded in
                                          the evidence vault, answered with a signed receipt
  GET  /v1/requests/{id}                  the state of one of the caller's own requests
  GET  /v1/trust-bundle                   this State's CA bundle, signed with the serving key
  GET  /v1/openapi.json, /v1/schemas/{t}  the API and one JSON Schema per request type
  POST /v1/outbound/{channel}/requests    a local officer's request to the channel's peer
  POST /v1/requests/{id}/transitions      the sender answers a clarification or withdraws
  POST /v1/updates                        a peer's signed status update of a request sent
  GET  /v1/cases[/{dir}/{peer}/{id}]      officers: requests in both directions, as cases
  POST /v1/cases/{dir}/{peer}/{id}/transitions   officers: move a request (cybercoop cases)
  GET  /v1/statistics                     officers: the report of articles 55 and 57
On --health-addr (plain HTTP, for the kubelet and Prometheus): /healthz, /readyz, /metrics.

Every file is re-read when it changes; nothing needs a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			log := ctrl.Log.WithName("gateway")
			srv := &gateway.Server{Paths: paths, Log: log, PerPeerConcurrency: perPeer}
			if err := srv.Load(); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", addr, err)
			}
			note := "requests are recorded in the vault"
			if err := srv.Ready(); err != nil {
				note = "requests are refused until a vault is configured: " + err.Error()
			}
			log.Info("serving the request API", "addr", ln.Addr().String(), "country", srv.Self(), "note", note)
			ctx := ctrl.SetupSignalHandler()
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Serve(ctx, ln) })
			g.Go(func() error { return (&gateway.HealthServer{Addr: healthAddr, Gateway: srv, Log: log}).Run(ctx) })
			if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&paths.Config, "config", paths.Config, "the configuration file the operator writes into the gateway's ConfigMap")
	f.StringVar(&paths.TLSDir, "tls-dir", paths.TLSDir, "directory of the serving certificate (tls.crt, tls.key, ca.crt); its key also signs receipts and the trust bundle")
	f.StringVar(&paths.TrustDir, "trust-dir", paths.TrustDir, "directory of this State's CA bundle (ca.crt), which admits local officers and is published at /v1/trust-bundle")
	f.StringVar(&paths.ChannelsDir, "channels-dir", paths.ChannelsDir, "directory of the channels (channels.json, <channel>.crt/.key/.trust.pem)")
	f.StringVar(&paths.VaultClientDir, "vault-client-dir", paths.VaultClientDir, "directory of the client certificate for the evidence vault (tls.crt, tls.key, ca.crt)")
	f.StringVar(&healthAddr, "health-addr", fmt.Sprintf(":%d", gateway.HealthPort), "address of /healthz, /readyz and /metrics (plain HTTP)")
	f.StringVar(&addr, "listen", fmt.Sprintf(":%d", gateway.HTTPSPort), "address of the mutual-TLS request API")
	f.IntVar(&perPeer, "per-peer-concurrency", 16, "requests one peer State (or the local officers together) may have in flight; more are answered 429")
	goFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	zapOpts.BindFlags(goFlags)
	f.AddGoFlagSet(goFlags)
	return cmd
}
