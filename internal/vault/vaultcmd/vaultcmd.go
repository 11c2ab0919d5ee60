// Package vaultcmd is the command-line face of the evidence vault:
// `cybercoop vault` serves it; its subcommands verify a data directory or an
// export offline, make and show the checkpoint signing key, and print
// chain-of-custody reports and access queries.
package vaultcmd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

type serveOptions struct {
	dataDir        string
	listen         string
	healthListen   string
	tlsCert        string
	tlsKey         string
	clientCA       string
	keyring        string
	signingKey     string
	hash           string
	reloadInterval time.Duration
	minRetention   time.Duration
	holdByDefault  bool
	limits         vault.Limits
	s3             s3Options
	// grants holds each role's --<role flag> values, taken whole.
	grants map[vault.Role]*[]string
}

// roleFlags names the flag that grants each role.
var roleFlags = []struct {
	role vault.Role
	flag string
	help string
}{
	{vault.RoleIngest, "ingester", "may ingest objects; default: every authenticated client"},
	{vault.RoleRead, "reader", "may read and export objects, presenting the object's authorisation reference; default: every authenticated client"},
	{vault.RoleHold, "holder", "may place legal holds; default: every authenticated client"},
	{vault.RoleRelease, "releaser", "may release legal holds (privileged); default: nobody"},
	{vault.RoleExpire, "expirer", "may expire objects whose retention ended (privileged); default: nobody"},
	{vault.RoleVerify, "verifier", "may start a full verification (privileged: it reads everything); default: nobody"},
	{vault.RoleList, "lister", "may list every object and read custody reports (auditors); default: nobody, clients see the objects of the cases they ingested"},
	{vault.RoleRelay, "relay", "may ingest on behalf of another party (metadata onBehalfOf: the custody entry names that party as the actor and this client as via), e.g. the gateway recording peer States' requests (privileged); default: nobody"},
}

const principalHelp = " (repeatable; each value is one client, taken whole: '*' for every authenticated client, a URI SAN such as spiffe://example.org/ns/police/sa/intake, sha256:<certificate fingerprint>, or a distinguished name such as 'CN=alice,O=Police KE', compared as a name)"

// NewCommand returns the `vault` command. Running it serves the evidence API
// until SIGINT or SIGTERM; `vault verify` checks a data directory offline.
func NewCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Serve the evidence vault (mutual TLS) or verify one offline",
		Long: `vault stores evidence content-addressed and encrypted at rest, and records every
action on it in an append-only custody log that is also a Merkle tree with signed
checkpoints. The evidence API is served over HTTPS with mutual TLS only; the client
certificate (URI SAN, else subject, with issuer, serial and fingerprint) is the actor
recorded in the custody log, and the role flags say who may do what. Certificates, the
client CA bundle and the keyring are re-read every --reload-interval without a restart.
See docs/vault.md.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: false,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/cybercoop/vault", "directory holding the custody log and the sealed objects (one vault process per directory)")
	f.StringVar(&o.listen, "listen", ":8443", "address of the mutual-TLS evidence API")
	f.StringVar(&o.healthListen, "health-listen", "127.0.0.1:8081", "address of the plain-HTTP /healthz, /readyz and /metrics endpoints (no evidence is reachable there); loopback by default, set e.g. :8081 for kubelet probes and Prometheus; empty disables them")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM server certificate (chain) file for the evidence API")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&o.clientCA, "client-ca", "", "PEM bundle of the CAs client certificates must chain to")
	f.StringVar(&o.keyring, "keyring", "", "keyring: a directory of key files named by version (1, 2, …) or one file of <version>:<key> lines; keys are 32 bytes raw, hex or base64; the highest version seals new objects; a version's key may never change (fingerprints are kept in the data directory)")
	f.StringVar(&o.signingKey, "signing-key", "", "file holding the signed-note private key (from `cybercoop vault keygen`) that signs checkpoints and export manifests; default: a key kept in --data-dir, created on first start (prefer a key from a Secret)")
	f.StringVar(&o.hash, "hash", string(vault.SHA256), "content-address hash of new objects: sha256 or sha512")
	f.DurationVar(&o.reloadInterval, "reload-interval", 30*time.Second, "how often certificate, CA and keyring files are checked for changes")
	f.DurationVar(&o.minRetention, "min-retention", vault.DefaultMinRetention, "shortest retention an ingest may ask for (retentionUntil minus now)")
	f.BoolVar(&o.holdByDefault, "legal-hold-default", false, `place a legal hold on every ingested object unless its metadata says "hold": false; the hold is a custody entry by system:vault under the ingest's caseReference and legalBasis, released only by the release role`)
	f.IntVar(&o.limits.MaxIngests, "max-ingests", 8, "ingests that may run at once; more are answered 429")
	f.IntVar(&o.limits.MaxIngestsPerClient, "max-ingests-per-client", 2, "ingests one client may run at once; more are answered 429")
	f.DurationVar(&o.limits.BodyIdleTimeout, "body-idle-timeout", 30*time.Second, "a request body that sends nothing for this long is cut off")
	f.Int64Var(&o.limits.MinBodyRate, "min-body-rate", 1024, "slowest request body accepted, in bytes per second averaged over --body-rate-window")
	f.DurationVar(&o.limits.BodyRateWindow, "body-rate-window", 30*time.Second, "span over which --min-body-rate is measured")
	o.s3.flags(f)
	o.grants = map[vault.Role]*[]string{}
	for _, rf := range roleFlags {
		values := new([]string)
		o.grants[rf.role] = values
		f.StringArrayVar(values, rf.flag, nil, "client that "+rf.help+principalHelp)
	}
	for _, name := range []string{"tls-cert", "tls-key", "client-ca", "keyring"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.AddCommand(newVerifyCommand(), newKeygenCommand(), newVerifierKeyCommand(), newVerifyExportCommand(), newReportCommand(), newAccessCommand())
	return cmd
}

