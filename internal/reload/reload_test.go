package reload

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFilesReloadsOnChangeAndKeepsLastGoodState(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cert.pem")
	secret := filepath.Join(dir, "keyring")
	must(t, os.WriteFile(file, []byte("one"), 0o600))
	must(t, os.Mkdir(secret, 0o700))
	must(t, os.WriteFile(filepath.Join(secret, "1"), []byte("k1"), 0o600))
	must(t, os.WriteFile(filepath.Join(secret, "..data"), []byte("ignored"), 0o600))

	var loads []string
	refuse := false
	f, err := NewFiles(func(c [][]byte) error {
		if refuse {
			return errors.New("refused")
		}
		loads = append(loads, string(c[0])+"|"+string(c[1]))
		return nil
	}, file, secret)
	must(t, err)

	steps := []struct {
		name        string
		edit        func()
		refuse      bool
		wantChanged bool
		wantErr     bool
		wantLoads   int
	}{
		{"unchanged files are not loaded again", func() {}, false, false, false, 1},
		{"a changed file is loaded", func() { must(t, os.WriteFile(file, []byte("two"), 0o600)) }, false, true, false, 2},
		{"a file added to the directory is loaded", func() { must(t, os.WriteFile(filepath.Join(secret, "2"), []byte("k2"), 0o600)) }, false, true, false, 3},
		{"a dot file in the directory is ignored", func() { must(t, os.WriteFile(filepath.Join(secret, "..data"), []byte("x"), 0o600)) }, false, false, false, 3},
		{"a refused load keeps the previous state", func() { must(t, os.WriteFile(file, []byte("bad"), 0o600)) }, true, false, true, 3},
		{"the refused contents are offered again", func() {}, false, true, false, 4},
		{"a missing file is an error", func() { must(t, os.Remove(file)) }, false, false, true, 4},
	}
	for _, s := range steps {
		s.edit()
		refuse = s.refuse
		changed, err := f.Reload()
		if changed != s.wantChanged || (err != nil) != s.wantErr || len(loads) != s.wantLoads {
			t.Fatalf("%s: changed=%v err=%v loads=%d, want changed=%v err=%v loads=%d",
				s.name, changed, err, len(loads), s.wantChanged, s.wantErr, s.wantLoads)
		}
	}
	if got := loads[len(loads)-1]; got != "bad|1\x00k1\x002\x00k2\x00" {
		t.Fatalf("last load got %q", got)
	}
}

func TestNewFilesFailsWhenTheFirstLoadFails(t *testing.T) {
	if _, err := NewFiles(func([][]byte) error { return nil }, filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("NewFiles accepted a missing file")
	}
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, nil, 0o600))
	if _, err := NewFiles(func([][]byte) error { return errors.New("unusable") }, file); err == nil {
		t.Fatal("NewFiles accepted a refused first load")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
