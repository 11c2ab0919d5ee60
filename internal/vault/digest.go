package vault

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// HashAlgorithm names the content-address hash of an object.
type HashAlgorithm string

const (
	// SHA256 is the default content-address hash.
	SHA256 HashAlgorithm = "sha256"
	// SHA512 is selectable for deployments whose policy requires a longer digest.
	SHA512 HashAlgorithm = "sha512"
)

// ParseHashAlgorithm accepts exactly "sha256" or "sha512".
func ParseHashAlgorithm(s string) (HashAlgorithm, error) {
	switch HashAlgorithm(s) {
	case SHA256, SHA512:
		return HashAlgorithm(s), nil
	}
	return "", fmt.Errorf("hash algorithm %q is not supported (expected sha256 or sha512)", s)
}

func (a HashAlgorithm) new() hash.Hash {
	if a == SHA512 {
		return sha512.New()
	}
	return sha256.New()
}

func (a HashAlgorithm) hexLen() int {
	if a == SHA512 {
		return 2 * sha512.Size
	}
	return 2 * sha256.Size
}

// Digest is an object's content address, "<algorithm>:<lowercase hex>", over
// the plaintext. It doubles as the object's file name, so ParseDigest is
// strict: nothing that is not exactly this shape can reach the filesystem.
type Digest string

// ParseDigest validates s as a content address.
func ParseDigest(s string) (Digest, error) {
	alg, hexSum, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("digest %q: expected <sha256|sha512>:<hex>", truncateForError(s))
	}
	a, err := ParseHashAlgorithm(alg)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w", truncateForError(s), err)
	}
	if len(hexSum) != a.hexLen() {
		return "", fmt.Errorf("digest %q: %s needs %d hex characters, got %d", truncateForError(s), a, a.hexLen(), len(hexSum))
	}
	for i := 0; i < len(hexSum); i++ {
		c := hexSum[i]
		if !isLowerHexDigit(c) {
			return "", fmt.Errorf("digest %q: character %d is not lowercase hex", truncateForError(s), len(alg)+1+i)
		}
	}
	return Digest(s), nil
}

func newDigest(a HashAlgorithm, sum []byte) Digest {
	return Digest(string(a) + ":" + hex.EncodeToString(sum))
}

// Algorithm returns the hash algorithm part of a valid digest.
func (d Digest) Algorithm() HashAlgorithm {
	alg, _, _ := strings.Cut(string(d), ":")
	return HashAlgorithm(alg)
}

// Hex returns the hex part of a valid digest.
func (d Digest) Hex() string {
	_, h, _ := strings.Cut(string(d), ":")
	return h
}

func (d Digest) String() string { return string(d) }

// truncateForError keeps hostile input from flooding logs and error messages.
func truncateForError(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// isLowerHexDigit reports whether c is one of 0-9 a-f: digests are written
// in lowercase only, so uppercase hex is a different (invalid) address.
func isLowerHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
