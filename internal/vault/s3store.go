package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// S3Config says where an S3Store keeps the vault's objects and custody log.
type S3Config struct {
	// Endpoint is the store's URL, e.g. https://s3.eu-west-1.amazonaws.com or
	// https://rgw.example.org; empty means AWS's endpoint for Region.
	Endpoint string
	// Bucket must have Object Lock enabled (and so versioning on).
	Bucket string
	// Region signs requests; most self-hosted stores accept any, e.g. us-east-1.
	Region string
	// PathStyle addresses the bucket as endpoint/bucket rather than bucket.endpoint
	// (most self-hosted stores need it).
	PathStyle bool
	// AccessKeyID and SecretAccessKey are the vault's credentials. They are never
	// logged nor put in an error.
	AccessKeyID     string
	SecretAccessKey string
	// CABundle (PEM) verifies the endpoint's certificate; empty means the
	// system's roots.
	CABundle []byte
	// Prefix is prepended to every key the vault writes, e.g. "vault-kenya/";
	// empty means the bucket's root.
	Prefix string
	// CustodyRetention is how long each custody log segment is kept under
	// COMPLIANCE retention from when it is written; default DefaultCustodyRetention.
	// A segment recording an ingest is also kept at least as long as the object.
	CustodyRetention time.Duration
	// ProbeRetention is the COMPLIANCE retention of the probe object written at
	// start to see that the store refuses its deletion; default DefaultProbeRetention.
	ProbeRetention time.Duration
	// HTTPClient overrides the client built from CABundle (tests).
	HTTPClient *http.Client `json:"-"`
}

const (
	// DefaultCustodyRetention keeps each custody log segment for ten years: the
	// log must outlive the evidence it describes, and audits come late.
	DefaultCustodyRetention = 10 * 365 * 24 * time.Hour
	// DefaultProbeRetention is short: every start leaves one probe object that
	// nobody can delete before then.
	DefaultProbeRetention = time.Hour
	// s3MaxSinglePut is the largest object S3 accepts in one PUT; larger
	// objects are uploaded in parts.
	s3MaxSinglePut = 5 << 30
	// s3PartSize is the part size of multipart uploads.
	s3PartSize = 256 << 20
)

// ErrLockRefused means the store refused to delete or shorten the retention of
// an object under Object Lock. It is the store doing its job, not a fault to
// retry: the object stays until its retain-until date and legal hold allow.
var ErrLockRefused = errors.New("refused by the store's Object Lock")

// ErrStorageUnusable means the bucket does not give the protection the vault
// relies on (Object Lock, versioning, a refused early deletion), or cannot be
// reached; the vault refuses to serve and says why.
var ErrStorageUnusable = errors.New("storage unusable")

// ObjectLock is the protection the store itself enforces on one object: no
// deletion before RetainUntil (COMPLIANCE mode: nobody, root included, can
// shorten it), and none at all while LegalHold is on.
type ObjectLock struct {
	RetainUntil time.Time
	LegalHold   bool
}

// lockingStore is a BlobStore whose objects carry a store-enforced lock that
// the vault keeps in step with custody: retention extended (never shortened)
// when a case with a later retention attaches, legal hold on while any hold
// is in force.
type lockingStore interface {
	BlobStore
	// SetLock extends the object's retention to at least l.RetainUntil and
	// sets its legal hold to l.LegalHold.
	SetLock(ctx context.Context, d Digest, l ObjectLock) error
	// Lock reports the object's lock as the store holds it.
	Lock(ctx context.Context, d Digest) (ObjectLock, error)
}

// lockingPending is a PendingBlob committed with its lock in the same write:
// the object is never visible without it.
type lockingPending interface {
	CommitLocked(d Digest, l ObjectLock) error
}

