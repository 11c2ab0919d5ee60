package vaultcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

func newKeygenCommand() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create the Ed25519 key that signs the vault's checkpoints and export manifests",
		Long: `keygen writes a new signed-note private key to --out (mode 0600, never overwritten)
and prints the matching verifier key, which recipients of exports and holders of
checkpoints use to check them. --name is the log's origin line in every checkpoint.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := vault.GenerateSigningKey(name)
			if err != nil {
				return fmt.Errorf("--name %q: %w", name, err)
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if _, err := f.WriteString(skey + "\n"); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "origin of the log, e.g. vault.police.example/cybercoop (no spaces or '+')")
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newVerifierKeyCommand() *cobra.Command {
	var signingKey, dataDir string
	cmd := &cobra.Command{
		Use:          "verifier-key",
		Short:        "Print the public verifier key of a signing key (--signing-key, or the one kept in --data-dir)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := signingKey
			if path == "" {
				if dataDir == "" {
					return errors.New("give --signing-key FILE or --data-dir DIR")
				}
				path = filepath.Join(dataDir, "checkpoint.key")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			vkey, err := vault.VerifierKeyOf(b)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&signingKey, "signing-key", "", "the vault's --signing-key file")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the vault's data directory, if it runs without --signing-key")
	return cmd
}

// readVerifierKey accepts the key itself or a file holding it.
func readVerifierKey(s string) (string, error) {
	if _, err := note.NewVerifier(s); err == nil {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("--verifier-key is neither a verifier key (name+hash+key) nor a readable file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func newVerifyExportCommand() *cobra.Command {
	var verifierKey string
	cmd := &cobra.Command{
		Use:   "verify-export --verifier-key KEY FILE",
		Short: "Check an export archive offline: signatures, inclusion proofs, custody entries and the object's digest",
		Long: `verify-export needs nothing but the archive and the vault's verifier key (from
"cybercoop vault keygen" or "cybercoop vault verifier-key"). It checks the signed
manifest and checkpoint, the hash of every member, that every custody entry is intact
and included in the log the checkpoint signs, and that the object hashes to its address.
Entries the exporting client could not see in full are redacted copies (other clients'
references replaced by [redacted]); each is checked by the leaf hash of the logged
entry, which the signed manifest records. Both formats (v3, v2) are accepted. It prints the object's chain of custody and exits non-zero on any failure.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readVerifierKey(verifierKey)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			chk, err := vault.VerifyExport(f, vkey)
			if err != nil {
				return fmt.Errorf("%s does not verify: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			m := chk.Manifest
			fmt.Fprintf(out, "OK: %s (%d bytes), exported by %s at %s (entry %d)\n", m.Object.Digest, m.Object.Size, m.ExportedBy,
				m.ExportedAt.Format(time.RFC3339), m.ExportSequence)
			fmt.Fprintf(out, "checkpoint: %s, %d entries, root %x\n", chk.Checkpoint.Origin, chk.Checkpoint.Size, chk.Checkpoint.Root)
			for _, r := range m.Redacted {
				fmt.Fprintf(out, "entry %d is a redacted copy (%s withheld as %s; the entry is in the log by its leaf hash %x)\n",
					r.Seq, strings.Join(r.Fields, ", "), vault.RedactedMarker, r.LeafHash)
			}
			fmt.Fprintln(out)
			return vault.CustodyReport{Filter: vault.ReportFilter{Object: m.Object.Digest}, Entries: chk.Entries, Objects: []vault.Digest{m.Object.Digest}}.WriteText(out)
		},
	}
	cmd.Flags().StringVar(&verifierKey, "verifier-key", "", "the vault's verifier key (name+hash+key) or a file holding it")
	_ = cmd.MarkFlagRequired("verifier-key")
	return cmd
}

type reportOptions struct {
	dataDir      string
	object, cse  string
	actor        string
	since, until string
	asJSON       bool
}

func (o *reportOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dataDir, "data", "", "vault data directory (read only; safe while the vault runs)")
	cmd.Flags().StringVar(&o.object, "object", "", "only entries naming this object (sha256:…)")
	cmd.Flags().StringVar(&o.actor, "actor", "", "only entries by this actor (URI SAN or certificate subject as recorded)")
	cmd.Flags().StringVar(&o.since, "since", "", "only entries at or after this RFC 3339 time")
	cmd.Flags().StringVar(&o.until, "until", "", "only entries before this RFC 3339 time")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print JSON instead of a table")
	_ = cmd.MarkFlagRequired("data")
}

func (o *reportOptions) run(cmd *cobra.Command, actions []vault.Action) error {
	f := vault.ReportFilter{Case: o.cse, Actor: o.actor, Actions: actions}
	if o.object != "" {
		d, err := vault.ParseDigest(o.object)
		if err != nil {
			return fmt.Errorf("--object: %w", err)
		}
		f.Object = d
	}
	for _, t := range []struct {
		flag, value string
		dst         *time.Time
	}{{"since", o.since, &f.Since}, {"until", o.until, &f.Until}} {
		if t.value == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return fmt.Errorf("--%s %q is not an RFC 3339 time (e.g. 2031-03-01T09:00:00Z)", t.flag, t.value)
		}
		*t.dst = parsed
	}
	log, err := os.Open(filepath.Join(o.dataDir, "custody.log"))
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	defer log.Close()
	rep, err := vault.BuildCustodyReport(context.Background(), log, f)
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(cmd.OutOrStdout())
}

func newReportCommand() *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report --data DIR (--object DIGEST | --case REFERENCE)",
		Short: "Print the chain of custody of one object or one case: who did what, when, under which reference",
		Long: `report reads the custody log (read only; it checks every entry's hash as it goes) and
prints every entry about one object, or about every object ingested under one case
reference, with the certificate (subject, issuer, serial, fingerprint) of each actor.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (o.object == "") == (o.cse == "") {
				return errors.New("give exactly one of --object and --case")
			}
			return o.run(cmd, nil)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.cse, "case", "", "every object ingested under this case reference")
	return cmd
}

func newAccessCommand() *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:          "access --data DIR [--actor NAME] [--object DIGEST] [--since T] [--until T]",
		Short:        "Who accessed what: read and export entries of the custody log, filtered",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, []vault.Action{vault.ActionRead, vault.ActionExport})
		},
	}
	o.flags(cmd)
	return cmd
}
