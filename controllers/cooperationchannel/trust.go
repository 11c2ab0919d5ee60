package cooperationchannel

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// specBundle is spec.peer.trustBundle as read: its PEM, or why there is none.
type specBundle struct {
	pem []byte
	// problem says why there is no PEM to read (a missing Secret or key); a person
	// must act, so it is reported, not retried.
	problem string
}

// readSpecBundle reads spec.peer.trustBundle. A secretRef Secret is the user's, not
// the operator's: it carries no managed-by label, so the manager's label-filtered
// cache does not hold it, and it is read from the API server (r.APIReader). Not
// through the reconciler's client: that client may answer "absent" from a names
// cache (manageropts.ReconcilerClientWithNames), which can lag behind the watch
// that woke this reconcile when a person creates the Secret; the channel would
// then report the new Secret missing and wait for an event that already came.
// That read is one GET per reconcile of a channel that names a Secret; what tells
// the channel that the Secret changed is the metadata-only watch in
// SetupWithManager, not a requeue.
func (r *Reconciler) readSpecBundle(ctx context.Context, cc *cybercoopv1alpha1.CooperationChannel) (specBundle, error) {
	tb := cc.Spec.Peer.TrustBundle
	if tb.SecretRef == nil {
		return specBundle{pem: []byte(tb.PEM)}, nil
	}
	ref := tb.SecretRef
	key := cmp.Or(ref.Key, pki.CACertKey)
	sec := &corev1.Secret{}
	err := r.apiReader().Get(ctx, types.NamespacedName{Namespace: cc.Namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return specBundle{problem: fmt.Sprintf("spec.peer.trustBundle.secretRef: Secret %q does not exist in namespace %s; create it with the peer's CA certificates under key %q",
			ref.Name, cc.Namespace, key)}, nil
	case err != nil:
		return specBundle{}, fmt.Errorf("reading Secret %s (spec.peer.trustBundle.secretRef): %w", ref.Name, err)
	}
	data, ok := sec.Data[key]
	if !ok {
		return specBundle{problem: fmt.Sprintf("spec.peer.trustBundle.secretRef: Secret %q has no key %q (it has %s)",
			ref.Name, key, describeKeys(sec.Data))}, nil
	}
	return specBundle{pem: data}, nil
}

func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

func describeKeys(data map[string][]byte) string {
	if len(data) == 0 {
		return "no keys"
	}
	keys := slices.Sorted(maps.Keys(data))
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%q", truncate(k, 64))
	}
	return "keys " + strings.Join(keys, ", ")
}

// parsedBundle is what spec.peer.trustBundle holds.
type parsedBundle struct {
	// usable are the CA certificates valid at the time of parsing, without duplicates.
	usable []*x509.Certificate
	// rejected says, for every other block, which one and why: by number and subject,
	// never by its bytes.
	rejected []string
	// validFrom are the NotBefore times of CA certificates not valid yet.
	validFrom []time.Time
}

// parseBundle reads every PEM block of a peer's trust bundle and keeps the CA
// certificates (basic constraints CA, keyCertSign) valid at now. Text around the
// blocks is ignored, as PEM readers do; a bundle without any block is reported.
func parseBundle(data []byte, now time.Time) (parsedBundle, string) {
	var out parsedBundle
	seen := map[string]bool{}
	rest := data
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			why := "only the peer's CA certificates belong in a trust bundle"
			if strings.Contains(block.Type, "PRIVATE KEY") {
				why = "a private key never belongs in a trust bundle: remove it, and consider it disclosed"
			}
			out.rejected = append(out.rejected, fmt.Sprintf("PEM block %d is a %q block, not a certificate (%s)", n, truncate(block.Type, 40), why))
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			out.rejected = append(out.rejected, fmt.Sprintf("PEM block %d does not parse as an X.509 certificate (%s)", n, truncate(err.Error(), 120)))
			continue
		}
		name := fmt.Sprintf("certificate %d (%s)", n, subjectOf(c))
		switch {
		case !c.BasicConstraintsValid || !c.IsCA:
			out.rejected = append(out.rejected, name+" is not a CA certificate (basic constraints CA:TRUE): a peer's leaf or server certificate cannot be trusted as its CA")
		case c.KeyUsage&x509.KeyUsageCertSign == 0:
			out.rejected = append(out.rejected, name+" is a CA without the keyCertSign key usage, so it may not issue certificates")
		case now.After(c.NotAfter):
			out.rejected = append(out.rejected, fmt.Sprintf("%s expired at %s", name, rfc3339(c.NotAfter)))
		case now.Before(c.NotBefore):
			out.rejected = append(out.rejected, fmt.Sprintf("%s is not valid before %s", name, rfc3339(c.NotBefore)))
			out.validFrom = append(out.validFrom, c.NotBefore)
		default:
			if fp := ca.Fingerprint(c); !seen[fp] {
				seen[fp] = true
				out.usable = append(out.usable, c)
			}
		}
	}
	if n == 0 {
		return out, "spec.peer.trustBundle holds no PEM block; it must hold the peer's CA certificates in PEM form (BEGIN CERTIFICATE blocks)"
	}
	return out, ""
}

