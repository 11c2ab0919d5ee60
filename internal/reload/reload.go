// Package reload keeps a service's certificates, CA bundles and keyrings
// current without a restart: it re-reads files mounted from Secrets and
// switches to them when their contents change. The gateway and the vault use
// it alike.
//
// Contents are compared, not modification times, because the kubelet updates
// a mounted Secret by swapping a symlink, which mtime polling can miss. A
// reload that fails (say a certificate was replaced but its key not yet, as
// happens between two file writes) keeps the last good state and is tried
// again at the next poll.
package reload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files watches a fixed list of files and hands their contents to a load
// function when any of them changed since the last successful load. A path
// that is a directory (a whole mounted Secret) stands for the names and
// contents of the files in it, those starting with "." (the kubelet's
// ..data links) left out.
type Files struct {
	paths []string
	load  func(contents [][]byte) error

	mu          sync.Mutex // serialises reloads
	fingerprint [sha256.Size]byte
	loaded      bool
}

// NewFiles loads the files once and fails if that load fails, so a service
// never starts on a state it could not read.
func NewFiles(load func(contents [][]byte) error, paths ...string) (*Files, error) {
	f := &Files{paths: paths, load: load}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload re-reads the files and calls load if their contents changed. A load
// error leaves the previous state in place; the same contents are offered to
// load again at the next call.
func (f *Files) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	contents := make([][]byte, len(f.paths))
	for i, name := range f.paths {
		if contents[i], err = readPath(name); err != nil {
			return false, err
		}
	}
	fp := sha256.Sum256(bytes.Join(contents, []byte{0}))
	if f.loaded && fp == f.fingerprint {
		return false, nil
	}
	if err := f.load(contents); err != nil {
		return false, err
	}
	f.fingerprint, f.loaded = fp, true
	return true, nil
}

// Run calls Reload every interval until ctx ends and reports each outcome
// that is a change or an error to observe (which may be nil).
func (f *Files) Run(ctx context.Context, interval time.Duration, observe func(changed bool, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := f.Reload()
			if observe != nil && (changed || err != nil) {
				observe(changed, err)
			}
		}
	}
}

// readPath reads a file, or a directory's files as name, NUL, contents, NUL,
// in name order.
func readPath(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		return b, nil
	}
	entries, err := os.ReadDir(name) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var buf bytes.Buffer
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(name, e.Name())
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			continue // a dangling link or a subdirectory is not part of the contents
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		buf.WriteString(e.Name())
		buf.WriteByte(0)
		buf.Write(b)
		buf.WriteByte(0)
	}
	return buf.Bytes(), nil
}
