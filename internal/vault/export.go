package vault

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ExportFormat names the export archive layout the vault writes. v3 added
// redacted copies of the custody entries the exporting client may not see
// in full (ExportManifest.Redacted); VerifyExport still accepts
// ExportFormatV2, whose entries are all verbatim.
const ExportFormat = "cybercoop-vault-export/v3"

// ExportFormatV2 is the earlier layout: every custody entry verbatim.
const ExportFormatV2 = "cybercoop-vault-export/v2"

// RedactedMarker replaces each withheld text field of a redacted custody
// entry copy; withheld times are the zero time. ExportManifest.Redacted names
// the fields, so a value that happens to read the same is not mistaken for it.
const RedactedMarker = "[redacted]"

// SignedCheckpoint is the vault's signed commitment to its first Size
// custody entries.
type SignedCheckpoint struct {
	Checkpoint
	// Note is the C2SP signed note: the checkpoint text and its signature.
	Note []byte
}

// Checkpoint signs the current head of the custody log.
func (v *Vault) Checkpoint() (SignedCheckpoint, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.usable(); err != nil {
		return SignedCheckpoint{}, err
	}
	return v.checkpointLocked()
}

// checkpointLocked signs the durable prefix of the log: a checkpoint never
// covers an entry a crash could still lose (see groupcommit.go). Callers
// hold v.mu.
func (v *Vault) checkpointLocked() (SignedCheckpoint, error) {
	c, err := v.durableHeadLocked()
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return v.signCheckpoint(c)
}

// durableHeadLocked is the unsigned checkpoint of the durable prefix.
// Callers hold v.mu.
func (v *Vault) durableHeadLocked() (Checkpoint, error) {
	size := v.custody.commit.durableSeq()
	root, err := v.custody.tree.root(size)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: v.signer.Name(), Size: size, Root: root}, nil
}

func (v *Vault) signCheckpoint(c Checkpoint) (SignedCheckpoint, error) {
	signed, err := v.signer.sign(c.Text())
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("signing checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: c, Note: signed}, nil
}

// durableCheckpoint returns a signed checkpoint of the durable prefix of at
// least seq entries (seq must be durable): the latest one signed if it is
// that large, else a new one. Ingests that became durable in one flush so
// share one signature. It takes v.mu briefly; callers do not hold it.
func (v *Vault) durableCheckpoint(seq uint64) (SignedCheckpoint, error) {
	v.checkpointSigning.Lock()
	defer v.checkpointSigning.Unlock()
	if cp := v.lastCheckpoint.Load(); cp != nil && cp.Size >= seq {
		return *cp, nil
	}
	v.mu.Lock()
	err := v.usable()
	var c Checkpoint
	if err == nil {
		c, err = v.durableHeadLocked()
	}
	v.mu.Unlock()
	if err != nil {
		return SignedCheckpoint{}, err
	}
	if c.Size < seq {
		return SignedCheckpoint{}, fmt.Errorf("custody entry %d is not durable (the log is durable up to %d)", seq, c.Size)
	}
	cp, err := v.signCheckpoint(c)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	v.lastCheckpoint.Store(&cp)
	return cp, nil
}

// ConsistencyProof proves that the log of size2 entries extends the log of
// size1 entries (RFC 6962 §2.1.2); size2 0 means the current size.
func (v *Vault) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.usable(); err != nil {
		return nil, err
	}
	durable := v.custody.commit.durableSeq()
	if size2 == 0 {
		size2 = durable
	}
	if size2 > durable {
		return nil, fmt.Errorf("no consistency proof from %d to %d entries (the log has %d)", size1, size2, durable)
	}
	return v.custody.tree.consistencyProof(size1, size2)
}

