package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"difflab/runner/remote"
	"difflab/runner/remote/remotetest"
)

func init() {
	// A remote cache named in the environment must not reach the tests.
	for _, v := range []string{remote.EnvURL, remote.EnvReadOnly, remote.EnvToken, remote.EnvUser, remote.EnvPassword} {
		os.Unsetenv(v)
	}
}

// noiseYAML is a small real experiment: an image, noised, and a figure.
const noiseYAML = `name: noise
stages:
  pic:
    kind: image.load
    with: {path: pic.png, mode: gray, size: [8, 8]}
  noisy:
    kind: noise.forward
    in: {images: pic}
    with: {t: 500, seed: 3}
  figure:
    kind: plot.grid
    in: {images: [pic, noisy]}
    with: {titles: ["Original", "t=500"]}
`

// gradientPNG returns an 8 x 8 gray gradient as PNG.
func gradientPNG(t *testing.T) string {
	m := image.NewGray(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			m.SetGray(x, y, color.Gray{Y: uint8(x*32 + y)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// resultFiles maps every result file below dir, except the markers that
// record local modification times, to its bytes.
func resultFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".difflab-result.json" {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRemoteCacheServesASecondClone(t *testing.T) {
	n := remotetest.StartNginx(t)
	files := map[string]string{"noise.yaml": noiseYAML, "pic.png": gradientPNG(t)}
	one, two := newWS(t, files), newWS(t, files)

	s := one.summary("--remote-cache", n.URL, one.exp)
	if s.Executed != 3 || s.Uploaded != 3 {
		t.Fatalf("first clone: %s, %d uploaded", statuses(s), s.Uploaded)
	}
	code, out, errs := two.do("plan", "--remote-cache", n.URL, two.exp)
	if code != exitOK || strings.Count(out, ": cached remotely (downloads ") != 3 ||
		!strings.Contains(out, "0 would run, 3 cached (3 to download from the remote cache)") {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errs)
	}
	t.Setenv(remote.EnvURL, n.URL) // the variable does what the flag does
	s = two.summary(two.exp)
	if s.Executed != 0 || s.RemoteHits != 3 || s.Uploaded != 0 {
		t.Fatalf("second clone: %s, %d remote hits", statuses(s), s.RemoteHits)
	}
	a, b := resultFiles(t, one.results), resultFiles(t, two.results)
	if len(a) < 5 || len(a) != len(b) {
		t.Fatalf("result files %d and %d", len(a), len(b))
	}
	for name, body := range a {
		if b[name] != body {
			t.Fatalf("result %s differs between the clones", name)
		}
	}
	code, out, _ = two.do("run", two.exp)
	if code != exitOK || !strings.Contains(out, "0 executed, 3 cached in") {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}
	code, out, errs = two.do("status")
	if code != exitOK || !strings.Contains(out, "remote cache "+n.URL+": reachable") || !strings.Contains(out, "read-write, credentials: none") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errs)
	}
}

func TestRemoteCacheDeadServerCostsLittle(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	start := time.Now()
	code, out, errs := w.do("run", "--remote-cache", url, w.exp)
	if code != exitOK || !strings.Contains(out, "5 executed, 0 cached in") || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v\n%s%s", code, time.Since(start), out, errs)
	}
	if strings.Count(errs, "remote cache unavailable") != 1 || !strings.Contains(errs, "connection refused") {
		t.Fatalf("want one warning:\n%s", errs)
	}
	code, out, _ = w.do("status", "--remote-cache", url)
	if code != exitOK || !strings.Contains(out, "remote cache "+url+": unreachable") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}

func TestRemoteCacheCredentialsOnlyFromTheEnvironment(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	for _, cmd := range []string{"run", "plan", "status"} {
		args := []string{"--remote-cache", "https://bob:hunter2@cache.example"}
		if cmd != "status" {
			args = append(args, w.exp)
		}
		code, _, errs := w.do(cmd, args...)
		if code != exitUsage || !strings.Contains(errs, "DIFFLAB_REMOTE_CACHE_USER and DIFFLAB_REMOTE_CACHE_PASSWORD") || strings.Contains(errs, "hunter2") {
			t.Fatalf("%s: exit %d\n%s", cmd, code, errs)
		}
	}
}
