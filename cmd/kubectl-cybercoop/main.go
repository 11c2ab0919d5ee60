// Command kubectl-cybercoop is a kubectl plugin for the people who run and audit a
// State Party's cybercoop stack: `kubectl cybercoop status` shows every resource
// with its conditions, certificate expiries, roster gaps and channel round trips;
// `kubectl cybercoop audit` prints the ConventionProfiles' compliance reports.
// Installed as kubectl-cybercoop on PATH, kubectl runs it as `kubectl cybercoop`.
// It only reads; everything it prints comes from the resources' status.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/version"
)

func main() {
	if err := newRootCommand(os.Stdout, connect, time.Now).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// options are kubectl's own flags, with kubectl's meaning.
type options struct {
	kubeconfig    string
	context       string
	namespace     string
	allNamespaces bool
	output        string
}

// connector returns a client for the cluster the options name and the namespace to
// use when none is given (the context's, else "default").
type connector func(o *options) (client.Reader, string, error)

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(cybercoopv1alpha1.AddToScheme(s))
	return s
}

// connect reads the kubeconfig as kubectl does ($KUBECONFIG, ~/.kube/config,
// --kubeconfig, --context).
func connect(o *options) (client.Reader, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	ns, _, err := cfg.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	rest, err := cfg.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	c, err := client.New(rest, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, ns, nil
}

func newRootCommand(out io.Writer, connect connector, now func() time.Time) *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "kubectl-cybercoop",
		Short: "Status and compliance reports of a cybercoop stack",
		Long: `kubectl cybercoop shows the state of a State Party's cybercoop stack: its points of
contact, evidence vaults, cooperation channels and convention profiles.

  kubectl cybercoop status [-n NS | -A] [-o table|json|yaml]
  kubectl cybercoop audit  [-n NS | -A] [-o table|json|markdown|html]
  kubectl cybercoop renew KIND/NAME [-n NS]
  kubectl cybercoop verify-vault NAME [-n NS] [--wait 10m]`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&o.context, "context", "", "the kubeconfig context to use")
	pf.StringVarP(&o.namespace, "namespace", "n", "", "the namespace (default: the context's)")
	pf.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "every namespace")

	status := &cobra.Command{
		Use:   "status",
		Short: "Every cybercoop resource with its conditions, certificate expiries, roster gaps and channel round trips",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := o.resolve(connect)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), c, ns, o.output, now(), out)
		},
	}
	status.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")

	audit := &cobra.Command{
		Use:   "audit",
		Short: "The ConventionProfiles' article-by-article compliance reports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := o.resolve(connect)
			if err != nil {
				return err
			}
			return runAudit(cmd.Context(), c, ns, o.output, now(), out)
		},
	}
	audit.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json, markdown or html (one self-contained file to open offline and print)")

	renew := &cobra.Command{
		Use:   "renew KIND/NAME",
		Short: "Re-issue every leaf certificate of a FocalPoint, EvidenceVault or CooperationChannel (the force-renew annotation)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.resolveWriter(connect)
			if err != nil {
				return err
			}
			return runRenew(cmd.Context(), c, ns, args[0], now(), out)
		},
	}
	var waitFor time.Duration
	verify := &cobra.Command{
		Use:   "verify-vault NAME",
		Short: "Ask an EvidenceVault's vault for a full verification now, and wait for its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.resolveWriter(connect)
			if err != nil {
				return err
			}
			return runVerifyVault(cmd.Context(), c, ns, args[0], now(), waitFor, 2*time.Second, out)
		},
	}
	verify.Flags().DurationVar(&waitFor, "wait", 10*time.Minute, "how long to wait for the result; 0 returns at once")
	root.AddCommand(status, audit, renew, verify)
	return root
}

// resolveWriter connects for a command that changes one resource: in one
// namespace (-A is refused), with a client that writes.
func (o *options) resolveWriter(connect connector) (client.Client, string, error) {
	if o.allNamespaces {
		return nil, "", fmt.Errorf("-A/--all-namespaces: this command acts on one resource; give its namespace with -n")
	}
	r, ns, err := o.resolve(connect)
	if err != nil {
		return nil, "", err
	}
	c, ok := r.(client.Client)
	if !ok {
		return nil, "", fmt.Errorf("the connection cannot write")
	}
	return c, ns, nil
}

// resolve connects and returns the namespace to list in, "" for every namespace.
func (o *options) resolve(connect connector) (client.Reader, string, error) {
	if o.allNamespaces && o.namespace != "" {
		return nil, "", fmt.Errorf("-n/--namespace and -A/--all-namespaces exclude each other")
	}
	c, ns, err := connect(o)
	if err != nil {
		return nil, "", err
	}
	switch {
	case o.allNamespaces:
		ns = ""
	case o.namespace != "":
		ns = o.namespace
	case ns == "":
		ns = "default"
	}
	return c, ns, nil
}

// list lists into l in ns ("" is every namespace).
func list(ctx context.Context, c client.Reader, ns string, l client.ObjectList) error {
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	return c.List(ctx, l, opts...)
}