// trustRecord is what TrustRecordAnnotation says of one trusted CA.
type trustRecord struct {
	Source string    `json:"source"`
	Since  time.Time `json:"since"`
	// ExpiryWarned: the Warning that every usable CA of the peer expires soon was
	// sent about this CA, so it is sent once, not at every reconcile.
	ExpiryWarned bool `json:"expiryWarned,omitempty"`
}

func (r trustRecord) equal(o trustRecord) bool {
	return r.Source == o.Source && r.Since.Equal(o.Since) && r.ExpiryWarned == o.ExpiryWarned
}

// liveTrust is the peer trust as stored: in the client Secret (PeerTrustKey and
// TrustRecordAnnotation), or, until the channel first writes it there, in the
// trust ConfigMap of earlier releases.
type liveTrust struct {
	exists bool
	// cas are the certificates of its PEM, by fingerprint.
	cas map[string]*x509.Certificate
	// records are its TrustRecordAnnotation, by fingerprint; empty when unreadable.
	records map[string]trustRecord
	// pem and recordsJSON are as stored, kept as they are while the spec's bundle
	// cannot be read.
	pem         []byte
	recordsJSON string
	// fromConfigMap: read from the legacy trust ConfigMap, the Secret holding none.
	fromConfigMap bool
	// configMap: the legacy trust ConfigMap exists, to be deleted once the Secret
	// holds the trust.
	configMap bool
}

func readLiveTrust(pemData []byte, recordsJSON string, exists bool) liveTrust {
	lt := liveTrust{cas: map[string]*x509.Certificate{}, records: map[string]trustRecord{}}
	if !exists {
		return lt
	}
	lt.exists, lt.pem, lt.recordsJSON = true, pemData, recordsJSON
	rest := pemData
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			lt.cas[ca.Fingerprint(c)] = c
		}
	}
	// An unreadable annotation forgets what was learned from the peer (the next probe
	// learns it again) and restarts the since-times; it never adds trust.
	_ = json.Unmarshal([]byte(recordsJSON), &lt.records)
	return lt
}

// trustedCA is one peer CA the channel trusts.
type trustedCA struct {
	cert        *x509.Certificate
	fingerprint string
	record      trustRecord
}

// peerTrust is the set of peer CAs the channel trusts, decided from the spec, what
// the client Secret recorded and what the probe learned.
type peerTrust struct {
	// cas are sorted by subject, then fingerprint, so the stored PEM is stable.
	cas []trustedCA
	// problem says why spec.peer.trustBundle gave nothing to parse.
	problem string
	// rejected are the spec's blocks that are not trusted, and why.
	rejected []string
	// dropped are the stored CAs that are no longer trusted, and why.
	dropped []string
	// learned are the CAs added from the peer's signed trust bundle in this reconcile.
	learned []trustedCA
	// warnNow are the CAs whose expiry Warning goes out with this reconcile's write.
	warnNow []trustedCA
	// changedSinceStored: the CAs trusted differ from those stored.
	changedSinceStored bool
}