// S3Store keeps sealed objects in an S3 bucket with Object Lock in COMPLIANCE
// mode. Layout under Prefix:
//
//	objects/<algorithm>/<hex>     sealed objects; every PUT carries its own
//	                              COMPLIANCE retain-until and legal hold
//	custody/entries/<seq:020d>    the custody log, one segment per entry, each
//	                              under COMPLIANCE retention (see custodySegments)
//	quarantine/<algorithm>/<hex>  a marker per object no custody entry accounts
//	                              for (the object itself cannot be moved: it is locked)
//	probe/<time>-<random>         one per start: the lock check's probe object
//
// Objects are spooled to a local scratch file while they are sealed (their
// key is their digest, known only at the end), then PUT with a SHA-256
// checksum the store verifies. Nothing relies on the bucket's default
// retention rule: servers differ in whether they stamp it on new objects.
type S3Store struct {
	cfg     S3Config
	client  *s3.Client
	scratch string
}

// NewS3Store makes a store for cfg that spools objects in scratch (a local
// directory, e.g. an emptyDir). It does not contact the store; CheckBucket does.
func NewS3Store(cfg S3Config, scratch string) (*S3Store, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("s3: bucket is required")
	case cfg.Region == "":
		return nil, errors.New("s3: region is required (self-hosted stores accept any, e.g. us-east-1)")
	case cfg.AccessKeyID == "" || cfg.SecretAccessKey == "":
		return nil, errors.New("s3: credentials are required (an access key ID and a secret access key)")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return nil, errors.New("s3: the endpoint must be an http:// or https:// URL with a host, e.g. https://rgw.example.org")
		case u.User != nil:
			// Said without echoing the URL: it carries a secret.
			return nil, errors.New("s3: the endpoint must not carry credentials (user:password@); give them as the access key pair")
		}
	}
	if cfg.CustodyRetention <= 0 {
		cfg.CustodyRetention = DefaultCustodyRetention
	}
	if cfg.ProbeRetention <= 0 {
		cfg.ProbeRetention = DefaultProbeRetention
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if len(cfg.CABundle) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CABundle) {
				return nil, errors.New("s3: the CA bundle holds no PEM certificate")
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		hc = &http.Client{Transport: tr}
	}
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		HTTPClient:   hc,
		// Checksums only where an operation requires one (PutObject with a lock
		// does; the vault sets SHA-256 there itself): stores differ in which
		// trailing-checksum encodings they accept.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, fmt.Errorf("s3: scratch directory: %w", err)
	}
	// Spool files of a crashed process were never uploaded, so never acknowledged.
	if leftovers, err := os.ReadDir(scratch); err == nil {
		for _, e := range leftovers {
			if strings.HasPrefix(e.Name(), "spool-") {
				os.Remove(scratch + "/" + e.Name())
			}
		}
	}
	return &S3Store{cfg: cfg, client: s3.New(opts), scratch: scratch}, nil
}

// Bucket names the store's bucket.
func (s *S3Store) Bucket() string { return s.cfg.Bucket }

// Client is the store's S3 client (for tests and the benchmark's baseline).
func (s *S3Store) Client() *s3.Client { return s.client }

func (s *S3Store) objectKey(d Digest) string {
	return s.cfg.Prefix + "objects/" + string(d.Algorithm()) + "/" + d.Hex()
}
func (s *S3Store) quarantineKey(d Digest) string {
	return s.cfg.Prefix + "quarantine/" + string(d.Algorithm()) + "/" + d.Hex()
}
func (s *S3Store) segmentPrefix() string { return s.cfg.Prefix + "custody/entries/" }
func (s *S3Store) segmentKey(seq uint64) string {
	return s.segmentPrefix() + fmt.Sprintf("%020d", seq)
}

// ObjectKey is the bucket key of object d (for tests and people checking a bucket).
func (s *S3Store) ObjectKey(d Digest) string { return s.objectKey(d) }

// retainUntil rounds up to the second S3 keeps, so a lock is never shorter than asked.
func retainUntil(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); r.Equal(t) {
		return r
	}
	return t.Truncate(time.Second).Add(time.Second)
}