func newLogger(w io.Writer) logr.Logger {
	return funcr.NewJSON(func(obj string) { fmt.Fprintln(w, obj) }, funcr.Options{})
}

func serve(ctx context.Context, o serveOptions, stderr io.Writer) error {
	log := newLogger(stderr)
	alg, err := vault.ParseHashAlgorithm(o.hash)
	if err != nil {
		return fmt.Errorf("--hash: %w", err)
	}
	if o.reloadInterval <= 0 {
		return fmt.Errorf("--reload-interval %s must be positive", o.reloadInterval)
	}
	kr, err := vault.LoadKeyring(o.keyring)
	if err != nil {
		return fmt.Errorf("--keyring: %w", err)
	}
	grants, err := o.buildGrants()
	if err != nil {
		return err
	}
	var signer *vault.Signer
	if o.signingKey != "" {
		b, err := os.ReadFile(o.signingKey)
		if err != nil {
			return fmt.Errorf("--signing-key: %w", err)
		}
		if signer, err = vault.LoadSigner(b); err != nil {
			return fmt.Errorf("--signing-key %s: %w", o.signingKey, err)
		}
	}
	if o.minRetention <= 0 {
		return fmt.Errorf("--min-retention %s must be positive", o.minRetention)
	}
	cfg := vault.Config{Dir: o.dataDir, Keyring: kr, Hash: alg, Grants: grants, Signer: signer,
		Policy: vault.Policy{MinRetention: o.minRetention, LegalHoldDefault: o.holdByDefault}, Logger: log}
	if o.s3.enabled() {
		if signer == nil {
			// The data directory is scratch with S3: a key kept there would be
			// replaced at the next reschedule, and old checkpoints unverifiable.
			return errors.New("--s3-bucket needs --signing-key: the data directory holds no lasting state with S3")
		}
		if cfg.Store, err = o.s3.store(filepath.Join(o.dataDir, "spool")); err != nil {
			return err
		}
		log.Info("evidence kept in S3 under Object Lock (COMPLIANCE)", "bucket", o.s3.bucket, "endpoint", o.s3.endpoint, "prefix", o.s3.prefix)
	}
	v, err := vault.Open(cfg)
	if err != nil {
		return err
	}
	log.Info("roles", "grants", grants.String(), "verifierKey", v.VerifierKey(), "legalHoldDefault", o.holdByDefault)
	if err := v.Fault(); err != nil {
		log.Error(err, "the vault refuses every request and reports not ready until this is resolved")
	}
	defer v.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.s3.enabled() {
		go recheckStorage(ctx, v, max(o.reloadInterval, time.Minute), log)
	}
	return vault.Serve(ctx, v, vault.ServeConfig{
		Listen: o.listen, HealthListen: o.healthListen,
		CertFile: o.tlsCert, KeyFile: o.tlsKey, ClientCAFile: o.clientCA,
		ReloadInterval: o.reloadInterval, KeyringPath: o.keyring, Logger: log, Limits: o.limits,
		Ready: func(api, health net.Addr) {
			log.Info("vault serving", "api", api.String(), "health", fmt.Sprint(health), "keyring", kr.String())
		},
	})
}

func (o serveOptions) buildGrants() (vault.Grants, error) {
	grants := vault.DefaultGrants()
	for _, rf := range roleFlags {
		values := *o.grants[rf.role]
		if len(values) == 0 {
			continue
		}
		ps, err := vault.ParsePrincipals("--"+rf.flag, values)
		if err != nil {
			return nil, err
		}
		grants[rf.role] = ps
	}
	return grants, nil
}

