package vault

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// KeySize is the size of every keyring key: AES-256.
const KeySize = 32

// ErrUnknownKeyVersion is returned when an object was sealed under a key
// version the keyring does not hold. Reading such an object must fail loudly:
// trying another key would only produce authentication failures that look like
// corruption.
var ErrUnknownKeyVersion = errors.New("key version not in keyring")

// Keyring holds the versioned master keys. New objects are sealed under the
// active (highest) version; every version present stays usable for reading,
// which is what makes rotation possible without re-encrypting old evidence.
//
// A Keyring never prints its keys: String and errors mention versions and
// file names only.
type Keyring struct {
	keys   map[uint32][]byte
	active uint32
	source string
}

// NewKeyring builds a keyring from explicit keys; the highest version is active.
func NewKeyring(keys map[uint32][]byte) (*Keyring, error) {
	kr := &Keyring{keys: make(map[uint32][]byte, len(keys)), source: "memory"}
	for v, k := range keys {
		if v == 0 {
			return nil, errors.New("keyring: key version 0 is reserved; versions start at 1")
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("keyring: key version %d is %d bytes; expected %d (AES-256)", v, len(k), KeySize)
		}
		kr.keys[v] = bytes.Clone(k)
		kr.active = max(kr.active, v)
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("keyring: no keys; at least one key version is required")
	}
	return kr, nil
}

// LoadKeyring reads a keyring from path, which is either
//
//   - a directory holding one file per key version, named by the decimal
//     version ("1", "2", …), as a mounted Kubernetes Secret looks; names
//     starting with "." (the Secret's ..data symlinks) are ignored; or
//   - a single file with one "<version>:<key>" line per version; blank lines
//     and lines starting with "#" are ignored.
//
// A key is 32 bytes given raw (directory form only), as 64 hex characters or
// as standard base64.
func LoadKeyring(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	keys := map[uint32][]byte{}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			v, err := parseKeyVersion(name)
			if err != nil {
				// The name is printed only if it is digits: a misnamed file
				// could be named after its key.
				if strings.Trim(name, "0123456789") == "" {
					return nil, fmt.Errorf("keyring %s: file %q: %w", path, name, err)
				}
				return nil, fmt.Errorf("keyring %s: a file name is not a key version: %w (names are shown only when they are digits)", path, err)
			}
			raw, err := os.ReadFile(filepath.Join(path, name))
			if err != nil {
				return nil, fmt.Errorf("keyring %s: key version %d: %w", path, v, err)
			}
			k, err := decodeKey(raw, true)
			if err != nil {
				return nil, fmt.Errorf("keyring %s: file %q (key version %d): %w", path, name, v, err)
			}
			keys[v] = k
		}
	} else {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			vs, ks, ok := strings.Cut(text, ":")
			if !ok {
				return nil, fmt.Errorf("keyring %s line %d: expected <version>:<hex or base64 key>", path, line)
			}
			v, err := parseKeyVersion(strings.TrimSpace(vs))
			if err != nil {
				return nil, fmt.Errorf("keyring %s line %d: %w", path, line, err)
			}
			if _, dup := keys[v]; dup {
				return nil, fmt.Errorf("keyring %s line %d: key version %d appears twice", path, line, v)
			}
			k, err := decodeKey([]byte(ks), false)
			if err != nil {
				return nil, fmt.Errorf("keyring %s line %d (key version %d): %w", path, line, v, err)
			}
			keys[v] = k
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring %s: no keys found; expected files named by version (1, 2, …) or <version>:<key> lines", path)
	}
	kr, err := NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	kr.source = path
	return kr, nil
}

// parseKeyVersion never puts its input in the error: a line written the
// wrong way round ("<key>:<version>") has the key where the version belongs.
func parseKeyVersion(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("the key version (before the first colon, %d characters) is not a decimal number from 1 to 4294967295; "+
			"lines are <version>:<key>", len(s))
	}
	return uint32(v), nil
}

// decodeKey deliberately never includes the input in its errors: a
// near-miss key is still secret.
func decodeKey(raw []byte, allowRaw bool) ([]byte, error) {
	if allowRaw && len(raw) == KeySize {
		return bytes.Clone(raw), nil
	}
	text := strings.TrimSpace(string(raw))
	if len(text) == 2*KeySize {
		if k, err := hex.DecodeString(text); err == nil {
			return k, nil
		}
	}
	if k, err := base64.StdEncoding.DecodeString(text); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("key is not %d bytes (raw, 64 hex characters or base64)", KeySize)
}

// Active returns the version new objects are sealed under.
func (k *Keyring) Active() uint32 { return k.active }

// Versions lists the versions present, ascending.
func (k *Keyring) Versions() []uint32 {
	vs := make([]uint32, 0, len(k.keys))
	for v := range k.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func (k *Keyring) key(version uint32) ([]byte, error) {
	key, ok := k.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: version %d (keyring %s holds %v); restore that key file to read objects sealed under it",
			ErrUnknownKeyVersion, version, k.source, k.Versions())
	}
	return key, nil
}

// Fingerprint identifies the key of version without revealing it: the first
// 16 bytes of HMAC-SHA256(key, a fixed label), in hex.
func (k *Keyring) Fingerprint(version uint32) (string, error) {
	key, err := k.key(version)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("cybercoop vault key fingerprint v1"))
	return hex.EncodeToString(mac.Sum(nil)[:16]), nil
}

// String describes the keyring without revealing key material.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring %s versions %v active %d", k.source, k.Versions(), k.active)
}