func legalHoldStatus(on bool) s3types.ObjectLockLegalHoldStatus {
	if on {
		return s3types.ObjectLockLegalHoldStatusOn
	}
	return s3types.ObjectLockLegalHoldStatusOff
}

// s3Error says what the store answered without echoing request headers (which
// carry the credentials' signature).
func s3Error(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("s3 %s %s: %s: %s", op, key, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("s3 %s %s: %w", op, key, err)
}

// isNotFound reports a missing key or version.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchVersion", "404":
			return true
		}
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// IsLockRefusal reports whether err is the store refusing a deletion (or a
// shortened retention) because of Object Lock. Servers answer it differently:
// AWS and Ceph 403 AccessDenied, Versity and MinIO 400 InvalidRequest with a
// "WORM protected" message.
func IsLockRefusal(err error) bool {
	if errors.Is(err, ErrLockRefused) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "ObjectLocked":
		return true
	case "InvalidRequest", "InvalidArgument":
		msg := strings.ToLower(ae.ErrorMessage())
		return strings.Contains(msg, "worm") || strings.Contains(msg, "lock") || strings.Contains(msg, "retention") || strings.Contains(msg, "legal hold")
	}
	return false
}

// CheckBucketSettings checks, reading only, that the bucket has Object Lock
// enabled and versioning on. Any failure wraps ErrStorageUnusable and says
// what to change; the credentials are never named.
func (s *S3Store) CheckBucketSettings(ctx context.Context) error {
	b := s.cfg.Bucket
	lock, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &b})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ObjectLockConfigurationNotFoundError" {
		return fmt.Errorf("%w: bucket %s does not have Object Lock enabled: create a bucket with Object Lock enabled (most stores cannot turn it on later)", ErrStorageUnusable, b)
	}
	if err != nil {
		return fmt.Errorf("%w: bucket %s: reading its Object Lock configuration failed (%w): create the bucket with Object Lock enabled, "+
			"and give the vault's credentials s3:GetBucketObjectLockConfiguration", ErrStorageUnusable, b, s3Error("GetObjectLockConfiguration", b, err))
	}
	if lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
		return fmt.Errorf("%w: bucket %s does not have Object Lock enabled: create a bucket with Object Lock enabled (most stores cannot turn it on later)", ErrStorageUnusable, b)
	}
	ver, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &b})
	if err != nil {
		return fmt.Errorf("%w: bucket %s: reading its versioning failed: %w", ErrStorageUnusable, b, s3Error("GetBucketVersioning", b, err))
	}
	if ver.Status != s3types.BucketVersioningStatusEnabled {
		return fmt.Errorf("%w: bucket %s: versioning is %q, not Enabled: Object Lock needs it", ErrStorageUnusable, b, string(ver.Status))
	}
	return nil
}

// CheckBucket checks the bucket's settings (CheckBucketSettings), then that the
// store really refuses an early deletion: it writes a probe object under a
// short COMPLIANCE retention and tries to delete it.
func (s *S3Store) CheckBucket(ctx context.Context) error {
	if err := s.CheckBucketSettings(ctx); err != nil {
		return err
	}
	return s.probeLock(ctx)
}