// InclusionProof proves that custody entry seq is among the first size
// entries of the log (size 0: the current size), for actor: a holder of the
// list role may ask for any entry; another client for an entry it made (or
// relayed) or one naming a live object it may see (one of whose cases it
// ingested or relayed).
// Any other entry is answered like an absent one (ErrNotFound). It returns
// the size the proof is for. Bounds errors are FieldErrors naming "seq" or
// "size".
func (v *Vault) InclusionProof(actor Identity, seq, size uint64) (_ uint64, _ [][]byte, err error) {
	v.mu.Lock()
	var shown uint64 // the last entry that changed an object the answer rests on
	defer func() { err = v.unlockSettledAt(shown, err) }()
	if err := v.usable(); err != nil {
		return 0, nil, err
	}
	// Proofs are of the durable prefix, which checkpoints sign.
	current := v.custody.commit.durableSeq()
	if size == 0 {
		size = current
	}
	if size > current {
		return 0, nil, fieldErr("size", "is %d, beyond the log's %d entries", size, current)
	}
	if seq == 0 || seq > size {
		return 0, nil, fieldErr("seq", "must be a custody entry number from 1 to %d (the size of the checkpoint asked for)", size)
	}
	e, err := v.custody.entry(seq)
	if err != nil {
		return 0, nil, err
	}
	if !v.grants.Allows(actor, RoleList) && !ownsRecord(e.Actor, e.Cert, e.Via, actor) {
		obj, live := v.state.live[e.Object]
		if live {
			shown = obj.changed
		}
		if e.Object == "" || !live || !v.canSee(actor, obj) {
			return 0, nil, fmt.Errorf("%w: no custody entry %d that this client may see", ErrNotFound, seq)
		}
	}
	hashes, err := v.custody.tree.inclusionProof(seq-1, size)
	return size, hashes, err
}

// ExportManifest describes an export archive. It is signed (manifest.note)
// with the vault's checkpoint key.
type ExportManifest struct {
	Format string     `json:"format"`
	Object ObjectInfo `json:"object"`
	// ExportSequence is the custody entry recording this export.
	ExportSequence uint64    `json:"exportSequence"`
	ExportedAt     time.Time `json:"exportedAt"`
	ExportedBy     string    `json:"exportedBy"`
	// Entries lists the custody entries in custody.jsonl: every entry
	// naming the object, up to and including the export entry.
	Entries []uint64 `json:"entries"`
	// Redacted lists the entries custody.jsonl holds as redacted copies
	// (format v3; empty when none is): entries the exporting client may
	// not see in full, whose authorisation references and other cases'
	// details are replaced by RedactedMarker.
	Redacted []RedactedEntry `json:"redacted,omitempty"`
	// CheckpointSize is the size of the log the checkpoint member commits to.
	CheckpointSize uint64 `json:"checkpointSize"`
	// Members maps each other member's name to its SHA-256 (hex); the object
	// member is covered by Object.Digest.
	Members map[string]string `json:"members"`
}

// RedactedEntry is the signed manifest's account of one redacted copy: the
// signature vouches that the copy stands for the logged entry whose leaf hash
// is LeafHash (which the inclusion proof places in the log) and that only
// Fields were changed.
type RedactedEntry struct {
	Seq uint64 `json:"seq"`
	// Fields names the fields replaced, as JSON paths of the entry:
	// "reference", "legalBasis", "metadata.caseReference", …
	Fields []string `json:"fields"`
	// LeafHash is the RFC 6962 leaf hash of the entry's line as logged.
	LeafHash []byte `json:"leafHash"`
	// CopySHA256 is the SHA-256 (hex) of the copy's line in custody.jsonl.
	CopySHA256 string `json:"copySHA256"`
}

// InclusionProof is one custody entry's proof against the checkpoint.
type InclusionProof struct {
	Seq uint64 `json:"seq"`
	// LeafHash is set for a redacted entry (format v3): the leaf hash of
	// the logged line, which the proof starts from instead of the copy.
	LeafHash []byte   `json:"leafHash,omitempty"`
	Hashes   [][]byte `json:"hashes"`
}

