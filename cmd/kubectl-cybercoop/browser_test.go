//go:build browser

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// TestAuditHTMLInChromium opens the HTML report in headless Chromium (Debian's
// chromium package; `make browser-test`): it renders, every control of both
// reports is in the rendered document, it prints to PDF, and a screenshot is kept
// in bin/test-artefacts/ (or $ARTEFACTS_DIR).
func TestAuditHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium; `make browser-test` says so): %v", err)
	}
	html, err := run(t, "audit", "-A", "-o", "html")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "audit.html")
	if err := os.WriteFile(page, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	artefacts := os.Getenv("ARTEFACTS_DIR")
	if artefacts == "" {
		artefacts = filepath.Join(envtestutil.RepoRoot(), "bin", "test-artefacts")
	}
	if err := os.MkdirAll(artefacts, 0o755); err != nil {
		t.Fatal(err)
	}
	browse := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless=new", "--no-sandbox", "--disable-gpu",
			"--user-data-dir=" + filepath.Join(dir, "profile")}, append(args, "file://"+page)...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.Bytes()
	}

	dom := browse("--dump-dom")
	for _, want := range [][]byte{[]byte("<h1>Compliance report: KE</h1>"), []byte("<h1>Compliance report: FR</h1>")} {
		if !bytes.Contains(dom, want) {
			t.Errorf("the rendered document lacks %s", want)
		}
	}
	inSource := regexp.MustCompile(`id="control-[a-z0-9-]+"`).FindAllString(html, -1)
	inDOM := regexp.MustCompile(`id="control-[a-z0-9-]+"`).FindAll(dom, -1)
	if len(inSource) != 26 || len(inDOM) != len(inSource) {
		t.Errorf("controls: %d in the file (want 13 per report, 26), %d in the rendered document", len(inSource), len(inDOM))
	}

	pdf := filepath.Join(artefacts, "audit-report.pdf")
	browse("--print-to-pdf="+pdf, "--no-pdf-header-footer")
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || len(b) < 10_000 {
		t.Errorf("printing to PDF: %d bytes, %v", len(b), err)
	}
	shot := filepath.Join(artefacts, "audit-report.png")
	browse("--screenshot="+shot, "--window-size=1280,1800")
	if b, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10_000 {
		t.Errorf("the screenshot: %d bytes, %v", len(b), err)
	}
	t.Logf("screenshot and PDF kept in %s", artefacts)
}
