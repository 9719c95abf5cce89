package runner

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"difflab/stages/artifact"
)

// corruptKeepingStat changes one byte of the file at p and restores its
// size and modification time, so that only hashing can tell.
func corruptKeepingStat(t *testing.T, p string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
}

func TestResultsFolderFollowsTheEntry(t *testing.T) {
	for _, mode := range []string{"verify", "force"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			g := newGraph("r.yaml")
			g.add("a", "test.source", src(1))
			e.run(g)
			out := filepath.Join(ResultDir(e.results, "r.yaml", "a"), "out.npy")
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			corruptKeepingStat(t, out)
			s := e.run(g, func(o *Options) {
				o.Verify = mode == "verify"
				o.Force = mode == "force"
			})
			if r := result(t, s, "a"); r.Error != "" || r.ResultsError != "" {
				t.Fatalf("a: %+v", r)
			}
			if b, _ := os.ReadFile(out); string(b) != string(want) {
				t.Fatalf("after a run with --%s the results folder still holds the corrupted file", mode)
			}
		})
	}
}

func TestResultsFolderOfARepairedEntry(t *testing.T) {
	// The weights file of a model is hard-linked into the results folder,
	// so corrupting one corrupts the other; the repaired entry must not
	// leave the corrupted link in place.
	e := newEnv(t)
	g, en := modelEntry(t, e)
	rel := filepath.Join("model", "epoch_001", "weights.bin")
	want, err := os.ReadFile(filepath.Join(en.OutDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	corruptKeepingStat(t, filepath.Join(en.OutDir, rel))
	s := e.run(g, func(o *Options) { o.Verify = true })
	if r := result(t, s, "m"); r.Status != StatusExecuted {
		t.Fatalf("the corrupted entry was not recomputed: %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(ResultDir(e.results, "m.yaml", "m"), rel)); string(b) != string(want) {
		t.Fatal("the results folder still holds the corrupted weights after the entry was repaired")
	}
}

func TestResultsThatCannotBeWrittenAreReported(t *testing.T) {
	cases := map[string]func(t *testing.T, e *env) *graph{
		"results path is a file": func(t *testing.T, e *env) *graph {
			if err := os.WriteFile(e.results, []byte("not a folder"), 0o644); err != nil {
				t.Fatal(err)
			}
			g := newGraph("r.yaml")
			g.add("a", "test.source", src(1))
			return g
		},
		"name too long": func(t *testing.T, e *env) *graph {
			g := newGraph(strings.Repeat("x", 300) + ".yaml")
			g.add("a", "test.source", src(1))
			return g
		},
	}
	for name, setUp := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			g := setUp(t, e)
			for _, run := range []string{"computed", "cached"} {
				s := e.run(g)
				r := result(t, s, "a")
				if r.ResultsError == "" || s.ResultsFailed != 1 {
					t.Fatalf("%s: a results folder that cannot be written is not reported: %+v", run, s)
				}
				if r.Status == StatusFailed {
					t.Fatalf("%s: the stage itself is reported failed: %+v", run, r)
				}
			}
		})
	}
}

func TestResultsFolderUpToDateIsLeftAlone(t *testing.T) {
	e := newEnv(t)
	g := newGraph("r.yaml")
	g.add("a", "test.source", src(1))
	e.run(g)
	out := filepath.Join(ResultDir(e.results, "r.yaml", "a"), "out.npy")
	st1, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	e.run(g, func(o *Options) { o.Verify = true })
	if st2, _ := os.Stat(out); !st2.ModTime().Equal(st1.ModTime()) {
		t.Fatal("--verify rewrote a results folder whose files are intact")
	}
	if a, err := LoadResult(filepath.Dir(out), "out"); err != nil || a.(*artifact.Tensor).Data[0] != 1 {
		t.Fatalf("LoadResult = %v, %v", a, err)
	}
}

func TestFoldersFollowTheUmask(t *testing.T) {
	mask := os.FileMode(syscall.Umask(0))
	syscall.Umask(int(mask))
	want := 0o777 &^ mask
	if want == 0o700 {
		t.Skip("the umask 077 gives the same modes as private temporary folders: nothing to tell apart")
	}
	e := newEnv(t)
	g := newGraph("r.yaml")
	g.add("a", "test.source", src(1))
	s := e.run(g)
	en, err := e.c.Get(result(t, s, "a").Key, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{en.Dir, en.OutDir, ResultDir(e.results, "r.yaml", "a")} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v (0777 under the umask %03o)", dir, st.Mode().Perm(), want, mask)
		}
	}
}

func TestSweepValuesKeepTheirOwnResultsFolders(t *testing.T) {
	e := newEnv(t)
	g := newGraph("r.yaml")
	g.add("x[p=a/b]", "test.source", src(1))
	g.add("x[p=a_b]", "test.source", src(2))
	g.add("x[p=a%2Fb]", "test.source", src(3))
	e.run(g)
	for i, id := range []string{"x[p=a/b]", "x[p=a_b]", "x[p=a%2Fb]"} {
		a, err := LoadResult(ResultDir(e.results, "r.yaml", id), "out")
		if err != nil || a.(*artifact.Tensor).Data[0] != float32(i+1) {
			t.Errorf("%s: %v, %v: its results folder holds another node's outputs", id, a, err)
		}
	}
}