// Export writes a tar archive of d that a recipient can check on its own
// (see VerifyExport):
//
//	manifest.note   ExportManifest as JSON, a signed note
//	checkpoint      signed checkpoint of the log including the export entry
//	custody.jsonl   every custody entry naming d: verbatim if actor may see
//	                it in full, else a redacted copy (see exportView)
//	proofs.json     an inclusion proof of each of them against the checkpoint
//	                (from the logged entry's leaf hash for a redacted copy)
//	object          the plaintext
//
// The object is verified in full before the first byte of the archive is
// written, and again as it is copied; a failure during the copy leaves a
// visibly truncated archive.
func (v *Vault) Export(ctx context.Context, actor Identity, d Digest, authorisationRef string, w io.Writer) error {
	v.mu.Lock()
	obj, c, err := v.authoriseAccess(actor, d, authorisationRef)
	if err != nil {
		v.mu.Unlock()
		return err
	}
	info := obj.info(v.caseFilter(actor))
	all := obj.info(showAll)
	lister := v.grants.Allows(actor, RoleList)
	v.mu.Unlock()
	// Damage is found before anything is recorded or sent.
	if err := v.CheckObject(d); err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}

	v.mu.Lock()
	e, err := v.custody.append(Entry{Time: v.now(), Actor: actor.Name(), Cert: actor.certificate(), Action: ActionExport, Object: d,
		LegalBasis: c.metadata.LegalBasis, Reference: c.metadata.AuthorisationReference})
	if err != nil {
		v.mu.Unlock()
		return err
	}
	logSize := v.custody.commit.durablePosition().size
	cp, err := v.checkpointLocked()
	v.mu.Unlock()
	if err != nil {
		return err
	}
	v.metrics.access.WithLabelValues(string(ActionExport)).Inc()

	lines, entries, err := v.entriesNaming(ctx, d, logSize)
	if err != nil {
		return fmt.Errorf("export %s: reading custody log: %w", d, err)
	}
	view := newExportView(actor, lister, entries)
	// Every hold is listed in the manifest, those the exporter may not see as the
	// redaction marker, so the recipient knows the object is held.
	info.Holds, info.OtherHolds = view.holds(all.Holds), 0
	seqs := make([]uint64, len(entries))
	proofs := make([]InclusionProof, len(entries))
	var custody []byte
	var redacted []RedactedEntry
	for i, en := range entries {
		seqs[i], proofs[i].Seq = en.Seq, en.Seq
		line := lines[i]
		if cp, fields := view.redact(en); len(fields) > 0 {
			copyLine, err := json.Marshal(cp)
			if err != nil {
				return fmt.Errorf("export %s: redacting entry %d: %w", d, en.Seq, err)
			}
			sum := sha256.Sum256(copyLine)
			proofs[i].LeafHash = leafHash(line)
			redacted = append(redacted, RedactedEntry{Seq: en.Seq, Fields: fields, LeafHash: proofs[i].LeafHash, CopySHA256: hex.EncodeToString(sum[:])})
			line = copyLine
		}
		custody = append(append(custody, line...), '\n')
	}
	v.mu.Lock()
	for i, seq := range seqs {
		if proofs[i].Hashes, err = v.custody.tree.inclusionProof(seq-1, cp.Size); err != nil {
			break
		}
	}
	v.mu.Unlock()
	if err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}
	proofsJSON, err := json.MarshalIndent(proofs, "", "  ")
	if err != nil {
		return err
	}
	members := []struct {
		name string
		body []byte
	}{{"checkpoint", cp.Note}, {"custody.jsonl", custody}, {"proofs.json", proofsJSON}}
	m := ExportManifest{Format: ExportFormat, Object: info, ExportSequence: e.Seq, ExportedAt: e.Time, ExportedBy: actor.Name(),
		Entries: seqs, Redacted: redacted, CheckpointSize: cp.Size, Members: map[string]string{}}
	for _, mb := range members {
		sum := sha256.Sum256(mb.body)
		m.Members[mb.name] = hex.EncodeToString(sum[:])
	}
	manifestJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	manifestNote, err := v.signer.sign(string(manifestJSON) + "\n")
	if err != nil {
		return fmt.Errorf("signing export manifest: %w", err)
	}
	r, err := v.openVerified(all)
	if err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}
	defer r.Close()
	tw := tar.NewWriter(w)
	for _, mb := range append([]struct {
		name string
		body []byte
	}{{"manifest.note", manifestNote}}, members...) {
		if err := tw.WriteHeader(&tar.Header{Name: mb.name, Mode: 0o400, Size: int64(len(mb.body)), ModTime: e.Time, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(mb.body); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "object", Mode: 0o400, Size: info.Size, ModTime: e.Time, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}
	return tw.Close()
}

// entriesNaming returns the verbatim lines (without their newlines) and the
// decoded custody entries naming d in the first logSize bytes of the log.
func (v *Vault) entriesNaming(ctx context.Context, d Digest, logSize int64) ([][]byte, []Entry, error) {
	f, err := os.Open(filepath.Join(v.cfg.Dir, custodyLogName))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var lines [][]byte
	var entries []Entry
	needle := []byte(`"object":"` + string(d) + `"`)
	err = scanLog(io.NewSectionReader(f, 0, logSize), func(l logLine) error {
		if !l.complete || !bytes.Contains(l.text, needle) {
			return ctx.Err()
		}
		e, err := DecodeEntry(l.text)
		if err != nil {
			return fmt.Errorf("line %d: %w", l.number, err)
		}
		if e.Object == d {
			lines = append(lines, bytes.Clone(l.text))
			entries = append(entries, e)
		}
		return ctx.Err()
	})
	return lines, entries, err
}

// ownedBy reports whether client id is the actor an entry or case records
// (name and certificate; cert is nil for entries written before
// certificates were recorded). The listing, the custody report and exports
// decide "the client's own" with it.
func ownedBy(name string, cert *Identity, id Identity) bool {
	return name == id.Name() && (cert == nil || id.certificate() == nil || sameClient(*cert, id))
}

// ownsRecord reports whether client id owns what an entry or case records:
// the relay that ingested it for another party (via), else its actor. The
// relayed party is not a vault client and owns nothing through the relay's
// ingest: the relay states its identity, and could name any certificate.
func ownsRecord(name string, cert, via *Identity, id Identity) bool {
	if via != nil {
		return ownedBy(via.Name(), via, id)
	}
	return ownedBy(name, cert, id)
}

// exportView is what an exporting client may see of the custody entries
// naming an object, by the rule of the listing and the custody report: its
// own entries in full; of other entries, never an authorisation reference;
// and, without the list role, nothing of another client's case (its case
// reference, legal basis, authorisation expiry and retention, and the
// reference and legal basis of holds, releases and expiries under it).
type exportView struct {
	actor  Identity
	lister bool
	// ownCases and ownAuths are the case and authorisation references of
	// the cases of the object the actor ingested; ownHolds the references
	// of the holds it placed.
	ownCases, ownAuths, ownHolds map[string]bool
}

func newExportView(actor Identity, lister bool, entries []Entry) exportView {
	x := exportView{actor: actor, lister: lister, ownCases: map[string]bool{}, ownAuths: map[string]bool{}, ownHolds: map[string]bool{}}
	for _, e := range entries {
		if !ownsRecord(e.Actor, e.Cert, e.Via, actor) {
			continue
		}
		switch {
		case e.Action == ActionIngest && e.Metadata != nil:
			x.ownCases[e.Metadata.CaseReference] = true
			x.ownAuths[e.Metadata.AuthorisationReference] = true
		case e.Action == ActionHold:
			x.ownHolds[e.Reference] = true
		}
	}
	return x
}

// holds returns the references of the holds in force as the actor may see
// them: without the list role, a hold under another client's case is
// shown as RedactedMarker (that there is a hold is not withheld).
func (x exportView) holds(refs []string) []string {
	out := make([]string, 0, len(refs))
	hidden := 0
	for _, r := range refs {
		if x.lister || x.ownCases[r] || x.ownHolds[r] {
			out = append(out, r)
		} else {
			hidden++
		}
	}
	for range hidden {
		out = append(out, RedactedMarker)
	}
	return out
}

// The fields a redacted copy may withhold, as RedactedEntry.Fields names them.
const (
	redactReference     = "reference"
	redactLegalBasis    = "legalBasis"
	redactCase          = "metadata.caseReference"
	redactMetaBasis     = "metadata.legalBasis"
	redactAuthorisation = "metadata.authorisationReference"
	redactExpiry        = "metadata.authorisationExpiry"
	redactRetention     = "metadata.retentionUntil"
)

// redact returns the copy of e the actor may see and the fields withheld
// from it; no fields means e is shown verbatim.
func (x exportView) redact(e Entry) (Entry, []string) {
	if ownsRecord(e.Actor, e.Cert, e.Via, x.actor) {
		return e, nil
	}
	var fields []string
	text := func(p *string, name string) {
		if *p != "" {
			*p = RedactedMarker
			fields = append(fields, name)
		}
	}
	when := func(p *time.Time, name string) {
		if !p.IsZero() {
			*p = time.Time{}
			fields = append(fields, name)
		}
	}
	switch e.Action {
	case ActionIngest:
		if e.Metadata == nil {
			break
		}
		m := *e.Metadata
		e.Metadata = &m
		otherCase := !x.lister && !x.ownCases[m.CaseReference]
		if otherCase {
			text(&e.Reference, redactReference)
			text(&e.LegalBasis, redactLegalBasis)
			text(&m.CaseReference, redactCase)
			text(&m.LegalBasis, redactMetaBasis)
		}
		text(&m.AuthorisationReference, redactAuthorisation)
		if otherCase {
			when(&m.AuthorisationExpiry, redactExpiry)
			when(&m.RetentionUntil, redactRetention)
		}
	case ActionRead, ActionExport:
		// The reference of a read or an export is the authorisation presented.
		ownCase := x.ownAuths[e.Reference]
		text(&e.Reference, redactReference)
		if !x.lister && !ownCase {
			text(&e.LegalBasis, redactLegalBasis)
		}
	default:
		// Holds, releases and expiries name a case (or hold) reference.
		if !x.lister && !x.ownCases[e.Reference] {
			text(&e.Reference, redactReference)
			text(&e.LegalBasis, redactLegalBasis)
		}
	}
	return e, fields
}

// ExportCheck is what VerifyExport established about an archive.
type ExportCheck struct {
	Manifest   ExportManifest
	Checkpoint Checkpoint
	// Entries are the custody entries as the archive holds them: the
	// redacted ones (Manifest.Redacted) with RedactedMarker in the fields
	// withheld.
	Entries []Entry
}

// VerifyExport checks an export archive (format v3 or v2) with nothing but
// the vault's verifier key: the manifest's and the checkpoint's signatures,
// every member's hash, that each custody entry is intact and included in the
// signed log (inclusion proof against the checkpoint), that the entries are
// the ones the manifest lists and all name the object, and that the object
// hashes to its address and has its recorded size. A redacted entry (v3) is
// checked through the signed manifest: its copy must hash to the manifest's
// CopySHA256 and hold the marker in exactly the fields named there, and the
// manifest's leaf hash for it must be included in the log at its number.
func VerifyExport(r io.Reader, verifierKey string) (ExportCheck, error) {
	var chk ExportCheck
	members := map[string][]byte{}
	tr := tar.NewReader(r)
	objectSeen := false
	var objectSize int64
	var objectHash interface {
		io.Writer
		Sum([]byte) []byte
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return chk, fmt.Errorf("reading archive: %w (truncated or not an export)", err)
		}
		if _, dup := members[h.Name]; dup || (h.Name == "object" && objectSeen) {
			return chk, fmt.Errorf("archive has member %q twice", h.Name)
		}
		switch h.Name {
		case "manifest.note", "checkpoint", "custody.jsonl", "proofs.json":
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return chk, fmt.Errorf("reading %s: %w", h.Name, err)
			}
			members[h.Name] = b
		case "object":
			if members["manifest.note"] == nil {
				return chk, errors.New("the object member comes before manifest.note")
			}
			n, err := openNote(members["manifest.note"], verifierKey)
			if err != nil {
				return chk, fmt.Errorf("manifest.note: %w", err)
			}
			if err := json.Unmarshal([]byte(n.Text), &chk.Manifest); err != nil {
				return chk, fmt.Errorf("manifest.note: not an export manifest: %w", err)
			}
			objectHash = chk.Manifest.Object.Digest.Algorithm().new()
			objectSeen = true
			if objectSize, err = io.Copy(objectHash, tr); err != nil {
				return chk, fmt.Errorf("reading object: %w (archive truncated)", err)
			}
		default:
			return chk, fmt.Errorf("unexpected member %q", truncateForError(h.Name))
		}
	}
	for _, name := range []string{"manifest.note", "checkpoint", "custody.jsonl", "proofs.json"} {
		if members[name] == nil {
			return chk, fmt.Errorf("member %s is missing", name)
		}
	}
	if !objectSeen {
		return chk, errors.New("member object is missing (archive truncated?)")
	}
	m := chk.Manifest
	if m.Format != ExportFormat && m.Format != ExportFormatV2 {
		return chk, fmt.Errorf("manifest format %q is neither %s nor %s", truncateForError(m.Format), ExportFormat, ExportFormatV2)
	}
	if m.Format == ExportFormatV2 && len(m.Redacted) > 0 {
		return chk, fmt.Errorf("a %s manifest cannot list redacted entries", ExportFormatV2)
	}
	if _, err := ParseDigest(string(m.Object.Digest)); err != nil {
		return chk, fmt.Errorf("manifest: %w", err)
	}
	for name, want := range m.Members {
		sum := sha256.Sum256(members[name])
		if hex.EncodeToString(sum[:]) != want {
			return chk, fmt.Errorf("member %s does not match its hash in the signed manifest (altered)", name)
		}
	}
	for _, name := range []string{"checkpoint", "custody.jsonl", "proofs.json"} {
		if _, ok := m.Members[name]; !ok {
			return chk, fmt.Errorf("signed manifest does not cover member %s", name)
		}
	}
	if got := newDigest(m.Object.Digest.Algorithm(), objectHash.Sum(nil)); got != m.Object.Digest {
		return chk, fmt.Errorf("object hashes to %s, not to %s (altered)", got, m.Object.Digest)
	}
	if objectSize != m.Object.Size {
		return chk, fmt.Errorf("object is %d bytes; the manifest records %d", objectSize, m.Object.Size)
	}
	cp, err := OpenCheckpoint(members["checkpoint"], verifierKey)
	if err != nil {
		return chk, err
	}
	chk.Checkpoint = cp
	if cp.Size != m.CheckpointSize {
		return chk, fmt.Errorf("checkpoint size %d differs from the manifest's %d", cp.Size, m.CheckpointSize)
	}
	var proofs []InclusionProof
	if err := json.Unmarshal(members["proofs.json"], &proofs); err != nil {
		return chk, fmt.Errorf("proofs.json: %w", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(members["custody.jsonl"], []byte("\n")), []byte("\n"))
	if len(lines) != len(proofs) || len(lines) != len(m.Entries) {
		return chk, fmt.Errorf("custody.jsonl has %d entries, proofs.json %d proofs, the manifest lists %d", len(lines), len(proofs), len(m.Entries))
	}
	redacted := map[uint64]RedactedEntry{}
	for _, r := range m.Redacted {
		if _, dup := redacted[r.Seq]; dup {
			return chk, fmt.Errorf("the manifest lists entry %d as redacted twice", r.Seq)
		}
		redacted[r.Seq] = r
	}
	for i, line := range lines {
		var e Entry
		var leaf []byte
		r, isRedacted := redacted[m.Entries[i]]
		if isRedacted {
			if e, err = decodeRedactedCopy(line, r); err != nil {
				return chk, fmt.Errorf("custody.jsonl line %d: %w", i+1, err)
			}
			if !bytes.Equal(proofs[i].LeafHash, r.LeafHash) {
				return chk, fmt.Errorf("proofs.json gives redacted entry %d a leaf hash other than the signed manifest's", r.Seq)
			}
			leaf = r.LeafHash
			delete(redacted, r.Seq)
		} else {
			if proofs[i].LeafHash != nil {
				return chk, fmt.Errorf("proofs.json gives entry %d a leaf hash, but the manifest does not list it as redacted", proofs[i].Seq)
			}
			if e, err = DecodeEntry(line); err != nil {
				return chk, fmt.Errorf("custody.jsonl line %d: %w", i+1, err)
			}
			leaf = leafHash(line)
		}
		if e.Seq != m.Entries[i] || proofs[i].Seq != e.Seq {
			return chk, fmt.Errorf("custody.jsonl line %d is entry %d; the manifest lists %d and proofs.json %d", i+1, e.Seq, m.Entries[i], proofs[i].Seq)
		}
		if e.Object != m.Object.Digest {
			return chk, fmt.Errorf("custody entry %d names %s, not the exported object", e.Seq, e.Object)
		}
		if err := VerifyInclusionLeaf(cp, e.Seq, leaf, proofs[i].Hashes); err != nil {
			return chk, fmt.Errorf("custody entry %d is not in the log the checkpoint signs: %w", e.Seq, err)
		}
		chk.Entries = append(chk.Entries, e)
	}
	if len(redacted) > 0 {
		return chk, fmt.Errorf("the manifest lists entries %v as redacted, but custody.jsonl does not hold them where the manifest lists them", slices.Sorted(maps.Keys(redacted)))
	}
	if !slices.ContainsFunc(chk.Entries, func(e Entry) bool {
		return e.Seq == m.ExportSequence && e.Action == ActionExport && !slices.ContainsFunc(m.Redacted, func(r RedactedEntry) bool { return r.Seq == e.Seq })
	}) {
		return chk, fmt.Errorf("the export entry %d is not among the custody entries", m.ExportSequence)
	}
	if !slices.ContainsFunc(chk.Entries, func(e Entry) bool { return e.Action == ActionIngest }) {
		return chk, errors.New("no ingest entry of the object is among the custody entries")
	}
	return chk, nil
}