// probeLock writes a probe object under a short COMPLIANCE retention and
// tries to delete its version: a store that lets it go would let evidence go.
func (s *S3Store) probeLock(ctx context.Context) error {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	key := s.cfg.Prefix + "probe/" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(nonce[:])
	body := []byte("cybercoop vault Object Lock probe: this object must not be deletable before its retain-until date\n")
	put, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.cfg.Bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(retainUntil(time.Now().Add(s.cfg.ProbeRetention))),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return fmt.Errorf("%w: bucket %s: writing the probe object %s under COMPLIANCE retention failed: %w", ErrStorageUnusable, s.cfg.Bucket, key, s3Error("PutObject", key, err))
	}
	if put.VersionId == nil || *put.VersionId == "" || *put.VersionId == "null" {
		return fmt.Errorf("%w: bucket %s: the probe object %s was stored without a version ID: versioning does not work", ErrStorageUnusable, s.cfg.Bucket, key)
	}
	ret, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: put.VersionId})
	if err != nil || ret.Retention == nil || ret.Retention.Mode != s3types.ObjectLockRetentionModeCompliance {
		why := "its retention is not COMPLIANCE"
		if err != nil {
			why = s3Error("GetObjectRetention", key, err).Error()
		}
		return fmt.Errorf("%w: bucket %s: the probe object %s did not keep the COMPLIANCE retention it was written with (%s)", ErrStorageUnusable, s.cfg.Bucket, key, why)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: put.VersionId})
	switch {
	case err == nil:
		return fmt.Errorf("%w: bucket %s deleted the probe object %s although it was under COMPLIANCE retention: the store does not enforce Object Lock; "+
			"evidence kept there could be deleted early", ErrStorageUnusable, s.cfg.Bucket, key)
	case !IsLockRefusal(err):
		return fmt.Errorf("%w: bucket %s: deleting the probe object %s failed, but not as a lock refusal: %w", ErrStorageUnusable, s.cfg.Bucket, key, s3Error("DeleteObject", key, err))
	}
	s.removeOldProbes(ctx)
	return nil
}

// removeOldProbes deletes the probe objects of earlier starts whose retention
// has surely ended, so they do not pile up over the years. Best effort: one
// left behind is removed at a later start.
func (s *S3Store) removeOldProbes(ctx context.Context) {
	prefix := s.cfg.Prefix + "probe/"
	before := time.Now().Add(-2 * s.cfg.ProbeRetention)
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, ov := range page.Versions {
			if aws.ToTime(ov.LastModified).Before(before) {
				s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: ov.Key, VersionId: ov.VersionId}) //nolint:errcheck // best effort, see above
			}
		}
	}
}

// s3Pending spools a sealed object to a scratch file until its digest is known.
type s3Pending struct {
	store *S3Store
	f     *os.File
	size  int64
	done  bool
	// uploaded is the lock the object was uploaded with ahead of its commit.
	uploaded *ObjectLock
	// sum is the SHA-256 of the sealed bytes, computed as they are spooled, so
	// the upload's checksum (which the store verifies) costs no second pass.
	sum hash.Hash
}

// Create opens a spool file in the scratch directory.
func (s *S3Store) Create() (PendingBlob, error) {
	f, err := os.CreateTemp(s.scratch, "spool-*")
	if err != nil {
		return nil, fmt.Errorf("creating spool file for an object: %w", err)
	}
	return &s3Pending{store: s, f: f, sum: sha256.New()}, nil
}

func (p *s3Pending) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.sum.Write(b[:n])
	p.size += int64(n)
	return n, err
}

// Commit without a lock is refused: every object the vault stores in S3
// carries its own retention.
func (p *s3Pending) Commit(d Digest) error {
	_ = p.Abort() // the spool file only; the refusal is the error that matters
	return fmt.Errorf("committing object %s: the S3 store needs the object's lock (CommitLocked)", d)
}

// CommitLocked uploads the object under its digest with its COMPLIANCE
// retention and legal hold in the same request(s). It returns once the store
// has answered that the object is stored.
func (p *s3Pending) CommitLocked(d Digest, l ObjectLock) error {
	if p.done {
		return errors.New("object already committed or aborted")
	}
	if p.uploaded != nil {
		defer func() { _ = p.Abort() }() // the spool file, once the object is in the bucket
		if !p.uploaded.RetainUntil.Equal(l.RetainUntil) || p.uploaded.LegalHold != l.LegalHold {
			return p.store.SetLock(context.Background(), d, l)
		}
		return nil
	}
	return p.uploadAhead(d, l)
}

