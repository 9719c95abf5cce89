package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"difflab/models/tensor"
	"difflab/runner"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	out := []stages.Port{{Name: "out", Type: artifact.TypeTensor}}
	stages.Register(&stages.Kind{
		Name: "clitest.source", Doc: "out[i] = value + i", Version: 1, Outputs: out,
		Params: []stages.Param{{Name: "value", Type: stages.Float}},
		Run: func(ctx *stages.Context) error {
			t := artifact.NewTensor(3)
			for i := range t.Data {
				t.Data[i] = float32(ctx.Params.Float("value")) + float32(i)
			}
			return ctx.Output("out", t)
		},
	})
	stages.Register(&stages.Kind{
		Name: "clitest.reserve", Doc: "needs the given bytes of memory for its input", Version: 1, Outputs: out,
		Params: []stages.Param{{Name: "bytes", Type: stages.Int}},
		Run: func(ctx *stages.Context) error {
			if err := ctx.CheckMemory(int64(ctx.Params.Int("bytes")), "bytes"); err != nil {
				return err
			}
			return ctx.Output("out", artifact.NewTensor(1))
		},
	})
	stages.Register(&stages.Kind{
		Name: "clitest.scale", Doc: "out = factor * in", Version: 1, Outputs: out,
		Inputs: []stages.Port{{Name: "in", Type: artifact.TypeTensor}},
		Params: []stages.Param{{Name: "factor", Type: stages.Float, Default: 1.0}},
		Run: func(ctx *stages.Context) error {
			in := ctx.One("in").(*artifact.Tensor)
			t := artifact.NewTensor(in.Shape...)
			for i, v := range in.Data {
				t.Data[i] = float32(ctx.Params.Float("factor")) * v
			}
			return ctx.Output("out", t)
		},
	})
	stages.Register(&stages.Kind{
		Name: "clitest.images", Doc: "two gray 2x2 images", Version: 1,
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Run: func(ctx *stages.Context) error {
			m := artifact.NewImages(2, 1, 2, 2, 0, 1)
			m.Data[0] = 1
			return ctx.Output("images", m)
		},
	})
	stages.Register(&stages.Kind{
		Name: "clitest.fail", Doc: "fails", Version: 1, Outputs: out,
		Run: func(ctx *stages.Context) error { return errors.New("deliberate failure") },
	})
	stages.Register(&stages.Kind{
		Name: "clitest.block", Doc: "waits for cancellation", Version: 1, Outputs: out,
		Run: func(ctx *stages.Context) error {
			os.WriteFile(os.Getenv("DIFFLAB_TEST_READY"), nil, 0o644)
			<-ctx.Done()
			return ctx.Err()
		},
	})
}

func TestMain(m *testing.M) {
	// A Slurm job of a test runs this binary as difflab (see slurmBinary).
	if os.Getenv("DIFFLAB_CLI_ARGS") == "1" {
		os.Exit(dispatch(os.Args[1:]))
	}
	if args := os.Getenv("DIFFLAB_CLI_HELPER"); args != "" {
		os.Exit(dispatch(strings.Split(args, "\x1f")))
	}
	os.Exit(m.Run())
}

const demoYAML = `name: demo
stages:
  a:
    kind: clitest.source
    with: {value: 1}
  b:
    kind: clitest.scale
    in: {in: a}
    with: {factor: 2}
  c:
    kind: clitest.scale
    in: {in: b}
  d:
    kind: clitest.source
    with: {value: 5}
  pics:
    kind: clitest.images
`

type ws struct {
	t                  *testing.T
	dir, exp, cacheDir string
	results            string
}

func newWS(t *testing.T, files map[string]string) *ws {
	dir := t.TempDir()
	w := &ws{t: t, dir: dir, exp: filepath.Join(dir, "experiments"), cacheDir: filepath.Join(dir, "cache"), results: filepath.Join(dir, "results")}
	for name, text := range files {
		p := filepath.Join(w.exp, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(text), 0o644)
	}
	return w
}

// do runs difflab with args plus the workspace's cache and results flags.
func (w *ws) do(cmd string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	stdout, stderr = &out, &errb
	defer func() { stdout, stderr = os.Stdout, os.Stderr }()
	all := append([]string{cmd, "--cache", w.cacheDir}, args...)
	if cmd == "run" || cmd == "plan" {
		all = append(all, "--results", w.results)
	}
	code := dispatch(all)
	return code, out.String(), errb.String()
}

