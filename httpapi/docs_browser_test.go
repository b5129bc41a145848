package httpapi

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ScreenshotEnv names a directory to keep the reference page's screenshot
// in (the test's temporary directory goes when it ends).
const screenshotEnv = "SWITCHBOARD_DOCS_SCREENSHOT_DIR"

// chromium runs Debian's headless Chromium on url with the given extra
// flags; the budget of virtual time lets the page's scripts load the
// document and render before the DOM or the screenshot is taken.
func chromium(t *testing.T, bin, url string, flags ...string) []byte {
	t.Helper()
	// A bound so that a hung browser fails the test instead of hanging
	// the suite; no assertion is made on how long it took.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=20000"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(flags, " "), err, stderr.Bytes())
	}
	return out
}

// domText escapes text as Chromium's serialized DOM writes it.
var domText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// The reference page, loaded by a real browser from a real server, shows
// every operation of the document: Swagger UI's files and the document
// were all served by the server (its page's policy forbids anything else).
func TestDocsPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it): the reference page is not checked in a browser")
	}
	f := newFixture(t)
	url := f.srv.URL + "/core/v2/docs"

	dom := string(chromium(t, bin, url, "--dump-dom"))
	if strings.Contains(dom, "Failed to load API definition") || !strings.Contains(dom, "swagger-ui") {
		t.Fatalf("the page did not render the document:\n%.2000s", dom)
	}
	doc := loadDocument(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			// Swagger UI writes each operation's path in data-path and its
			// summary beside it.
			if !strings.Contains(dom, `data-path="`+domText.Replace(path)+`"`) {
				t.Errorf("the page does not show %s %s", method, path)
			}
			if !strings.Contains(dom, ">"+domText.Replace(op.Summary)+"<") {
				t.Errorf("the page does not show the summary of %s %s: %q", method, path, op.Summary)
			}
		}
	}
	if !strings.Contains(dom, `data-path="/core/v2/endpoints/{endpoint_sid}"`) {
		t.Fatal("the endpoint operations are missing")
	}

	shot := filepath.Join(t.TempDir(), "docs.png")
	chromium(t, bin, url, "--window-size=1280,1800", "--hide-scrollbars", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Fatalf("no screenshot of the page (%d bytes): %v", len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv(screenshotEnv); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "docs.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
