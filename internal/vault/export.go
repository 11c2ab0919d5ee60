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
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ExportFormat names the export archive layout.
const ExportFormat = "cybercoop-vault-export/v2"

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

func (v *Vault) checkpointLocked() (SignedCheckpoint, error) {
	size := v.custody.tree.size()
	root, err := v.custody.tree.root(size)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	c := Checkpoint{Origin: v.signer.Name(), Size: size, Root: root}
	signed, err := v.signer.sign(c.Text())
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("signing checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: c, Note: signed}, nil
}

// ConsistencyProof proves that the log of size2 entries extends the log of
// size1 entries (RFC 6962 §2.1.2); size2 0 means the current size.
func (v *Vault) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.usable(); err != nil {
		return nil, err
	}
	if size2 == 0 {
		size2 = v.custody.tree.size()
	}
	return v.custody.tree.consistencyProof(size1, size2)
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
	// CheckpointSize is the size of the log the checkpoint member commits to.
	CheckpointSize uint64 `json:"checkpointSize"`
	// Members maps each other member's name to its SHA-256 (hex); the object
	// member is covered by Object.Digest.
	Members map[string]string `json:"members"`
}

// InclusionProof is one custody entry's proof against the checkpoint.
type InclusionProof struct {
	Seq    uint64   `json:"seq"`
	Hashes [][]byte `json:"hashes"`
}

// Export writes a tar archive of d that a recipient can check on its own
// (see VerifyExport):
//
//	manifest.note   ExportManifest as JSON, a signed note
//	checkpoint      signed checkpoint of the log including the export entry
//	custody.jsonl   every custody entry naming d, verbatim
//	proofs.json     an inclusion proof of each of them against the checkpoint
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
	logSize := v.custody.size
	cp, err := v.checkpointLocked()
	v.mu.Unlock()
	if err != nil {
		return err
	}
	v.metrics.access.WithLabelValues(string(ActionExport)).Inc()

	lines, seqs, err := v.entriesNaming(ctx, d, logSize)
	if err != nil {
		return fmt.Errorf("export %s: reading custody log: %w", d, err)
	}
	proofs := make([]InclusionProof, len(seqs))
	v.mu.Lock()
	for i, seq := range seqs {
		if proofs[i].Hashes, err = v.custody.tree.inclusionProof(seq-1, cp.Size); err != nil {
			break
		}
		proofs[i].Seq = seq
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
	}{{"checkpoint", cp.Note}, {"custody.jsonl", lines}, {"proofs.json", proofsJSON}}
	m := ExportManifest{Format: ExportFormat, Object: info, ExportSequence: e.Seq, ExportedAt: e.Time, ExportedBy: actor.Name(),
		Entries: seqs, CheckpointSize: cp.Size, Members: map[string]string{}}
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

// entriesNaming returns the verbatim lines (newline-terminated) and
// sequence numbers of the custody entries naming d in the first logSize
// bytes of the log.
func (v *Vault) entriesNaming(ctx context.Context, d Digest, logSize int64) ([]byte, []uint64, error) {
	f, err := os.Open(filepath.Join(v.cfg.Dir, custodyLogName))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []byte
	var seqs []uint64
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
			out = append(append(out, l.text...), '\n')
			seqs = append(seqs, e.Seq)
		}
		return ctx.Err()
	})
	return out, seqs, err
}

// ExportCheck is what VerifyExport established about an archive.
type ExportCheck struct {
	Manifest   ExportManifest
	Checkpoint Checkpoint
	Entries    []Entry
}

// VerifyExport checks an export archive with nothing but the vault's
// verifier key: the manifest's and the checkpoint's signatures, every
// member's hash, that each custody entry is intact and included in the
// signed log (inclusion proof against the checkpoint), that the entries are
// the ones the manifest lists and all name the object, and that the object
// hashes to its address and has its recorded size.
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
	if m.Format != ExportFormat {
		return chk, fmt.Errorf("manifest format %q is not %s", truncateForError(m.Format), ExportFormat)
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
	for i, line := range lines {
		e, err := DecodeEntry(line)
		if err != nil {
			return chk, fmt.Errorf("custody.jsonl line %d: %w", i+1, err)
		}
		if e.Seq != m.Entries[i] || proofs[i].Seq != e.Seq {
			return chk, fmt.Errorf("custody.jsonl line %d is entry %d; the manifest lists %d and proofs.json %d", i+1, e.Seq, m.Entries[i], proofs[i].Seq)
		}
		if e.Object != m.Object.Digest {
			return chk, fmt.Errorf("custody entry %d names %s, not the exported object", e.Seq, e.Object)
		}
		if err := VerifyInclusion(cp, e.Seq, line, proofs[i].Hashes); err != nil {
			return chk, fmt.Errorf("custody entry %d is not in the log the checkpoint signs: %w", e.Seq, err)
		}
		chk.Entries = append(chk.Entries, e)
	}
	if !slices.ContainsFunc(chk.Entries, func(e Entry) bool { return e.Seq == m.ExportSequence && e.Action == ActionExport }) {
		return chk, fmt.Errorf("the export entry %d is not among the custody entries", m.ExportSequence)
	}
	if !slices.ContainsFunc(chk.Entries, func(e Entry) bool { return e.Action == ActionIngest }) {
		return chk, errors.New("no ingest entry of the object is among the custody entries")
	}
	return chk, nil
}
