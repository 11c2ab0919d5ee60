package vault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// keyFingerprintsName is the data-directory file recording a fingerprint of
// each key version the vault has used ("<version> <fingerprint>" lines). A
// key version must always mean the same key: objects name only the version,
// so a different key under an old number would leave no keyring that reads
// every object and make old objects look tampered with.
const keyFingerprintsName = "keyring.fingerprints"

// ErrKeyChanged means a keyring holds a different key under a version the
// vault has used before.
var ErrKeyChanged = errors.New("key version changed")

func readKeyFingerprints(dir string) (map[uint32]string, error) {
	path := filepath.Join(dir, keyFingerprintsName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[uint32]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	out := map[uint32]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		vs, fp, ok := strings.Cut(sc.Text(), " ")
		v, err := strconv.ParseUint(vs, 10, 32)
		if !ok || err != nil || len(fp) != 32 {
			return nil, fmt.Errorf("%s line %d is not \"<version> <32 hex characters>\"", path, line)
		}
		out[uint32(v)] = fp
	}
	return out, nil
}

// checkKeyFingerprints refuses kr if any of its versions has a different
// key than recorded, and records the versions not seen before once opens
// (if set) accepts their key. Callers serialise it (Open, and ReloadKeyring
// under v.mu).
func checkKeyFingerprints(dir string, kr *Keyring, opens func(version uint32) error) error {
	known, err := readKeyFingerprints(dir)
	if err != nil {
		return err
	}
	added := false
	for _, v := range kr.Versions() {
		fp, _ := kr.Fingerprint(v)
		switch old, ok := known[v]; {
		case !ok:
			if opens != nil {
				if err := opens(v); err != nil {
					return err
				}
			}
			known[v] = fp
			added = true
		case old != fp:
			return fmt.Errorf("%w: keyring %s holds a different key under version %d (fingerprint %s) than the one this vault has used under that version (fingerprint %s, recorded in %s); "+
				"restore the original key, and give a new key a new version number", ErrKeyChanged, kr.source, v, fp, old, filepath.Join(dir, keyFingerprintsName))
		}
	}
	if !added {
		return nil
	}
	var buf bytes.Buffer
	for _, v := range slices.Sorted(maps.Keys(known)) {
		fmt.Fprintf(&buf, "%d %s\n", v, known[v])
	}
	return writeFileDurably(filepath.Join(dir, keyFingerprintsName), buf.Bytes())
}

// writeFileDurably replaces path with data: temp file, fsync, rename, fsync
// of the directory.
func writeFileDurably(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