// decideTrust is the channel's trust at now: every usable CA of the spec, and every
// CA learned from the peer before (source Published in the stored record)
// that is still valid. Since-times and sent warnings are kept from the record.
func decideTrust(spec specBundle, live liveTrust, now time.Time) (*peerTrust, []time.Time) {
	t := &peerTrust{problem: spec.problem}
	var wake []time.Time
	if spec.problem == "" {
		parsed, problem := parseBundle(spec.pem, now)
		t.problem, t.rejected = problem, parsed.rejected
		wake = append(wake, parsed.validFrom...)
		for _, c := range parsed.usable {
			t.add(c, SourceSpec, live.records[ca.Fingerprint(c)], now)
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(live.records)) {
		rec, c := live.records[fp], live.cas[fp]
		if rec.Source != SourcePublished || c == nil || t.has(fp) || !validAt(c, now) {
			continue
		}
		t.add(c, SourcePublished, rec, now)
	}
	for _, fp := range slices.Sorted(maps.Keys(live.cas)) {
		c, rec := live.cas[fp], live.records[fp]
		if t.has(fp) || rec.Source == "" {
			// A stored CA the operator never recorded was put there by hand:
			// removing it repairs drift, it ends no trust.
			continue
		}
		why := "no longer in spec.peer.trustBundle"
		if !validAt(c, now) {
			why = "expired at " + rfc3339(c.NotAfter)
		}
		t.dropped = append(t.dropped, fmt.Sprintf("%s (%s)", subjectOf(c), why))
	}
	t.changedSinceStored = !live.exists || !slices.Equal(t.fingerprints(), slices.Sorted(maps.Keys(live.cas)))
	for _, c := range t.cas {
		wake = append(wake, c.cert.NotAfter, c.cert.NotAfter.Add(-expiringWindow))
	}
	return t, wake
}

// add trusts c from source, keeping what rec recorded of it before.
func (t *peerTrust) add(c *x509.Certificate, source string, rec trustRecord, now time.Time) trustedCA {
	since := rec.Since
	if since.IsZero() {
		since = now.Truncate(time.Second)
	}
	tc := trustedCA{cert: c, fingerprint: ca.Fingerprint(c), record: trustRecord{Source: source, Since: since.UTC(), ExpiryWarned: rec.ExpiryWarned}}
	t.cas = append(t.cas, tc)
	slices.SortFunc(t.cas, func(a, b trustedCA) int {
		return cmp.Or(strings.Compare(subjectOf(a.cert), subjectOf(b.cert)), strings.Compare(a.fingerprint, b.fingerprint))
	})
	return tc
}

func (t *peerTrust) has(fingerprint string) bool {
	return slices.ContainsFunc(t.cas, func(c trustedCA) bool { return c.fingerprint == fingerprint })
}

func (t *peerTrust) fingerprints() []string {
	out := make([]string, 0, len(t.cas))
	for _, c := range t.cas {
		out = append(out, c.fingerprint)
	}
	slices.Sort(out)
	return out
}

// learn trusts a CA from the peer's verified signed trust bundle; false when it is
// trusted already or not valid at now.
func (t *peerTrust) learn(c *x509.Certificate, now time.Time) bool {
	if t.has(ca.Fingerprint(c)) || !validAt(c, now) {
		return false
	}
	t.learned = append(t.learned, t.add(c, SourcePublished, trustRecord{}, now))
	return true
}

// expiring reports whether every trusted CA expires within expiringWindow of now.
func (t *peerTrust) expiring(now time.Time) bool {
	if len(t.cas) == 0 {
		return false
	}
	for _, c := range t.cas {
		if c.cert.NotAfter.Sub(now) > expiringWindow {
			return false
		}
	}
	return true
}

// markWarnings records, while every CA expires soon, the expiry Warning for each
// CA not warned about yet; the Warning is sent once the record is stored.
func (t *peerTrust) markWarnings(now time.Time) {
	if !t.expiring(now) {
		return
	}
	for i := range t.cas {
		if !t.cas[i].record.ExpiryWarned {
			t.cas[i].record.ExpiryWarned = true
			t.warnNow = append(t.warnNow, t.cas[i])
		}
	}
}

// earliestExpiry is the first NotAfter of the trusted CAs.
func (t *peerTrust) earliestExpiry() time.Time {
	var out time.Time
	for _, c := range t.cas {
		if out.IsZero() || c.cert.NotAfter.Before(out) {
			out = c.cert.NotAfter
		}
	}
	return out
}

// latestExpiry is the last NotAfter of the trusted CAs.
func (t *peerTrust) latestExpiry() time.Time {
	var out time.Time
	for _, c := range t.cas {
		if c.cert.NotAfter.After(out) {
			out = c.cert.NotAfter
		}
	}
	return out
}

// pool is the trusted CAs as a certificate pool, for the probe.
func (t *peerTrust) pool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range t.cas {
		p.AddCert(c.cert)
	}
	return p
}