// uploadAhead uploads the object with its lock; the spool file is kept until
// CommitLocked or Abort, and is not uploaded again.
func (p *s3Pending) uploadAhead(d Digest, l ObjectLock) error {
	if p.done || p.uploaded != nil {
		return errors.New("object already uploaded, committed or aborted")
	}
	sum := base64.StdEncoding.EncodeToString(p.sum.Sum(nil))
	if err := p.store.upload(context.Background(), p.store.objectKey(d), p.f, p.size, l, nil, sum); err != nil {
		_ = p.Abort() // the spool file; the upload's error is what matters
		return err
	}
	p.uploaded = &l
	return nil
}

func (p *s3Pending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.f.Close()
	return os.Remove(p.f.Name())
}

// upload PUTs size bytes of r under key with lock, in one request up to
// s3MaxSinglePut and in parts beyond (the lock is then set when the upload is
// created, so the assembled object carries it).
//
// sha256sum, if not empty, is the base64 SHA-256 of the whole object, sent as its
// checksum instead of the client computing it again.
func (s *S3Store) upload(ctx context.Context, key string, r io.ReaderAt, size int64, l ObjectLock, meta map[string]string, sha256sum string) error {
	until := aws.Time(retainUntil(l.RetainUntil))
	if size <= s3MaxSinglePut {
		in := &s3.PutObjectInput{
			Bucket: &s.cfg.Bucket, Key: &key, Body: io.NewSectionReader(r, 0, size), ContentLength: aws.Int64(size),
			ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: until,
			ObjectLockLegalHoldStatus: legalHoldStatus(l.LegalHold), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256, Metadata: meta,
		}
		if sha256sum != "" {
			in.ChecksumSHA256 = aws.String(sha256sum)
		}
		_, err := s.client.PutObject(ctx, in)
		if err != nil {
			return s3Error("PutObject", key, err)
		}
		return nil
	}
	mp, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: &key, ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: until,
		ObjectLockLegalHoldStatus: legalHoldStatus(l.LegalHold), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256, Metadata: meta,
	})
	if err != nil {
		return s3Error("CreateMultipartUpload", key, err)
	}
	var parts []s3types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+s3PartSize {
		length := min(s3PartSize, size-off)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: mp.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(r, off, length), ContentLength: aws.Int64(length), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
		if err != nil {
			s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: mp.UploadId}) //nolint:errcheck // the upload error is what matters
			return s3Error("UploadPart", key, err)
		}
		parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: mp.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return s3Error("CompleteMultipartUpload", key, err)
	}
	return nil
}

// Open streams the object's newest version. A delete marker (a DELETE
// without a version ID, which the lock does not forbid) hides nothing: the
// locked version under it is read.
func (s *S3Store) Open(d Digest) (io.ReadCloser, error) {
	ctx := context.Background()
	key := s.objectKey(d)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if isNotFound(err) {
		versions, _, lerr := s.versionsOf(ctx, key)
		if lerr != nil {
			return nil, lerr
		}
		if len(versions) == 0 {
			return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
		}
		out, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: aws.String(versions[len(versions)-1])})
	}
	if err != nil {
		return nil, s3Error("GetObject", key, err)
	}
	return out.Body, nil
}

// Exists reports whether the object has a version.
func (s *S3Store) Exists(d Digest) (bool, error) {
	ctx := context.Background()
	key := s.objectKey(d)
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if isNotFound(err) {
		versions, _, lerr := s.versionsOf(ctx, key)
		return len(versions) > 0, lerr
	}
	if err != nil {
		return false, s3Error("HeadObject", key, err)
	}
	return true, nil
}

