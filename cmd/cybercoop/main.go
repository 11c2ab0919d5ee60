// Command cybercoop is the single binary of cybercoop-operator. Its subcommands are
// the roles: the operator (manager), the FocalPoint's intake service (gateway) and
// the evidence store (vault).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cybercoop/cybercoop-operator/internal/vault/vaultcmd"
	"github.com/cybercoop/cybercoop-operator/internal/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "cybercoop",
		Short: "Runs a State Party's cybercrime-cooperation stack on Kubernetes",
		Long: `cybercoop runs the infrastructure the UN Convention against Cybercrime asks of a
State Party: a 24/7 point of contact, a store for preserved electronic evidence and
secure channels to peer States. One binary, one role per subcommand.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.AddCommand(newManagerCommand(), newGatewayCommand(), vaultcmd.NewCommand(), newCasesCommand())
	return root
}
