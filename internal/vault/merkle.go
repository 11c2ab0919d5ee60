package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// The custody log is also a Merkle tree in the sense of RFC 6962 (the
// hashing of Certificate Transparency and of Go's checksum database): leaf i
// is custody entry i+1, and the leaf's data is the entry's log line without
// its newline. A signed checkpoint (C2SP tlog-checkpoint: origin, size, root
// hash, signed as a C2SP signed note) commits the vault to the first size
// entries; an inclusion proof shows an entry is among them and a consistency
// proof that a later checkpoint extends an earlier one. So whoever holds one
// checkpoint detects a shortened or rewritten log without trusting the vault.

var hasher = rfc6962.DefaultHasher

// merkleTree keeps the hash of every perfect subtree of the log, which is
// every node a proof can ask for: about two hashes (64 bytes) per entry.
type merkleTree struct {
	rng    *compact.Range
	levels [][]byte // levels[l][32*i:32*i+32] is node (l, i)
}

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

func newMerkleTree() *merkleTree {
	return &merkleTree{rng: rangeFactory.NewEmptyRange(0)}
}

func leafHash(line []byte) []byte { return hasher.HashLeaf(line) }

func (t *merkleTree) size() uint64 { return t.rng.End() }

// leaf returns the leaf hash of entry index+1.
func (t *merkleTree) leaf(index uint64) ([]byte, error) {
	return t.node(compact.NewNodeID(0, index))
}

// append adds the next leaf, given the entry's log line.
func (t *merkleTree) append(line []byte) {
	// Append fails only for a corrupted range, which this type never builds.
	_ = t.rng.Append(leafHash(line), func(id compact.NodeID, h []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		t.levels[id.Level] = append(t.levels[id.Level], h...)
	})
}

func (t *merkleTree) node(id compact.NodeID) ([]byte, error) {
	if id.Level >= uint(len(t.levels)) || (id.Index+1)*32 > uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("merkle node %d/%d is not in the tree", id.Level, id.Index)
	}
	off := id.Index * 32
	return t.levels[id.Level][off : off+32 : off+32], nil
}