// records is TrustRecordAnnotation's content.
func (t *peerTrust) records() map[string]trustRecord {
	out := make(map[string]trustRecord, len(t.cas))
	for _, c := range t.cas {
		out[c.fingerprint] = c.record
	}
	return out
}

// plannedChange says why the stored trusted CAs change in this reconcile, so
// the update is reported as planned; empty when the same CAs are kept, and an
// update is then a repair of someone's edit.
func (t *peerTrust) plannedChange(live liveTrust) string {
	var why []string
	for _, c := range t.cas {
		if _, ok := live.cas[c.fingerprint]; !ok {
			why = append(why, fmt.Sprintf("trusts %s (%s)", subjectOf(c.cert), c.record.Source))
		}
	}
	if len(t.dropped) > 0 {
		why = append(why, "no longer trusts "+strings.Join(t.dropped, ", "))
	}
	for _, c := range t.cas {
		if prev, ok := live.records[c.fingerprint]; ok && !prev.equal(c.record) && len(why) == 0 {
			why = append(why, "records where the peer's CAs came from and the expiry warnings sent")
			break
		}
	}
	return strings.Join(why, "; ")
}

// stored is the peer trust as the client Secret holds it: the PEM of every
// trusted CA under PeerTrustKey, which the FocalPoint's gateway loads, and the
// record of each under TrustRecordAnnotation.
func (t *peerTrust) stored() (pemData []byte, recordsJSON string, err error) {
	certsPEM := make([]*x509.Certificate, 0, len(t.cas))
	for _, c := range t.cas {
		certsPEM = append(certsPEM, c.cert)
	}
	records, err := json.Marshal(t.records()) // map keys are sorted: the same trust, the same bytes
	if err != nil {
		return nil, "", err
	}
	return pki.EncodeCertificatesPEM(certsPEM...), string(records), nil
}

// reconcileTrust decides which peer CAs the channel trusts, before the client
// certificate's Secret that stores them is written, and before the probe, which
// verifies the peer with them and may learn more.
func (r *Reconciler) reconcileTrust(ctx context.Context, s *scope) error {
	// What is stored first: when the spec's bundle cannot be read, the certificate
	// phase keeps it as it is.
	live, err := r.readLiveTrust(ctx, s.cc)
	if err != nil {
		s.trustErr = err
		return err
	}
	s.liveTrust, s.liveTrustRead = live, true
	spec, err := r.readSpecBundle(ctx, s.cc)
	if err != nil {
		s.trustErr = err
		return err
	}
	trust, wake := decideTrust(spec, s.liveTrust, s.Now)
	s.trust = trust
	for _, at := range wake {
		if at.After(s.Now) {
			s.RequeueAt(at)
		}
	}
	return nil
}