// Remove deletes every version of the object (and any delete marker), which
// the store allows only once retention has ended and no legal hold is on; a
// refusal wraps ErrLockRefused.
func (s *S3Store) Remove(d Digest) error {
	ctx := context.Background()
	key := s.objectKey(d)
	versions, markers, err := s.versionsOf(ctx, key)
	if err != nil {
		return err
	}
	for _, id := range versions {
		// A legal hold left on by a release whose lock update was cut off: the
		// vault removes an object only when custody holds none.
		s.client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: aws.String(id), //nolint:errcheck // the deletion says whether the object is still locked
			LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOff}, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	}
	for _, id := range append(versions, markers...) {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: aws.String(id)})
		if err != nil && !isNotFound(err) {
			if IsLockRefusal(err) {
				return fmt.Errorf("removing object %s (version %s): %w: %w", d, id, ErrLockRefused, s3Error("DeleteObject", key, err))
			}
			return fmt.Errorf("removing object %s: %w", d, s3Error("DeleteObject", key, err))
		}
	}
	return nil
}

// versionsOf lists the version IDs of key (oldest first) and its delete markers.
func (s *S3Store) versionsOf(ctx context.Context, key string) (versions, markers []string, err error) {
	type v struct {
		id string
		at time.Time
	}
	var found []v
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.cfg.Bucket, Prefix: &key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s3Error("ListObjectVersions", key, err)
		}
		for _, ov := range page.Versions {
			if aws.ToString(ov.Key) == key {
				found = append(found, v{aws.ToString(ov.VersionId), aws.ToTime(ov.LastModified)})
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				markers = append(markers, aws.ToString(m.VersionId))
			}
		}
	}
	// S3 lists a key's versions newest first; modification times can tie
	// (second precision), so the listing order decides between equals.
	slices.Reverse(found)
	slices.SortStableFunc(found, func(a, b v) int { return a.at.Compare(b.at) })
	for _, f := range found {
		versions = append(versions, f.id)
	}
	return versions, markers, nil
}

// List returns the objects in objects/ that have no quarantine marker, and
// keys there that are not content addresses.
func (s *S3Store) List() ([]Digest, []string, error) {
	ctx := context.Background()
	quarantined := map[string]bool{}
	if err := s.listKeys(ctx, s.cfg.Prefix+"quarantine/", func(rest string) { quarantined[rest] = true }); err != nil {
		return nil, nil, err
	}
	var objects []Digest
	var strays []string
	err := s.listKeys(ctx, s.cfg.Prefix+"objects/", func(rest string) {
		if quarantined[rest] {
			return
		}
		alg, hexPart, _ := strings.Cut(rest, "/")
		d, err := ParseDigest(alg + ":" + hexPart)
		if err != nil {
			strays = append(strays, "objects/"+rest)
			return
		}
		objects = append(objects, d)
	})
	return objects, strays, err
}

func (s *S3Store) listKeys(ctx context.Context, prefix string, fn func(rest string)) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s3Error("ListObjectsV2", prefix, err)
		}
		for _, o := range page.Contents {
			fn(strings.TrimPrefix(aws.ToString(o.Key), prefix))
		}
	}
	return nil
}

// Quarantine marks d as an object no custody entry accounts for. The object
// itself stays where it is (its lock forbids moving it) and is no longer
// listed as a candidate for evidence.
func (s *S3Store) Quarantine(d Digest) error {
	key := s.quarantineKey(d)
	body := []byte("object " + string(d) + " was stored but never recorded in the custody log (an ingest interrupted before it was acknowledged); quarantined " +
		time.Now().UTC().Format(time.RFC3339) + "\n")
	if _, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))}); err != nil {
		return fmt.Errorf("quarantining object %s: %w", d, s3Error("PutObject", key, err))
	}
	return nil
}

// SetLock extends the object's COMPLIANCE retention to at least l.RetainUntil
// (never shortening it) and sets its legal hold.
func (s *S3Store) SetLock(ctx context.Context, d Digest, l ObjectLock) error {
	key := s.objectKey(d)
	vid, err := s.servedVersion(ctx, key)
	if err != nil {
		return err
	}
	have, err := s.lockOf(ctx, d, vid)
	if err != nil {
		return err
	}
	if want := retainUntil(l.RetainUntil); want.After(have.RetainUntil) {
		if _, err := s.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: vid,
			Retention:         &s3types.ObjectLockRetention{Mode: s3types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(want)},
			ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			return fmt.Errorf("extending the retention of object %s to %s: %w", d, want.Format(time.RFC3339), s3Error("PutObjectRetention", key, err))
		}
	}
	if have.LegalHold != l.LegalHold {
		if _, err := s.client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: vid,
			LegalHold: &s3types.ObjectLockLegalHold{Status: legalHoldStatus(l.LegalHold)}, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			return fmt.Errorf("setting the legal hold of object %s: %w", d, s3Error("PutObjectLegalHold", key, err))
		}
	}
	return nil
}