func (w *ws) summary(args ...string) *runner.Summary {
	w.t.Helper()
	code, out, errs := w.do("run", append([]string{"--json"}, args...)...)
	var s runner.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("run %v: exit %d, stdout %q, stderr %s", args, code, out, errs)
	}
	if code != exitOK {
		w.t.Fatalf("run %v: exit %d\n%s", args, code, errs)
	}
	return &s
}

func statuses(s *runner.Summary) string {
	var parts []string
	for _, st := range s.Stages {
		parts = append(parts, st.ID+"="+st.Status)
	}
	return strings.Join(parts, " ")
}

func TestRunRerunAndSet(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	s := w.summary(w.exp)
	if s.Executed != 5 {
		t.Fatalf("first run: %s", statuses(s))
	}
	if s = w.summary(w.exp); s.Executed != 0 || s.Cached != 5 {
		t.Fatalf("rerun: %s", statuses(s))
	}
	s = w.summary(w.exp, "--set", "b.factor=3")
	if got := statuses(s); got != "a=cached b=executed c=executed d=cached pics=cached" {
		t.Fatalf("--set b.factor=3: %s", got)
	}
	code, out, _ := w.do("plan", w.exp, "--set", "b.factor=4")
	if code != exitOK || !strings.Contains(out, "would-run demo.yaml b: param factor: 3 -> 4") ||
		!strings.Contains(out, "would-run demo.yaml c: input in (b) changed") || !strings.Contains(out, "cached    demo.yaml a") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	// Results and export.
	res := filepath.Join(w.results, "demo", "c")
	npy := filepath.Join(w.dir, "c.npy")
	if code, _, errs := w.do("export", res, "out", "--to", npy); code != exitOK {
		t.Fatalf("export: %d %s", code, errs)
	}
	b, _ := os.ReadFile(npy)
	if _, data, err := tensor.DecodeNPY(b); err != nil || data.([]float32)[2] != 9 {
		t.Fatalf("exported c = %v, %v (want 3 * (1 + 2) = 9 last)", data, err)
	}
	var key string
	for _, st := range s.Stages {
		if st.ID == "pics" {
			key = st.Key
		}
	}
	png := filepath.Join(w.dir, "pics.png")
	if code, _, errs := w.do("export", key[:10], "images", "--to", png); code != exitOK {
		t.Fatalf("export by key: %d %s", code, errs)
	}
	if b, _ := os.ReadFile(png); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatal("export did not write a PNG")
	}
	if code, _, errs := w.do("export", res, "out", "--to", filepath.Join(w.dir, "c.png")); code != exitError || !strings.Contains(errs, ".npy") {
		t.Fatalf("tensor to PNG: exit %d, %s", code, errs)
	}
}

