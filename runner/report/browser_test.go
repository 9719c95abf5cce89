package report

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package installs the browser;
// DIFFLAB_CHROMIUM overrides it.
const chromiumPath = "/usr/bin/chromium"

// chromium returns the browser to test with, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	p := chromiumPath
	if env := os.Getenv("DIFFLAB_CHROMIUM"); env != "" {
		p = env
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("browser test skipped: no Chromium at %s (install it with `apt-get install -y chromium`, or set DIFFLAB_CHROMIUM)", p)
	}
	return p
}

// headless runs Chromium on the page with the given extra arguments and
// returns its standard output and error.
func headless(t *testing.T, browser, page string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000",
	}
	cmd := exec.CommandContext(ctx, browser, append(append(base, args...), (&url.URL{Scheme: "file", Path: page}).String())...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium did not finish in 90 s; stderr:\n%s", errb.String())
		}
		t.Fatalf("chromium: %v; stderr:\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

var reportAttr = regexp.MustCompile(`data-report-(check|images|broken|errors)="([^"]*)"`)

// loadInBrowser opens index in headless Chromium and returns the page's own
// check results: the data-report-* attributes its script sets on <html>.
func loadInBrowser(t *testing.T, browser, index string) map[string]string {
	t.Helper()
	dom, stderr := headless(t, browser, index, "--dump-dom")
	got := map[string]string{}
	for _, m := range reportAttr.FindAllStringSubmatch(dom, -1) {
		got[m[1]] = m[2]
	}
	if got["check"] != "done" {
		t.Fatalf("the page's load handler did not run (no data-report-check); stderr:\n%s\nDOM head:\n%.2000s", stderr, dom)
	}
	return got
}

// TestReportInBrowser renders a sample report, in single and compare mode,
// in headless Chromium and checks that it loads without script errors and
// that every image resolves. With DIFFLAB_REPORT_SCREENSHOTS set to a
// folder, it also saves desktop and phone screenshots and the sample page
// there.
func TestReportInBrowser(t *testing.T) {
	browser := chromium(t)
	for _, runs := range [][]string{{"results"}, {"quick", "full"}} {
		name := strings.Join(runs, "-")
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			exps := sample(t, root, len(runs))
			Sort(exps)
			index, err := Write(exps, Options{Out: filepath.Join(root, "report"), Runs: runs, Now: sampleStart})
			if err != nil {
				t.Fatal(err)
			}
			got := loadInBrowser(t, browser, index)
			if got["images"] == "0" || got["images"] == "" {
				t.Fatalf("browser saw no images: %v", got)
			}
			if got["broken"] != "" {
				t.Errorf("images that did not load: %s", got["broken"])
			}
			if got["errors"] != "" {
				t.Errorf("script errors: %s", got["errors"])
			}
			if dir := os.Getenv("DIFFLAB_REPORT_SCREENSHOTS"); dir != "" {
				screenshots(t, browser, index, dir, name)
			}
		})
	}
}

// TestBrowserCheckSeesBrokenImages is the check's negative control: with an
// image file removed, the page must report it.
func TestBrowserCheckSeesBrokenImages(t *testing.T) {
	browser := chromium(t)
	root := t.TempDir()
	exps := sample(t, root, 1)
	index, err := Write(exps, Options{Out: filepath.Join(root, "report")})
	if err != nil {
		t.Fatal(err)
	}
	imgs, _ := filepath.Glob(filepath.Join(root, "report", filesDir, "*.png"))
	if len(imgs) == 0 {
		t.Fatal("sample report has no image files")
	}
	if err := os.Remove(imgs[0]); err != nil {
		t.Fatal(err)
	}
	got := loadInBrowser(t, browser, index)
	if !strings.Contains(got["broken"], filepath.Base(imgs[0])) {
		t.Fatalf("removed image %s not reported as broken: %v", filepath.Base(imgs[0]), got)
	}
}

func screenshots(t *testing.T, browser, index, dir, name string) {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ suffix, size string }{{"desktop", "1280,2200"}, {"phone", "390,2200"}} {
		shot := filepath.Join(dir, "report-"+name+"-"+s.suffix+".png")
		headless(t, browser, index, "--hide-scrollbars", "--window-size="+s.size, "--screenshot="+shot)
		if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
			t.Errorf("no screenshot at %s: %v", shot, err)
		} else {
			t.Logf("screenshot: %s", shot)
		}
	}
}