// redactedFields are the fields a redacted copy may withhold.
var redactedFields = []string{redactReference, redactLegalBasis, redactCase, redactMetaBasis, redactAuthorisation, redactExpiry, redactRetention}

// decodeRedactedCopy parses the redacted copy of an entry and checks it
// against the signed manifest's account r of it: the copy's hash, strict
// canonical JSON (its own hash cannot match: fields were replaced), and the
// marker in every field r names.
func decodeRedactedCopy(line []byte, r RedactedEntry) (Entry, error) {
	if sum := sha256.Sum256(line); hex.EncodeToString(sum[:]) != r.CopySHA256 {
		return Entry{}, fmt.Errorf("the redacted copy of entry %d does not match its hash in the signed manifest (altered)", r.Seq)
	}
	if len(r.LeafHash) != hasher.Size() {
		return Entry{}, fmt.Errorf("the signed manifest's leaf hash of redacted entry %d is %d bytes, not %d", r.Seq, len(r.LeafHash), hasher.Size())
	}
	if len(line) >= MaxEntryBytes {
		return Entry{}, fmt.Errorf("the redacted copy of entry %d is %d bytes; the limit is %d", r.Seq, len(line), MaxEntryBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("the redacted copy of entry %d is not custody JSON: %w", r.Seq, err)
	}
	if canonical, err := json.Marshal(e); err != nil || !bytes.Equal(canonical, line) {
		return Entry{}, fmt.Errorf("the redacted copy of entry %d is not in canonical form", r.Seq)
	}
	if e.Seq != r.Seq {
		return Entry{}, fmt.Errorf("the redacted copy listed as entry %d is entry %d", r.Seq, e.Seq)
	}
	if !e.Action.valid() {
		return Entry{}, fmt.Errorf("redacted entry %d has unknown action %q", e.Seq, truncateForError(string(e.Action)))
	}
	if len(r.Fields) == 0 {
		return Entry{}, fmt.Errorf("the manifest lists entry %d as redacted but names no field", e.Seq)
	}
	var m Metadata
	if e.Metadata != nil {
		m = *e.Metadata
	}
	for i, f := range r.Fields {
		if !slices.Contains(redactedFields, f) || slices.Contains(r.Fields[:i], f) {
			return Entry{}, fmt.Errorf("the manifest names field %q of redacted entry %d, which is not a field the vault withholds (or is named twice)", truncateForError(f), e.Seq)
		}
		if strings.HasPrefix(f, "metadata.") && e.Metadata == nil {
			return Entry{}, fmt.Errorf("redacted entry %d has no metadata, but the manifest says %s was withheld", e.Seq, f)
		}
		withheld := map[string]bool{
			redactReference: e.Reference == RedactedMarker, redactLegalBasis: e.LegalBasis == RedactedMarker,
			redactCase: m.CaseReference == RedactedMarker, redactMetaBasis: m.LegalBasis == RedactedMarker,
			redactAuthorisation: m.AuthorisationReference == RedactedMarker,
			redactExpiry:        m.AuthorisationExpiry.IsZero(), redactRetention: m.RetentionUntil.IsZero(),
		}[f]
		if !withheld {
			return Entry{}, fmt.Errorf("the manifest says field %s of entry %d was withheld, but the copy holds a value there", f, e.Seq)
		}
	}
	return e, nil
}