// servedVersion is the version of key the vault reads (Open): the current one,
// or under a delete marker the newest real one.
func (s *S3Store) servedVersion(ctx context.Context, key string) (*string, error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err == nil {
		return head.VersionId, nil
	}
	if !isNotFound(err) {
		return nil, s3Error("HeadObject", key, err)
	}
	versions, _, err := s.versionsOf(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return aws.String(versions[len(versions)-1]), nil
}

// Lock reads the retention and legal hold of the version of the object the
// vault reads.
func (s *S3Store) Lock(ctx context.Context, d Digest) (ObjectLock, error) {
	vid, err := s.servedVersion(ctx, s.objectKey(d))
	if err != nil {
		return ObjectLock{}, err
	}
	return s.lockOf(ctx, d, vid)
}

func (s *S3Store) lockOf(ctx context.Context, d Digest, vid *string) (ObjectLock, error) {
	key := s.objectKey(d)
	var l ObjectLock
	ret, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: vid})
	switch {
	case err == nil && ret.Retention != nil:
		if ret.Retention.Mode != s3types.ObjectLockRetentionModeCompliance {
			return l, fmt.Errorf("object %s is under %s retention, not COMPLIANCE", d, ret.Retention.Mode)
		}
		l.RetainUntil = aws.ToTime(ret.Retention.RetainUntilDate)
	case err != nil && !isNoLockConfig(err):
		return l, fmt.Errorf("reading the retention of object %s: %w", d, s3Error("GetObjectRetention", key, err))
	}
	hold, err := s.client.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: vid})
	switch {
	case err == nil && hold.LegalHold != nil:
		l.LegalHold = hold.LegalHold.Status == s3types.ObjectLockLegalHoldStatusOn
	case err != nil && !isNoLockConfig(err):
		return l, fmt.Errorf("reading the legal hold of object %s: %w", d, s3Error("GetObjectLegalHold", key, err))
	}
	return l, nil
}

// isNoLockConfig is the answer for an object without retention or legal hold.
func isNoLockConfig(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "NoSuchObjectLegalHold", "InvalidRequest":
		return true
	}
	return false
}

// putSegment stores custody entry seq's line (newline included) under
// COMPLIANCE retention, only if no segment seq exists (If-None-Match: *): a
// second vault process on the same bucket and prefix, which would fork the
// chain, is refused by the store instead of writing a second version. It is
// one of custodySegments.
func (s *S3Store) putSegment(ctx context.Context, seq uint64, line []byte, hash string, until time.Time) error {
	key := s.segmentKey(seq)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.cfg.Bucket, Key: &key, Body: bytes.NewReader(line), ContentLength: aws.Int64(int64(len(line))),
		ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(retainUntil(until)),
		ObjectLockLegalHoldStatus: s3types.ObjectLockLegalHoldStatusOff, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		Metadata: map[string]string{"entry-hash": hash}, IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		return s3Error("PutObject", key, err)
	}
	return nil
}

// segmentHash reports whether segment seq exists and the entry hash it was
// written with (from its first version).
func (s *S3Store) segmentHash(ctx context.Context, seq uint64) (bool, string, error) {
	key := s.segmentKey(seq)
	versions, _, err := s.versionsOf(ctx, key)
	if err != nil || len(versions) == 0 {
		return false, "", err
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: aws.String(versions[0])})
	if err != nil {
		return true, "", s3Error("HeadObject", key, err)
	}
	return true, head.Metadata["entry-hash"], nil
}