// root returns the root hash of the first size leaves.
func (t *merkleTree) root(size uint64) ([]byte, error) {
	if size > t.size() {
		return nil, fmt.Errorf("tree size %d is beyond the log's %d entries", size, t.size())
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

func (t *merkleTree) rehash(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = append([]byte(nil), h...)
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// inclusionProof proves leaf index is in the tree of the first size leaves.
func (t *merkleTree) inclusionProof(index, size uint64) ([][]byte, error) {
	if index >= size || size > t.size() {
		return nil, fmt.Errorf("no inclusion proof for entry %d in a tree of %d entries (the log has %d)", index+1, size, t.size())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

// consistencyProof proves the tree of size2 leaves extends that of size1.
func (t *merkleTree) consistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 || size2 > t.size() {
		return nil, fmt.Errorf("no consistency proof from %d to %d entries (the log has %d)", size1, size2, t.size())
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

// Checkpoint is a parsed C2SP tlog-checkpoint body.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Text is the checkpoint body the note signs.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// ParseCheckpoint parses a checkpoint body (the text of an opened note).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: expected origin, size and root hash lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: size line %q is not a decimal number", truncateForError(lines[1]))
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, errors.New("checkpoint: root hash line is not 32 bytes of base64")
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin line")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// ParseSignedCheckpoint parses the checkpoint of a signed note (as
// IngestResult.Checkpoint and GET /v1/checkpoint carry it) WITHOUT checking
// its signature: for a client that needs only its size, e.g. to ask for an
// inclusion proof against it. Whoever relies on what it commits to opens it
// with OpenCheckpoint.
func ParseSignedCheckpoint(signed string) (Checkpoint, error) {
	text, _, ok := strings.Cut(signed, "\n\n")
	if !ok {
		return Checkpoint{}, errors.New("checkpoint: not a signed note (no blank line before the signatures)")
	}
	return ParseCheckpoint(text + "\n")
}

// OpenCheckpoint verifies a signed checkpoint with a verifier key (the
// "name+hash+key" form `cybercoop vault keygen` prints) and parses it. The
// checkpoint's origin must be the key's name.
func OpenCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	key := verifierKey + "\x00" + string(signed)
	if c, ok := openedCheckpoints.get(key); ok {
		return c, nil
	}
	c, err := openCheckpoint(signed, verifierKey)
	if err == nil {
		openedCheckpoints.put(key, c)
	}
	return c, err
}

// openedCheckpoints remembers the checkpoints OpenCheckpoint verified, by
// verifier key and signed note, byte for byte. A gateway opens the same
// checkpoint for every request that one flush of the vault's custody log made
// durable, and twice for each (before it signs the receipt, and in signing
// it): an Ed25519 verification costs more than the rest of the proof. Only
// successes are kept; the same bytes under the same key verify the same way.
var openedCheckpoints checkpointMemo

// checkpointMemoSize bounds the memo; when full it starts again empty.
const checkpointMemoSize = 256

type checkpointMemo struct {
	mu     sync.Mutex
	opened map[string]Checkpoint
}

func (m *checkpointMemo) get(key string) (Checkpoint, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.opened[key]
	c.Root = slices.Clone(c.Root) // the caller's to keep
	return c, ok
}

func (m *checkpointMemo) put(key string, c Checkpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opened == nil || len(m.opened) >= checkpointMemoSize {
		m.opened = make(map[string]Checkpoint, checkpointMemoSize)
	}
	c.Root = slices.Clone(c.Root)
	m.opened[key] = c
}

func openCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	n, err := openNote(signed, verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != n.Sigs[0].Name {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not the signer's name %q", truncateForError(c.Origin), n.Sigs[0].Name)
	}
	return c, nil
}

func openNote(signed []byte, verifierKey string) (*note.Note, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("verifier key is not a signed-note verifier key (name+hash+key): %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("signature does not verify with key %s: %w", v.Name(), err)
	}
	return n, nil
}

// VerifyInclusion checks that the entry with log line line is entry number
// seq of the log the checkpoint commits to.
func VerifyInclusion(c Checkpoint, seq uint64, line []byte, hashes [][]byte) error {
	return VerifyInclusionLeaf(c, seq, leafHash(line), hashes)
}

// VerifyInclusionLeaf checks that the entry whose RFC 6962 leaf hash is leaf
// is entry number seq of the log the checkpoint commits to. It is how a
// redacted entry of an export is checked: its copy is not the logged line,
// but the leaf hash of the logged line is.
func VerifyInclusionLeaf(c Checkpoint, seq uint64, leaf []byte, hashes [][]byte) error {
	if seq == 0 || seq > c.Size {
		return fmt.Errorf("entry %d is outside the checkpoint's %d entries", seq, c.Size)
	}
	if len(leaf) != hasher.Size() {
		return fmt.Errorf("leaf hash of entry %d is %d bytes, not %d", seq, len(leaf), hasher.Size())
	}
	return proof.VerifyInclusion(hasher, seq-1, c.Size, leaf, hashes, c.Root)
}

// VerifyConsistency checks that checkpoint newer extends checkpoint older.
func VerifyConsistency(older, newer Checkpoint, hashes [][]byte) error {
	return proof.VerifyConsistency(hasher, older.Size, newer.Size, hashes, older.Root, newer.Root)
}

// Signer signs checkpoints and export manifests with an Ed25519 signed-note
// key, and knows the matching public verifier key.
type Signer struct {
	note.Signer
	verifierKey string
}

// VerifierKey is the public key ("name+hash+key") recipients verify with.
func (s *Signer) VerifierKey() string { return s.verifierKey }

// LoadSigner reads a signed-note private key ("PRIVATE+KEY+name+hash+key",
// as `cybercoop vault keygen` writes it). Errors never include the key.
func LoadSigner(skey []byte) (*Signer, error) {
	ns, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, errors.New("not a signed-note private key (PRIVATE+KEY+<name>+<hash>+<key>)")
	}
	vkey, err := VerifierKeyOf(skey)
	if err != nil {
		return nil, err
	}
	return &Signer{Signer: ns, verifierKey: vkey}, nil
}

func (s *Signer) sign(text string) ([]byte, error) {
	return note.Sign(&note.Note{Text: text}, s.Signer)
}

// VerifierKeyOf derives the public verifier key from a private signing key.
func VerifierKeyOf(skey []byte) (string, error) {
	parts := strings.SplitN(strings.TrimSpace(string(skey)), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("not a signed-note private key (PRIVATE+KEY+<name>+<hash>+<key>)")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+32 || raw[0] != 1 {
		return "", errors.New("not an Ed25519 signed-note private key")
	}
	return note.NewEd25519VerifierKey(parts[2], ed25519PublicFromSeed(raw[1:]))
}

func ed25519PublicFromSeed(seed []byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// GenerateSigningKey makes a new Ed25519 signed-note key pair named origin,
// the log's name in its checkpoints (e.g. "vault.police.example/cybercoop").
func GenerateSigningKey(origin string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}
