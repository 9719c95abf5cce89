package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/stages"
)

// Tests that need separate processes re-execute the test binary with
// $DIFFLAB_TEST_HELPER naming a graph; the helper runs it on the cache in
// $DIFFLAB_TEST_CACHE and prints the summary as JSON.

func TestMain(m *testing.M) {
	if name := os.Getenv("DIFFLAB_TEST_HELPER"); name != "" {
		os.Exit(helperMain(name))
	}
	os.Exit(m.Run())
}

func helperGraph(name string) *graph {
	g := newGraph("helper.yaml")
	switch name {
	case "block":
		g.add("big", "test.block", nil)
	case "publish-then-block":
		g.add("a", "test.source", src(3))
		g.add("b", "test.scale", stages.Params{"factor": 2.0}, "in=a")
		g.add("big", "test.block", nil, "in=b")
	case "slow":
		p := src(1)
		p["sleep_ms"] = 300
		g.add("a", "test.source", p)
		g.add("b", "test.scale", stages.Params{"factor": 2.0}, "in=a")
		q := src(2)
		q["sleep_ms"] = 300
		g.add("c", "test.source", q)
	}
	return g
}

func helperMain(name string) int {
	c, err := cache.Open(os.Getenv("DIFFLAB_TEST_CACHE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := Run(context.Background(), helperGraph(name).g, Options{Cache: c, Jobs: 2, Log: zerolog.New(os.Stderr)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(s)
	return 0
}

func helper(t *testing.T, name, cacheDir string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "DIFFLAB_TEST_HELPER="+name, "DIFFLAB_TEST_CACHE="+cacheDir)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("helper never created %s", path)
}

func TestKilledRunLeavesNothingValid(t *testing.T) {
	for _, mode := range []string{"run", "save"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			ready := filepath.Join(e.dir, "ready")
			cmd := helper(t, "block", e.c.Root(), "DIFFLAB_TEST_MODE="+mode, "DIFFLAB_TEST_READY="+ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ready)
			cmd.Process.Kill() // SIGKILL
			cmd.Wait()

			g := helperGraph("block")
			keys, err := Keys(g.g, e.c.Digests, nil)
			if err != nil {
				t.Fatal(err)
			}
			key := keys[g.ids["big"]].Key
			if _, err := e.c.Get(key, true); !errors.Is(err, cache.ErrNotFound) {
				t.Fatalf("killed run left an entry that reads as %v", err)
			}
			temps, _ := os.ReadDir(filepath.Join(e.c.Root(), "tmp"))
			if len(temps) == 0 {
				t.Fatal("expected the killed run's temporary directory (the test did not kill mid-write)")
			}
			s := e.run(g)
			if s.Executed != 1 || s.Failed != 0 {
				t.Fatalf("run after the kill: %+v", s)
			}
			if _, err := e.c.Get(key, true); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(filepath.Join(e.c.Root(), "tmp")); len(left) != 0 {
				t.Fatalf("%d temporary directories of the killed run survive the next run", len(left))
			}
		})
	}
}

func TestConcurrentProcessesComputeOnce(t *testing.T) {
	e := newEnv(t)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := 0; i < 2; i++ {
		cmd := helper(t, "slow", e.c.Root())
		out := &strings.Builder{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	executed, cached := 0, 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		var s Summary
		if err := json.Unmarshal([]byte(outs[i].String()), &s); err != nil {
			t.Fatalf("helper %d printed %q", i, outs[i].String())
		}
		executed += s.Executed
		cached += s.Cached
	}
	if ran := got(e.ran()); ran != "a b c" || executed != 3 || cached != 3 {
		t.Fatalf("stages ran %q; executed %d, cached %d in total", ran, executed, cached)
	}
}

func TestGCLeavesWhatALiveRunHolds(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(e.dir, "ready")
	cmd := helper(t, "publish-then-block", e.c.Root(), "DIFFLAB_TEST_MODE=run", "DIFFLAB_TEST_READY="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, ready)
	g := helperGraph("publish-then-block")
	keys, err := Keys(g.g, e.c.Digests, nil)
	if err != nil {
		t.Fatal(err)
	}
	published := []string{keys[g.ids["a"]].Key, keys[g.ids["b"]].Key}
	// A gc for other experiments: nothing of the running one is needed.
	rep, err := e.c.GC(cache.GCOptions{Keep: map[string]bool{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range published {
		if _, err := e.c.Get(k, true); err != nil {
			t.Fatalf("gc removed an entry the live run published and needs: %v (report %+v)", err, rep)
		}
	}
	// Once the run is dead its claim lapses.
	cmd.Process.Kill()
	cmd.Wait()
	if rep, err = e.c.GC(cache.GCOptions{Keep: map[string]bool{}}); err != nil || rep.Entries != 2 {
		t.Fatalf("gc after the run died: %+v, %v", rep, err)
	}
	if claims, _ := os.ReadDir(filepath.Join(e.c.Root(), "runs")); len(claims) != 0 {
		t.Fatalf("the dead run's claim survives gc: %v", claims)
	}
}

func TestWaitingForAStoppedProcessSaysWhoAndRunsTheRest(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(e.dir, "ready")
	cmd := helper(t, "block", e.c.Root(), "DIFFLAB_TEST_MODE=run", "DIFFLAB_TEST_READY="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	waitFor(t, ready)
	cmd.Process.Signal(syscall.SIGSTOP) // a hung process holding the lock of "big"

	g := helperGraph("block")
	g.add("a", "test.source", src(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *Summary)
	go func() { done <- e.runCtx(ctx, g, func(o *Options) { o.Jobs = 1 }) }()
	deadline := time.Now().Add(30 * time.Second)
	ranA := false
	for {
		ranA = ranA || slices.Contains(e.ran(), "a") // the stopped helper counts "big" there too
		if ranA && strings.Contains(e.log.String(), "waiting for another process") {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("with one job, a stage waiting for a lock kept the others from running:\n%s", e.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := fmt.Sprintf(`"holder":"process %d on `, cmd.Process.Pid); !strings.Contains(e.log.String(), want) {
		t.Errorf("the wait does not name the lock's holder (%s):\n%s", want, e.log)
	}
	cancel()
	s := <-done
	if r := result(t, s, "a"); r.Status != StatusExecuted {
		t.Errorf("a: %+v", r)
	}
	if r := result(t, s, "big"); r.Status != StatusSkipped {
		t.Errorf("big: %+v", r)
	}
}
