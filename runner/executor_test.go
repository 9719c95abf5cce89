package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/stages"
)

// jobExecutor runs each stage as a "job": RunStage on its own Cache value
// opened on the same folder, as a fresh process would. Stage "d" is local;
// stages named in fail fail as a job would.
type jobExecutor struct {
	g    *experiment.Graph
	dir  string
	fail map[string]bool
	mu   sync.Mutex
	jobs []string // node ids, in submission order
}

func (x *jobExecutor) Local(n *experiment.Node) bool { return n.ID == "d" }

func (x *jobExecutor) Execute(ctx context.Context, n *experiment.Node, key string, force bool, log zerolog.Logger) (Job, error) {
	x.mu.Lock()
	x.jobs = append(x.jobs, n.ID)
	job := Job{ID: fmt.Sprint(len(x.jobs)), Log: "/logs/" + n.ID + ".log"}
	x.mu.Unlock()
	if x.fail[n.ID] {
		return job, fmt.Errorf("job %s FAILED; its log is %s", job.ID, job.Log)
	}
	c, err := cache.Open(x.dir)
	if err != nil {
		return job, err
	}
	if _, err := RunStage(ctx, x.g, n.Experiment.Path, n.ID, key, Options{Cache: c, Force: force}); err != nil {
		return job, err
	}
	return job, nil
}

func TestExecutorRunsStagesAsJobs(t *testing.T) {
	e := newEnv(t)
	g := chain(2)
	x := &jobExecutor{g: g.g, dir: e.c.Root()}
	s := e.run(g, func(o *Options) { o.Executor = x })
	if s.Executed != 4 || got(e.ran()) != "a b c d" {
		t.Fatalf("first run: %+v", s)
	}
	if got(x.jobs) != "a b c" {
		t.Errorf("jobs %v, want a, b, c in dependency order (d is local)", x.jobs)
	}
	for _, id := range []string{"a", "b", "c"} {
		if r := result(t, s, id); r.Job == "" || r.JobLog != "/logs/"+id+".log" || len(r.Outputs) == 0 {
			t.Errorf("%s: %+v", id, r)
		}
	}
	if r := result(t, s, "d"); r.Job != "" {
		t.Errorf("local stage d has a job: %+v", r)
	}
	if d := tensorOf(t, e.c, result(t, s, "c").Key); d[0] != 20 || d[3] != 80 {
		t.Fatalf("c = %v", d)
	}
	x.jobs = nil
	if s := e.run(chain(2), func(o *Options) { o.Executor = x }); s.Cached != 4 || len(x.jobs) != 0 {
		t.Fatalf("rerun: %+v, jobs %v", s, x.jobs)
	}
}

func TestFailedJobSkipsDependents(t *testing.T) {
	e := newEnv(t)
	g := chain(2)
	x := &jobExecutor{g: g.g, dir: e.c.Root(), fail: map[string]bool{"b": true}}
	s := e.run(g, func(o *Options) { o.Executor = x })
	b := result(t, s, "b")
	if b.Status != StatusFailed || b.Job != "2" || !strings.Contains(b.Error, "job 2 FAILED; its log is /logs/b.log") {
		t.Errorf("b: %+v", b)
	}
	if c := result(t, s, "c"); c.Status != StatusSkipped || c.Reason != "input b failed" {
		t.Errorf("c: %+v", c)
	}
	if got(e.ran()) != "a d" {
		t.Errorf("ran something besides a and d")
	}
}

func TestRunStageChecksKeyAndInputs(t *testing.T) {
	e := newEnv(t)
	g := chain(2)
	keys, err := Keys(g.g, e.c.Digests, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := g.ids["b"]
	opts := Options{Cache: e.c}
	if _, err := RunStage(context.Background(), g.g, "part/chain.yaml", "b", keys[b].Key, opts); err == nil || !strings.Contains(err.Error(), "input a of b") {
		t.Errorf("b before a: %v", err)
	}
	var km *KeyMismatchError
	if _, err := RunStage(context.Background(), g.g, "part/chain.yaml", "a", strings.Repeat("0", 64), opts); !errors.As(err, &km) {
		t.Errorf("a with another key: %v", err)
	}
	if _, err := RunStage(context.Background(), g.g, "part/chain.yaml", "zz", keys[b].Key, opts); !errors.Is(err, ErrNoSuchStage) {
		t.Errorf("unknown stage: %v", err)
	}
	if len(e.ran()) != 0 {
		t.Errorf("a refused stage ran")
	}
}

// A job's stage checks its memory against the head's limit, not against
// none: the graph a job prepares keeps the loaded graph's MaxMemory.
func TestRunStageKeepsTheMemoryLimit(t *testing.T) {
	g := chain(2)
	g.g.MaxMemory = 12345
	if sub := ancestry(g.g, g.ids["b"]); sub.MaxMemory != 12345 || len(sub.Nodes) != 2 {
		t.Errorf("ancestry of b: MaxMemory %d with %d nodes, want 12345 with 2", sub.MaxMemory, len(sub.Nodes))
	}
}

// The head checks only the engines of the stages it computes itself: a
// stage sent to a job is checked in the job (where a login node without a
// GPU cannot judge a GPU node).
func TestHeadChecksEnginesOfLocalStagesOnly(t *testing.T) {
	e := newEnv(t)
	b := newGraph("part/engine.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	b.add("d", "test.engine", stages.Params{"value": 2.0})
	x := &jobExecutor{g: b.g, dir: e.c.Root()}
	o := e.opts()
	o.Executor = x
	o.EngineChecks = map[string]func() error{"onnxruntime": func() error { return errors.New("no library here") }}
	_, err := Run(context.Background(), b.g, o)
	var ee *EngineError
	if !errors.As(err, &ee) || got(ee.Stages) != "part/engine.yaml:d" {
		t.Fatalf("with the local stage d: %v, want an engine error naming d alone", err)
	}
	b = newGraph("part/engine.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	x.g = b.g
	if s, err := Run(context.Background(), b.g, o); err != nil || s.Executed != 1 || got(x.jobs) != "x" {
		t.Fatalf("with only a job's stage: %+v, %v (jobs %v)", s, err, x.jobs)
	}
}