// readLiveTrust reads the trust the client Secret holds; while it holds none, the
// trust ConfigMap an earlier release kept for the channel (focalpoint.LegacyTrust:
// controlled by the channel, which had been reconciled before), so what was
// learned from the peer and the since-times survive an upgrade. A ConfigMap of that
// name anything else made is never read for trust.
func (r *Reconciler) readLiveTrust(ctx context.Context, cc *cybercoopv1alpha1.CooperationChannel) (liveTrust, error) {
	sec, err := certs.GetSecret(ctx, r.Client, cc.Namespace, ClientSecretName(cc))
	if err != nil {
		return liveTrust{}, err
	}
	if sec != nil {
		records, recorded := sec.Annotations[TrustRecordAnnotation]
		pemData, held := sec.Data[gateway.PeerTrustKey]
		// The operator writes both together: CAs without the record were put there
		// (or the record taken away) by someone else, and what they trust is drift.
		if recorded || held {
			lt := readLiveTrust(pemData, records, true)
			// Only to delete a legacy ConfigMap left over: a failed read leaves it for
			// a later reconcile and costs the channel nothing.
			legacy, _ := focalpoint.LegacyTrust(ctx, r.Client, cc)
			lt.configMap = legacy != nil
			return lt, nil
		}
	}
	legacy, err := focalpoint.LegacyTrust(ctx, r.Client, cc)
	if err != nil || legacy == nil {
		return readLiveTrust(nil, "", false), err
	}
	lt := readLiveTrust([]byte(legacy.Data[gateway.LegacyTrustKey]), legacy.Annotations[TrustRecordAnnotation], true)
	lt.fromConfigMap, lt.configMap = true, true
	return lt, nil
}

// trustToStore is what the client Secret is to hold of the peer's trust: the
// trust decided, or, when the spec's bundle could not be read, what it holds now,
// so the gateway keeps what it has.
func (s *scope) trustToStore() (data map[string][]byte, annotations map[string]string, err error) {
	if s.trust == nil {
		if !s.liveTrust.exists {
			return nil, nil, nil
		}
		return map[string][]byte{gateway.PeerTrustKey: s.liveTrust.pem},
			map[string]string{TrustRecordAnnotation: s.liveTrust.recordsJSON}, nil
	}
	s.trust.markWarnings(s.Now)
	pemData, records, err := s.trust.stored()
	if err != nil {
		return nil, nil, err
	}
	return map[string][]byte{gateway.PeerTrustKey: pemData}, map[string]string{TrustRecordAnnotation: records}, nil
}

// recordTrustWrite tells people of a change to the trust the client Secret holds
// that no other event tells: planned (the spec's CAs changed, the records moved
// from the legacy ConfigMap) or the repair of someone's edit. A CA learned from the
// peer, and an expiry warning, have events of their own (report).
func (r *Reconciler) recordTrustWrite(ctx context.Context, s *scope, before liveTrust, stored *corev1.Secret) {
	if stored == nil || s.trust == nil || !before.exists {
		return
	}
	var planned string
	switch {
	case before.fromConfigMap:
		planned = fmt.Sprintf("holds the peer's CAs, which ConfigMap %s held before", TrustConfigMapName(s.cc))
	case string(stored.Data[gateway.PeerTrustKey]) == string(before.pem) && stored.Annotations[TrustRecordAnnotation] == before.recordsJSON:
		return
	default:
		planned = s.trust.plannedChange(before)
	}
	if planned == "" && len(s.trust.learned) > 0 {
		return
	}
	s.children.Record(ctx, "Secret", stored.Name, apply.Updated, planned)
}

// publishTrust stores in the client Secret what the probe learned: CAs from the
// peer's signed trust bundle (most probes learn nothing, and nothing is written).
// The events about learned CAs and expiry warnings go out only once the Secret
// that records them is stored. The legacy trust ConfigMap goes once the Secret
// holds the trust.
func (r *Reconciler) publishTrust(ctx context.Context, s *scope) error {
	if s.trust == nil || s.client.Secret == nil {
		// The spec's bundle could not be read (the gateway keeps what it has), or
		// there is no client certificate, so no Secret: a channel waiting for its
		// FocalPoint keeps no object but itself in the caches.
		return nil
	}
	if len(s.trust.learned) > 0 {
		if err := r.ensureClientSecret(ctx, s); err != nil {
			return s.Provisioned(err)
		}
	}
	if !s.trustStored {
		return nil
	}
	if s.liveTrust.configMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.cc.Namespace, Name: TrustConfigMapName(s.cc)}}
		if err := s.children.Absent(ctx, cm); err != nil {
			return s.Provisioned(err)
		}
	}
	return nil
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// subjectOf is a certificate's subject for people, bounded: it comes from outside.
func subjectOf(c *x509.Certificate) string { return truncate(c.Subject.String(), 200) }

// truncate bounds s to n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