// custodySegment is one segment found in the bucket.
type custodySegment struct {
	seq      uint64
	key      string
	version  string // the first version written: later ones are not the vault's
	versions int
}

// listSegments lists the custody segments in sequence order, and keys under
// custody/entries/ that are not segment names. Delete markers hide nothing
// from it: versions are listed, not current objects.
func (s *S3Store) listSegments(ctx context.Context) ([]custodySegment, []string, error) {
	prefix := s.segmentPrefix()
	bySeq := map[uint64]*custodySegment{}
	type ver struct {
		id string
		at time.Time
	}
	first := map[uint64]ver{}
	var strays []string
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s3Error("ListObjectVersions", prefix, err)
		}
		for _, ov := range page.Versions {
			key := aws.ToString(ov.Key)
			name := strings.TrimPrefix(key, prefix)
			seq, err := strconv.ParseUint(name, 10, 64)
			if err != nil || len(name) != 20 || seq == 0 {
				strays = append(strays, key)
				continue
			}
			seg := bySeq[seq]
			if seg == nil {
				seg = &custodySegment{seq: seq, key: key}
				bySeq[seq] = seg
			}
			seg.versions++
			// Versions are listed newest first: on a tied time the later listed is older.
			at := aws.ToTime(ov.LastModified)
			if f, ok := first[seq]; !ok || !at.After(f.at) {
				first[seq] = ver{aws.ToString(ov.VersionId), at}
			}
		}
	}
	out := make([]custodySegment, 0, len(bySeq))
	for seq, seg := range bySeq {
		seg.version = first[seq].id
		out = append(out, *seg)
	}
	slices.SortFunc(out, func(a, b custodySegment) int { return cmpUint64(a.seq, b.seq) })
	return out, strays, nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readSegment reads one version of a segment.
func (s *S3Store) readSegment(ctx context.Context, seg custodySegment) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &seg.key, VersionId: &seg.version})
	if err != nil {
		return nil, s3Error("GetObject", seg.key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, MaxEntryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading custody segment %s: %w", seg.key, err)
	}
	return b, nil
}

// CustodyLog reads the custody log from the bucket's segments, in order, up
// to entry upTo (0: all). It fails if a segment is missing (a gap) or is not
// one whole line; a segment written over (more than one version) is read in
// its first version and reported in overwritten.
func (s *S3Store) CustodyLog(ctx context.Context, upTo uint64) (log []byte, overwritten []uint64, err error) {
	segs, strays, err := s.listSegments(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(strays) > 0 {
		return nil, nil, fmt.Errorf("custody segments: keys that are not segment names under %s: %v", s.segmentPrefix(), strays)
	}
	for i, seg := range segs {
		if upTo > 0 && seg.seq > upTo {
			segs = segs[:i]
			break
		}
		if seg.seq != uint64(i)+1 {
			return nil, nil, fmt.Errorf("custody segment %d is missing from bucket %s (the next present is %d): acknowledged entries are missing; "+
				"the store's own administrators must restore it", uint64(i)+1, s.cfg.Bucket, seg.seq)
		}
		if seg.versions > 1 {
			overwritten = append(overwritten, seg.seq)
		}
	}
	// One request per entry: several at once, so that a long log is read in
	// a fraction of the time (the order is restored by index).
	lines := make([][]byte, len(segs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(segmentReaders)
	for i, seg := range segs {
		g.Go(func() error {
			b, err := s.readSegment(gctx, seg)
			if err != nil {
				return err
			}
			if len(b) == 0 || bytes.IndexByte(b, '\n') != len(b)-1 {
				return fmt.Errorf("custody segment %d in bucket %s is not one whole entry line", seg.seq, s.cfg.Bucket)
			}
			lines[i] = b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return bytes.Join(lines, nil), overwritten, nil
}

// segmentReaders is how many custody segments are read at once.
const segmentReaders = 16
