package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/officer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// newCasesCommand is `cybercoop cases`: a State's officers at their gateway.
func newCasesCommand() *cobra.Command {
	var (
		endpoint, serverName, credentials string
		timeout                           time.Duration
	)
	client := func() (*officer.Client, error) {
		cert, roots, err := officer.LoadCredentials(credentials)
		if err != nil {
			return nil, err
		}
		return officer.New(endpoint, serverName, cert, roots)
	}
	cmd := &cobra.Command{
		Use:   "cases",
		Short: "Follow and move the requests between this State and its peers (officers only)",
		Long: `cases calls the State's gateway as one of its officers: the credentials are those of the
Secret <focalpoint>-officer the operator issues (tls.crt, tls.key, ca.crt), e.g.

  mkdir officer && cd officer
  for k in tls.crt tls.key ca.crt; do
    kubectl -n cybercoop-ke get secret ke-poc-officer -o jsonpath="{.data.${k//./\\.}}" | base64 -d > $k
  done
  cybercoop cases --gateway https://gateway.ke.example --credentials . list --overdue

A request is named direction/peer/id: inbound/FR/rq-… (France sent it; this State decides)
or outbound/FR/rq-… (this State sent it; France decides). A service provider is named by
its identifier: outbound/example-mail/rq-….

Actions: on an inbound request Acknowledge, Start, Execute, ExecutePartially (--reason),
Refuse (--reason, --ground …), RequestClarification (--reason: the question); on an
outbound request Clarify (--reason: the answer) and Withdraw (--reason). At a service
provider's gateway, Contest (--reason, --ground …) takes the place of Refuse: the
authority then clarifies or withdraws its order.`,
	}
	cmd.PersistentFlags().StringVar(&endpoint, "gateway", "", "the gateway's URL, https://host[:port]")
	cmd.PersistentFlags().StringVar(&serverName, "server-name", "", "the name on the gateway's certificate, when the URL's host is not it")
	cmd.PersistentFlags().StringVar(&credentials, "credentials", ".", "directory with the officer's tls.crt, tls.key and ca.crt")
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", time.Minute, "how long a call may take")
	_ = cmd.MarkPersistentFlagRequired("gateway")
	run := func(f func(ctx context.Context, c *officer.Client, out io.Writer) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return f(ctx, c, cmd.OutOrStdout())
		}
	}

	var filter officer.Filter
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "Every request, newest first, with its state and deadline",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *officer.Client, out io.Writer) error {
			all, err := c.List(ctx, filter)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeIndented(out, all)
			}
			return printCases(out, all)
		}),
	}
	list.Flags().StringVar(&filter.Direction, "direction", "", "inbound or outbound")
	list.Flags().StringVar((*string)(&filter.State), "state", "", "only requests in this state")
	list.Flags().BoolVar(&filter.Overdue, "overdue", false, "only requests past their deadline")
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")

	show := &cobra.Command{
		Use:   "show DIRECTION/PEER/ID",
		Short: "One request with its transitions (and a preservation's hold), as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(func(ctx context.Context, c *officer.Client, out io.Writer) error {
				one, err := c.Show(ctx, args[0])
				if err != nil {
					return err
				}
				return writeIndented(out, one)
			})(cmd, args)
		},
	}

	var action wire.CaseAction
	var grounds []string
	act := &cobra.Command{
		Use:   "act DIRECTION/PEER/ID ACTION",
		Short: "Move a request: " + strings.Join(actionNames(), ", "),
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			action.Action = cases.Action(args[1])
			action.Grounds = nil
			for _, g := range grounds {
				action.Grounds = append(action.Grounds, cases.Ground(g))
			}
			return run(func(ctx context.Context, c *officer.Client, out io.Writer) error {
				u, err := c.Act(ctx, args[0], action)
				if err != nil {
					return err
				}
				t := u.Transition
				fmt.Fprintf(out, "%s: %s → %s (transition %d, recorded in the vault and signed)\n", args[0], t.From, t.To, t.Sequence)
				if u.Delivered != nil && !*u.Delivered {
					fmt.Fprintln(out, "the sender's gateway did not take the update now; it fetches it with the request's state")
				}
				return nil
			})(cmd, args)
		},
	}
	act.Flags().StringVar(&action.Reason, "reason", "", "why, for people (required for a refusal, a partial execution, a question, an answer and a withdrawal)")
	act.Flags().StringSliceVar(&grounds, "ground", nil, "a refusal's ground (repeat): "+strings.Join(groundNames(cases.Grounds), ", ")+
		"; a provider's contest's: "+strings.Join(groundNames(cases.ContestGrounds), ", "))
	act.Flags().StringVar((*string)(&action.ExpectedState), "expect", "", "act only if the request is still in this state")

	var from, to string
	var csv bool
	stats := &cobra.Command{
		Use:   "stats",
		Short: "The statistics report of articles 55 and 57, from the custody records (JSON, or CSV)",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *officer.Client, out io.Writer) error {
			var f, t time.Time
			var err error
			if from != "" {
				if f, err = time.Parse(time.DateOnly, from); err != nil {
					return fmt.Errorf("--from: %q is not a date (YYYY-MM-DD)", from)
				}
			}
			if to != "" {
				if t, err = time.Parse(time.DateOnly, to); err != nil {
					return fmt.Errorf("--to: %q is not a date (YYYY-MM-DD)", to)
				}
			}
			report, err := c.Statistics(ctx, f, t, csv)
			if err != nil {
				return err
			}
			_, err = out.Write(report)
			return err
		}),
	}
	stats.Flags().StringVar(&from, "from", "", "first day of the period (YYYY-MM-DD, UTC); default a year ago")
	stats.Flags().StringVar(&to, "to", "", "day after the period (YYYY-MM-DD, UTC); default now")
	stats.Flags().BoolVar(&csv, "csv", false, "CSV instead of JSON")

	var file string
	send := &cobra.Command{
		Use:   "send CHANNEL --file REQUEST.json",
		Short: "Send a request to the peer of a channel; prints the peer's receipt, verified and kept in this State's vault",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readRequest(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return run(func(ctx context.Context, c *officer.Client, out io.Writer) error {
				acc, err := c.Send(ctx, args[0], doc)
				if err != nil {
					return err
				}
				return writeIndented(out, acc)
			})(cmd, args)
		},
	}
	send.Flags().StringVarP(&file, "file", "f", "", "the request document (JSON, as the request type's schema says; - for standard input)")
	_ = send.MarkFlagRequired("file")

	cmd.AddCommand(list, show, act, send, stats)
	return cmd
}