func TestMaxMemoryReachesTheStages(t *testing.T) {
	w := newWS(t, map[string]string{"mem.yaml": "stages:\n  big:\n    kind: clitest.reserve\n    with: {bytes: 3000000}\n" +
		"  small:\n    kind: clitest.reserve\n    with: {bytes: 1000}\n"})
	code, out, _ := w.do("run", "--max-memory", "2M", w.exp)
	if code != exitStageFailed || !strings.Contains(out, "failed    mem.yaml big: stage big: parameter bytes: for these inputs the stage needs about 2.9 MiB of memory, more than the 2.0 MiB allowed") ||
		!strings.Contains(out, "1 executed") {
		t.Fatalf("run --max-memory 2M: exit %d\n%s", code, out)
	}
	if code, out, _ := w.do("run", "--max-memory", "4M", w.exp); code != exitOK {
		t.Fatalf("run --max-memory 4M: exit %d\n%s", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	w := newWS(t, map[string]string{
		"demo.yaml": demoYAML,
		"bad.yaml":  "stages:\n  a:\n    kind: clitest.source\n    with: {valeu: 1}\n",
		"fail.yaml": "stages:\n  x:\n    kind: clitest.fail\n  y:\n    kind: clitest.scale\n    in: {in: x}\n  z:\n    kind: clitest.source\n    with: {value: 1}\n",
	})
	code, _, errs := w.do("run", filepath.Join(w.exp, "bad.yaml"))
	if code != exitValidation || !regexp.MustCompile(`(?m)^\S*bad.yaml:4:\d+: .*valeu.*\n +4 \| +with: \{valeu: 1\}\n +\| +\^\n +fix: .*value`).MatchString(errs) {
		t.Fatalf("invalid experiment: exit %d\n%s", code, errs)
	}
	code, out, _ := w.do("run", filepath.Join(w.exp, "fail.yaml"))
	if code != exitStageFailed || !strings.Contains(out, "failed    fail.yaml x: deliberate failure") ||
		!strings.Contains(out, "skipped   fail.yaml y: input x failed") {
		t.Fatalf("failed stage: exit %d\n%s", code, out)
	}
	// A results folder that cannot be written is an I/O error, on the run
	// that computes and on the one that finds everything cached.
	os.RemoveAll(w.results)
	os.WriteFile(w.results, []byte("a file where the results folder goes"), 0o644)
	for i := 0; i < 2; i++ {
		code, out, _ = w.do("run", filepath.Join(w.exp, "demo.yaml"))
		if code != exitError || !strings.Contains(out, "demo.yaml a: results not written: ") ||
			!strings.Contains(out, "5 with results not written") {
			t.Fatalf("unwritable results, run %d: exit %d\n%s", i+1, code, out)
		}
	}
	os.Remove(w.results)
	for _, args := range [][]string{{"run", "--nope"}, {"frobnicate"}, {"run", "--only", "nope", filepath.Join(w.exp, "demo.yaml")}, {"export", "x"}, {"run", "--set", "a=1"}, {"plan", "--set", "a.value=[1"}} {
		if code, _, errs := w.do(args[0], args[1:]...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, errs)
		}
	}
	if code, out, _ := w.do("help"); code != exitOK || !strings.Contains(out, "plan") || !strings.Contains(out, "export") {
		t.Fatalf("help: %d\n%s", code, out)
	}
}

func TestInterruptExitsWith130(t *testing.T) {
	w := newWS(t, map[string]string{"block.yaml": "stages:\n  x:\n    kind: clitest.block\n  y:\n    kind: clitest.scale\n    in: {in: x}\n"})
	ready := filepath.Join(w.dir, "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := []string{"run", "--json", "--cache", w.cacheDir, "--results", w.results, w.exp}
	cmd.Env = append(os.Environ(), "DIFFLAB_CLI_HELPER="+strings.Join(args, "\x1f"), "DIFFLAB_TEST_READY="+ready)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("stage never started")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v", err)
	}
	var s runner.Summary
	if json.Unmarshal(out.Bytes(), &s) != nil || !s.Interrupted || s.Executed != 0 {
		t.Fatalf("summary: %s", out.String())
	}
}

func TestStatusAndGC(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	w.summary(w.exp)
	w.summary(w.exp, "--set", "a.value=2") // a, b, c get second entries
	status := func() int {
		_, out, _ := w.do("status", "--json")
		var st struct{ Entries int }
		json.Unmarshal([]byte(out), &st)
		return st.Entries
	}
	if n := status(); n != 8 {
		t.Fatalf("status: %d entries, want 8", n)
	}
	if code, out, _ := w.do("gc", "--dry-run", "--profiles", "quick", w.exp); code != exitOK || !strings.HasPrefix(out, "would remove 3 entries") {
		t.Fatalf("gc --dry-run: %d %s", code, out)
	}
	if code, _, errs := w.do("gc", "--profiles", "quick", w.exp); code != exitOK || status() != 5 {
		t.Fatalf("gc kept %d entries: %s", status(), errs)
	}
	if s := w.summary(w.exp); s.Executed != 0 {
		t.Fatalf("gc removed needed entries: %s", statuses(s))
	}
	// Leftovers of a run killed while copying results go; a folder being
	// copied right now and the results themselves stay.
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{".a.tmp-123", ".a.old-456"} {
		p := filepath.Join(w.results, "demo", name)
		os.MkdirAll(filepath.Join(p, "x"), 0o755)
		os.Chtimes(p, old, old)
	}
	os.MkdirAll(filepath.Join(w.results, "demo", ".b.tmp-789"), 0o755)
	if code, out, _ := w.do("gc", "--results", w.results); code != exitOK || !strings.Contains(out, "2 temporary folders in") {
		t.Fatalf("gc --results: %d %s", code, out)
	}
	left, _ := filepath.Glob(filepath.Join(w.results, "demo", ".*"))
	if len(left) != 1 || filepath.Base(left[0]) != ".b.tmp-789" {
		t.Fatalf("left in results: %v", left)
	}
}

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "16G": 16 << 30, "16GiB": 16 << 30, "16gb": 16 << 30, "1.5T": 3 << 39, "4096": 4096} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "G", "12x", "-1G", "0"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("%q accepted as %d bytes", bad, b)
		}
	}
	if machineMemory() <= 0 {
		t.Error("the machine's memory is unknown; /proc/meminfo has MemTotal on Linux")
	}
}
