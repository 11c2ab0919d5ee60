package vaultcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// Key names of the S3 credentials, as files in --s3-credentials-dir (a Secret
// mounted as a volume; the names Rook's ObjectBucketClaim Secrets use) or, when
// no directory is given, as environment variables.
const (
	accessKeyIDName     = "AWS_ACCESS_KEY_ID"
	secretAccessKeyName = "AWS_SECRET_ACCESS_KEY"
)

// s3Options select the S3 backend: with --s3-bucket the vault keeps objects and
// its custody log in that bucket under Object Lock (COMPLIANCE mode), and the
// data directory only holds a working copy of the log and objects being uploaded.
type s3Options struct {
	endpoint         string
	bucket           string
	region           string
	prefix           string
	pathStyle        bool
	caFile           string
	credentialsDir   string
	custodyRetention time.Duration
}

func (o *s3Options) flags(f *pflag.FlagSet) {
	f.StringVar(&o.bucket, "s3-bucket", "", "keep evidence in this S3 bucket, which must have Object Lock enabled (versioning on); unset: the filesystem in the data directory")
	f.StringVar(&o.endpoint, "s3-endpoint", "", "URL of the S3 store, e.g. https://rgw.example.org; default: AWS's endpoint for --s3-region")
	f.StringVar(&o.region, "s3-region", "us-east-1", "region the requests are signed for (self-hosted stores accept any)")
	f.StringVar(&o.prefix, "s3-prefix", "", "key prefix in the bucket, e.g. vault-kenya/, so vaults can share a bucket")
	f.BoolVar(&o.pathStyle, "s3-path-style", false, "address the bucket as <endpoint>/<bucket> instead of <bucket>.<endpoint> (most self-hosted stores)")
	f.StringVar(&o.caFile, "s3-ca-file", "", "PEM bundle that verifies the S3 endpoint's certificate; default: the system's roots")
	f.StringVar(&o.credentialsDir, "s3-credentials-dir", "", "directory holding the files "+accessKeyIDName+" and "+secretAccessKeyName+
		" (a Secret mounted as a volume); default: those environment variables")
	f.DurationVar(&o.custodyRetention, "s3-custody-retention", vault.DefaultCustodyRetention,
		"COMPLIANCE retention of each custody log segment from when it is written (a segment recording an ingest is kept at least as long as its object)")
}

func (o *s3Options) enabled() bool { return o.bucket != "" }

// credentials reads the access key pair. Errors name the file or variable,
// never its content.
func (o *s3Options) credentials() (string, string, error) {
	read := func(name string) (string, error) {
		if o.credentialsDir == "" {
			v := os.Getenv(name)
			if v == "" {
				return "", fmt.Errorf("--s3-bucket: no credentials: give --s3-credentials-dir or set %s", name)
			}
			return v, nil
		}
		b, err := os.ReadFile(filepath.Join(o.credentialsDir, name))
		if err != nil {
			return "", fmt.Errorf("--s3-credentials-dir: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("--s3-credentials-dir: %s is empty", filepath.Join(o.credentialsDir, name))
		}
		return v, nil
	}
	id, err := read(accessKeyIDName)
	if err != nil {
		return "", "", err
	}
	secret, err := read(secretAccessKeyName)
	return id, secret, err
}

// store makes the S3 store, spooling objects being uploaded in scratch.
func (o *s3Options) store(scratch string) (*vault.S3Store, error) {
	if o.custodyRetention <= 0 {
		return nil, errors.New("--s3-custody-retention must be positive")
	}
	id, secret, err := o.credentials()
	if err != nil {
		return nil, err
	}
	cfg := vault.S3Config{Endpoint: o.endpoint, Bucket: o.bucket, Region: o.region, PathStyle: o.pathStyle, Prefix: o.prefix,
		AccessKeyID: id, SecretAccessKey: secret, CustodyRetention: o.custodyRetention}
	if o.caFile != "" {
		if cfg.CABundle, err = os.ReadFile(o.caFile); err != nil {
			return nil, fmt.Errorf("--s3-ca-file: %w", err)
		}
	}
	s, err := vault.NewS3Store(cfg, scratch)
	if err != nil {
		return nil, fmt.Errorf("--s3-bucket %s: %w", o.bucket, err)
	}
	return s, nil
}

// recheckStorage checks a refused bucket again every interval until the vault
// serves (see vault.Vault.RecheckStorage), so that a store unreachable at start,
// or a bucket fixed by its administrators, needs no restart.
func recheckStorage(ctx context.Context, v *vault.Vault, interval time.Duration, log logr.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !v.Status().StorageFault {
			continue
		}
		if err := v.RecheckStorage(); err != nil {
			log.Error(err, "the bucket is still refused; checked again later", "interval", interval.String())
		}
	}
}