// ErrFindings is returned by `vault verify` when verification found problems,
// so the process exits non-zero.
var ErrFindings = errors.New("verification found problems")

func newVerifyCommand() *cobra.Command {
	var dataDir, keyring, checkpointFile, verifierKey string
	var s3o s3Options
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a vault data directory offline: custody chain, every object's digest and, given one, a signed checkpoint",
		Long: `verify recomputes the custody log's hash chain and decrypts and hashes every live
object. It opens nothing for writing and records nothing, so it is safe on a copy or a
snapshot. Every problem is printed with the custody entry or object it concerns, and the
command exits non-zero if there is any.

With --checkpoint (a signed checkpoint kept outside the vault, e.g. copied from an
EvidenceVault's status or saved from GET /v1/checkpoint) and --verifier-key, it also checks
the checkpoint's signature, that the log holds at least as many entries as the checkpoint
commits to, and that its first entries hash to the checkpoint's root: a log rolled back,
shortened or rewritten since the checkpoint was signed is a finding, even when the data
directory is consistent in itself. A checkpoint that does not verify is an error.

With --s3-bucket (and the other --s3-* flags of the serving vault) instead of --data, it
verifies a vault kept in S3: the custody log is read from the bucket's segments (their
first versions), every object is read from the bucket, each object's Object Lock must be
at least what custody records (COMPLIANCE retention until the object's retention, legal
hold while held), and the bucket must have Object Lock and versioning enabled. Nothing
is written to the bucket.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (checkpointFile == "") != (verifierKey == "") {
				return errors.New("--checkpoint and --verifier-key go together: the checkpoint is checked with the vault's verifier key")
			}
			var signed []byte
			var vkey string
			if checkpointFile != "" {
				var err error
				if vkey, err = readVerifierKey(verifierKey); err != nil {
					return err
				}
				if checkpointFile == "-" {
					signed, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				} else {
					signed, err = os.ReadFile(checkpointFile)
				}
				if err != nil {
					return fmt.Errorf("--checkpoint: %w", err)
				}
			}
			if (dataDir == "") == !s3o.enabled() {
				return errors.New("give exactly one of --data (a data directory) and --s3-bucket (a vault kept in S3)")
			}
			kr, err := vault.LoadKeyring(keyring)
			if err != nil {
				return fmt.Errorf("--keyring: %w", err)
			}
			var store *vault.S3Store
			where := dataDir
			var rep vault.Report
			if s3o.enabled() {
				scratch, err := os.MkdirTemp("", "vault-verify-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(scratch)
				if store, err = s3o.store(scratch); err != nil {
					return err
				}
				where = "bucket " + s3o.bucket
				rep, err = vault.VerifyS3(cmd.Context(), store, kr, nil)
				if err != nil {
					return err
				}
			} else if rep, err = vault.VerifyOffline(cmd.Context(), dataDir, kr, nil); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "verified %d custody entries, %d objects, %d bytes\n", rep.Entries, rep.Objects, rep.Bytes)
			if signed != nil {
				var chk vault.CheckpointCheck
				if store != nil {
					chk, err = vault.VerifyCheckpointS3(cmd.Context(), store, signed, vkey)
				} else {
					chk, err = vault.VerifyCheckpointOffline(dataDir, signed, vkey)
				}
				if err != nil {
					return fmt.Errorf("--checkpoint %s: %w", checkpointFile, err)
				}
				c := chk.Checkpoint
				fmt.Fprintf(out, "checkpoint: %s, %d entries, root %s (signature verified); the log holds %d entries\n",
					c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root), chk.Entries)
				rep.Findings = append(rep.Findings, chk.Findings...)
			}
			for _, f := range rep.Findings {
				fmt.Fprintf(out, "FINDING: %s\n", f)
			}
			if !rep.OK() {
				return fmt.Errorf("%w: %d finding(s) in %s", ErrFindings, len(rep.Findings), where)
			}
			fmt.Fprintln(out, "OK")
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "vault data directory to verify (the --data-dir of the serving vault); or give --s3-bucket")
	cmd.Flags().StringVar(&keyring, "keyring", "", "keyring directory or file holding every key version the objects are sealed under")
	cmd.Flags().StringVar(&checkpointFile, "checkpoint", "", "file holding a signed checkpoint of this vault kept elsewhere ('-' reads standard input); the log must extend it")
	cmd.Flags().StringVar(&verifierKey, "verifier-key", "", "the vault's verifier key (name+hash+key) or a file holding it; required with --checkpoint")
	s3o.flags(cmd.Flags())
	_ = cmd.MarkFlagRequired("keyring")
	return cmd
}