// readRequest reads a request document of at most requests.MaxBodyBytes from
// path, or from stdin for "-".
func readRequest(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r = f
	}
	doc, err := io.ReadAll(io.LimitReader(r, requests.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if len(doc) > requests.MaxBodyBytes {
		return nil, fmt.Errorf("--file: more than %d bytes: a request carries references, not evidence", requests.MaxBodyBytes)
	}
	return doc, nil
}

func actionNames() []string {
	s := make([]string, len(cases.Actions))
	for i, a := range cases.Actions {
		s[i] = string(a)
	}
	return s
}

func groundNames(grounds []cases.Ground) []string {
	s := make([]string, len(grounds))
	for i, g := range grounds {
		s[i] = string(g)
	}
	return s
}

func writeIndented(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printCases is the table of `cybercoop cases list`.
func printCases(out io.Writer, all []wire.Case) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REQUEST\tTYPE\tREFERENCE\tRECEIVED\tSTATE\tDUE")
	for _, c := range all {
		due := "-"
		if !c.State.Terminal() {
			due = c.Due.UTC().Format("2006-01-02 15:04")
			if c.Overdue {
				due += " OVERDUE"
			}
		}
		if c.Preservation != nil && c.Preservation.Held {
			due += fmt.Sprintf(" (held until %s)", c.Preservation.Until.UTC().Format(time.DateOnly))
			if len(c.Preservation.HeldFor) > 0 {
				due = strings.TrimSuffix(due, ")") + " and while " + strings.Join(c.Preservation.HeldFor, ", ") + " is open)"
			}
		}
		fmt.Fprintf(w, "%s/%s/%s\t%s\t%s\t%s\t%s\t%s\n", c.Direction, c.Peer, c.RequestID, c.Type, c.Reference,
			c.Received.UTC().Format("2006-01-02 15:04"), c.State, due)
	}
	return w.Flush()
}
