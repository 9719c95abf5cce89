package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/logtest"
	"difflab/runner/remote/remotetest"
	"difflab/runner/slurm"
	"difflab/runner/slurm/slurmtest"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	// clitest.gate records each run in $DIFFLAB_TEST_COUNT, says it runs
	// by creating <$DIFFLAB_TEST_READY_DIR>/<stage>, and waits until the
	// file $DIFFLAB_TEST_GATE exists (at once when the variable is unset).
	stages.Register(&stages.Kind{
		Name: "clitest.gate", Doc: "out = [value], once a gate file exists", Version: 1,
		Outputs: []stages.Port{{Name: "out", Type: artifact.TypeTensor}},
		Inputs:  []stages.Port{{Name: "in", Type: artifact.TypeTensor, Optional: true}},
		Params:  []stages.Param{{Name: "value", Type: stages.Float, Default: 0.0}},
		Run: func(ctx *stages.Context) error {
			if f, err := os.OpenFile(os.Getenv("DIFFLAB_TEST_COUNT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintln(f, ctx.Stage)
				f.Close()
			}
			if dir := os.Getenv("DIFFLAB_TEST_READY_DIR"); dir != "" {
				os.WriteFile(filepath.Join(dir, ctx.Stage), nil, 0o644)
			}
			for gate := os.Getenv("DIFFLAB_TEST_GATE"); gate != ""; {
				if _, err := os.Stat(gate); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
			t := artifact.NewTensor(1)
			t.Data[0] = float32(ctx.Params.Float("value"))
			return ctx.Output("out", t)
		},
	})
}

// slurmWS is a workspace on a fresh test cluster whose jobs run this test
// binary as difflab; gate stages wait for w.dir/gate.
type slurmWS struct {
	*ws
	flags []string // run's flags for the cluster
	count string   // the file where gate stages record each run
	ready string   // the folder where gate stages say they run
	gate  string
}

func newSlurmWS(t *testing.T, files map[string]string) *slurmWS {
	slurmtest.Start(t)
	w := &slurmWS{ws: newWS(t, files)}
	wrapper := filepath.Join(w.dir, "difflab")
	script := fmt.Sprintf("#!/bin/sh\nunset DIFFLAB_CLI_HELPER\nDIFFLAB_CLI_ARGS=1 exec %s \"$@\"\n", shellQuote(os.Args[0]))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	w.flags = []string{"--executor", "slurm", "--slurm-poll", "200ms", "--slurm-binary", wrapper}
	w.count, w.ready, w.gate = filepath.Join(w.dir, "count"), filepath.Join(w.dir, "ready"), filepath.Join(w.dir, "gate")
	os.Mkdir(w.ready, 0o755)
	// Jobs get the environment of the head that submits them.
	t.Setenv("DIFFLAB_TEST_COUNT", w.count)
	t.Setenv("DIFFLAB_TEST_READY_DIR", w.ready)
	t.Setenv("DIFFLAB_TEST_GATE", w.gate)
	return w
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// wrap puts a shell script called name before the real command on PATH,
// for this test and the processes it starts; in body, the script after its
// first line, %s stands for the real command.
func (w *slurmWS) wrap(name, body string) {
	w.t.Helper()
	real, err := exec.LookPath(name)
	if err != nil {
		w.t.Fatal(err)
	}
	bin := filepath.Join(w.dir, "bin")
	os.MkdirAll(bin, 0o755)
	script := "#!/bin/sh\n" + strings.ReplaceAll(body, "%s", shellQuote(real))
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// runs counts the runs of each gate stage.
func (w *slurmWS) runs() map[string]int {
	b, _ := os.ReadFile(w.count)
	n := map[string]int{}
	for _, line := range strings.Fields(string(b)) {
		n[line]++
	}
	return n
}

// waitReady waits until gate stage id runs.
func (w *slurmWS) waitReady(id string) {
	w.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(w.ready, id)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("stage %s never started", id)
		}
	}
}

// queue returns squeue's lines "id|name|state" for every job the cluster
// knows.
func queue(t *testing.T) []string {
	out, err := exec.Command("squeue", "--noheader", "--states=all", "--format=%i|%j|%T").CombinedOutput()
	if err != nil {
		t.Fatalf("squeue: %v: %s", err, out)
	}
	return strings.Fields(string(out))
}

// head starts `difflab run` as a separate process.
func (w *slurmWS) head(args ...string) (*exec.Cmd, *bytes.Buffer) {
	return w.headLogTo(os.Stderr, args...)
}

// headLogTo starts `difflab run` as a separate process whose log goes to
// stderr.
func (w *slurmWS) headLogTo(stderr io.Writer, args ...string) (*exec.Cmd, *bytes.Buffer) {
	all := append([]string{"run", "--json", "--cache", w.cacheDir, "--results", w.results}, w.flags...)
	return w.start(stderr, append(all, args...)...)
}

// start starts difflab with args as a separate process whose log goes to
// stderr.
func (w *slurmWS) start(stderr io.Writer, all ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DIFFLAB_CLI_HELPER="+strings.Join(all, "\x1f"))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	return cmd, &out
}

const slurmYAML = `stages:
  a:
    kind: clitest.source
    with: {value: 1}
    resources: {mem: 100M, time: 5m}
  b:
    kind: clitest.scale
    in: {in: a}
    with: {factor: 2}
    resources: {mem: 100M}
  c:
    kind: clitest.scale
    in: {in: b}
    resources: {mem: 100M}
  d:
    kind: clitest.source
    with: {value: 5}
    resources: {mem: 100M}
  pics:
    kind: clitest.images
`

func TestSlurmRunMatchesLocal(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"demo.yaml": slurmYAML})
	s := w.summary(append(w.flags, w.exp)...)
	for _, st := range s.Stages {
		wantJob := st.ID != "pics" // a light stage without resources runs in the head
		if st.Status != runner.StatusExecuted || (st.Job != "") != wantJob {
			t.Errorf("%s: status %s, job %q (want a job: %v)", st.ID, st.Status, st.Job, wantJob)
		}
		if wantJob {
			if _, err := os.Stat(st.JobLog); err != nil {
				t.Errorf("%s: job log: %v", st.ID, err)
			}
		}
	}
	// Dependencies: a consumer's job started after its producer's ended.
	c, err := cache.Open(w.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, st := range s.Stages {
		keys[st.ID] = st.Key
	}
	for _, edge := range [][2]string{{"a", "b"}, {"b", "c"}} {
		p, err1 := c.ReadManifest(keys[edge[0]])
		q, err2 := c.ReadManifest(keys[edge[1]])
		if err1 != nil || err2 != nil {
			t.Fatalf("manifests: %v %v", err1, err2)
		}
		if q.Start.Before(p.End) {
			t.Errorf("%s started at %s, before %s ended at %s", edge[1], q.Start, edge[0], p.End)
		}
	}
	// The same keys and bytes as a local run.
	local := newWS(t, map[string]string{"demo.yaml": slurmYAML})
	ls := local.summary(local.exp)
	for i, st := range ls.Stages {
		if st.Key != s.Stages[i].Key {
			t.Errorf("%s: key %s locally, %s on the cluster", st.ID, st.Key, s.Stages[i].Key)
		}
	}
	if a, b := resultFiles(t, local.results), resultFiles(t, w.results); !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Errorf("results differ: %d local files, %d from the cluster", len(a), len(b))
	}
	// A second run submits nothing.
	before := len(queue(t))
	again := w.summary(append(w.flags, w.exp)...)
	if again.Cached != len(again.Stages) || len(queue(t)) != before {
		t.Errorf("second run: %s, %d jobs known before, %d after", statuses(again), before, len(queue(t)))
	}
}

const gateYAML = `resources: {mem: 100M, time: 5m}
stages:
  x:
    kind: clitest.gate
    with: {value: 1}
  y:
    kind: clitest.gate
    in: {in: x}
  z:
    kind: clitest.gate
    in: {in: x}
    with: {value: 3}
`

func TestSlurmCancelledJobSkipsDependents(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out, _ = w.do("run", append(append([]string{"--json"}, w.flags...), w.exp)...)
	}()
	w.waitReady("x")
	jobs := queue(t)
	if len(jobs) != 1 || !strings.HasSuffix(jobs[0], "|RUNNING") {
		t.Fatalf("queue while x runs: %v", jobs)
	}
	id, _, _ := strings.Cut(jobs[0], "|")
	if out, err := exec.Command("scancel", id).CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v: %s", err, out)
	}
	<-done
	var s runner.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != exitStageFailed {
		t.Fatalf("exit %d, want %d; stdout %s", code, exitStageFailed, out)
	}
	x := s.Stages[0]
	if x.Status != runner.StatusFailed || x.Job != id || !strings.Contains(x.Error, "job "+id+" CANCELLED") || !strings.Contains(x.Error, x.JobLog) {
		t.Errorf("x: %+v", x)
	}
	for _, st := range s.Stages[1:] {
		if st.Status != runner.StatusSkipped || st.Reason != "input x failed" {
			t.Errorf("%s: %s %q, want skipped: input x failed", st.ID, st.Status, st.Reason)
		}
	}
	// Nothing reads as valid: plan would run x, and its entry does not exist.
	c, _ := cache.Open(w.cacheDir)
	if _, err := c.Get(x.Key, true); err == nil {
		t.Errorf("x has a valid entry after its job was cancelled")
	}
	if _, err := os.Stat(c.EntryDir(x.Key)); !os.IsNotExist(err) {
		t.Errorf("x's entry folder exists: %v", err)
	}
}

func TestSlurmRestartedHeadAdoptsJobs(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	first, _ := w.head(w.exp)
	w.waitReady("x")
	jobs := queue(t)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if len(jobs) != 1 {
		t.Fatalf("queue while x runs: %v", jobs)
	}
	id, _, _ := strings.Cut(jobs[0], "|")
	// The job outlives its head; status lists it, and a new head waits
	// for it.
	if code, out, errs := w.do("status"); code != exitOK || !strings.Contains(out, "1 stages in flight as Slurm jobs\n  job "+id+"  RUNNING  gate.yaml x  since ") {
		t.Errorf("status: exit %d\n%s%s", code, out, errs)
	}
	go func() {
		time.Sleep(time.Second)
		os.WriteFile(w.gate, nil, 0o644)
	}()
	s := w.summary(append(w.flags, w.exp)...)
	if got := statuses(s); got != "x=executed y=executed z=executed" {
		t.Fatalf("restarted head: %s", got)
	}
	if s.Stages[0].Job != id {
		t.Errorf("x: job %s, want the first head's job %s", s.Stages[0].Job, id)
	}
	if n := w.runs(); !reflect.DeepEqual(n, map[string]int{"x": 1, "y": 1, "z": 1}) {
		t.Errorf("runs per stage: %v, want each once", n)
	}
	recs, _, err := slurm.InFlight(t.Context(), w.cacheDir)
	if err != nil || len(recs) != 0 {
		t.Errorf("jobs still recorded in flight: %v, %v", recs, err)
	}
}

func TestSlurmTwoHeadsComputeEachStageOnce(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	h1, out1 := w.head(w.exp)
	h2, out2 := w.head(w.exp)
	w.waitReady("x")
	time.Sleep(500 * time.Millisecond) // both heads see x in flight
	os.WriteFile(w.gate, nil, 0o644)
	for i, h := range []*exec.Cmd{h1, h2} {
		if err := h.Wait(); err != nil {
			t.Fatalf("head %d: %v\n%s", i+1, err, []*bytes.Buffer{out1, out2}[i])
		}
	}
	for i, out := range []*bytes.Buffer{out1, out2} {
		var s runner.Summary
		if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Failed+s.Skipped != 0 {
			t.Errorf("head %d: %v %s", i+1, err, out)
		}
	}
	if n := w.runs(); !reflect.DeepEqual(n, map[string]int{"x": 1, "y": 1, "z": 1}) {
		t.Errorf("runs per stage: %v, want each once", n)
	}
}

func TestSlurmInterruptCancelsJobs(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	h, out := w.head(w.exp)
	w.waitReady("x")
	jobs := queue(t)
	if len(jobs) != 1 {
		t.Fatalf("queue while x runs: %v", jobs)
	}
	id, _, _ := strings.Cut(jobs[0], "|")
	h.Process.Signal(syscall.SIGINT)
	err := h.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("head: %v, want exit %d", err, exitInterrupted)
	}
	var s runner.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || !s.Interrupted || s.Stages[0].Status != runner.StatusSkipped {
		t.Fatalf("summary: %v %s", err, out)
	}
	// scancel returned before the head ended; the job ends within KillWait.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		q := queue(t)
		if len(q) == 1 && q[0] == id+"|difflab-"+s.Stages[0].Key+"|CANCELLED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after the head was interrupted: %v", q)
		}
	}
	if n := w.runs(); n["y"]+n["z"] != 0 {
		t.Errorf("dependents ran: %v", n)
	}
}

func TestSlurmFailedJobNamesJobAndLog(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"fail.yaml": "resources: {mem: 100M}\nstages:\n  x:\n    kind: clitest.fail\n  y:\n    kind: clitest.scale\n    in: {in: x}\n"})
	code, out, errs := w.do("run", append([]string{"--json"}, append(w.flags, w.exp)...)...)
	var s runner.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != exitStageFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitStageFailed, out, errs)
	}
	x := s.Stages[0]
	want := "job " + x.Job + " FAILED (exit code 4:0, reason NonZeroExitCode); its log is " + x.JobLog
	if x.Status != runner.StatusFailed || x.Job == "" || x.Error != want {
		t.Errorf("x: %q, want %q", x.Error, want)
	}
	if log, err := os.ReadFile(x.JobLog); err != nil || !strings.Contains(string(log), "deliberate failure") {
		t.Errorf("the job's log does not say why: %v\n%s", err, log)
	}
	if y := s.Stages[1]; y.Status != runner.StatusSkipped || y.Reason != "input x failed" || y.Job != "" {
		t.Errorf("y: %+v", y)
	}
}

// TestSlurmFailingQueueIsReported makes squeue fail, as it does when
// slurmctld cannot be reached, while a job runs: the head warns, keeps
// waiting, says when squeue answers again, and finishes the run.
func TestSlurmFailingQueueIsReported(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	// The real squeue, except while the file broken exists.
	broken := filepath.Join(w.dir, "broken")
	w.wrap("squeue", "if [ -e "+shellQuote(broken)+" ]; then\n"+
		"  echo 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)' >&2\n  exit 1\nfi\nexec %s \"$@\"\n")
	var log logtest.Buffer
	h, out := w.headLogTo(&log, w.exp)
	w.waitReady("x")
	os.WriteFile(broken, nil, 0o644)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), "squeue has failed 3 times in a row"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			os.Remove(broken)
			os.WriteFile(w.gate, nil, 0o644)
			h.Wait()
			t.Fatalf("no warning while squeue fails; the head's log:\n%s", log.String())
		}
	}
	if !strings.Contains(log.String(), "Unable to contact slurm controller") {
		t.Errorf("the warning does not give squeue's error:\n%s", log.String())
	}
	os.Remove(broken)
	os.WriteFile(w.gate, nil, 0o644)
	if err := h.Wait(); err != nil {
		t.Fatalf("head: %v\n%s", err, log.String())
	}
	var s runner.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Executed != 3 {
		t.Fatalf("summary: %v %s", err, out)
	}
	if !strings.Contains(log.String(), "squeue answers again") {
		t.Errorf("no word once squeue answers again:\n%s", log.String())
	}
}

// TestSlurmStatusRemovesStaleRecords leaves records of jobs the queue does
// not list, as a head killed with SIGKILL does: status removes those of
// this cluster older than a minute and keeps a fresh one and one of
// another cluster sharing the cache.
func TestSlurmStatusRemovesStaleRecords(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": gateYAML})
	dir := filepath.Join(w.cacheDir, "jobs", "inflight")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute).UTC()
	recs := map[string]slurm.Record{
		"stale": {Job: "999001", Experiment: "gate.yaml", Stage: "x", Since: old, Cluster: "difflabtest"},
		"fresh": {Job: "999002", Experiment: "gate.yaml", Stage: "y", Since: time.Now().UTC(), Cluster: "difflabtest"},
		"other": {Job: "999003", Experiment: "gate.yaml", Stage: "z", Since: old, Cluster: "elsewhere"},
	}
	for key, r := range recs {
		r.Key = key
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, key+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := w.do("status")
	if code != exitOK || !strings.Contains(out, "2 stages in flight as Slurm jobs") ||
		!strings.Contains(out, "removed the records of 1 jobs Slurm no longer lists") || !strings.Contains(out, "  job 999001  gate.yaml x") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errs)
	}
	for key, want := range map[string]bool{"stale": false, "fresh": true, "other": true} {
		if _, err := os.Stat(filepath.Join(dir, key+".json")); (err == nil) != want {
			t.Errorf("record %s: kept %v, want %v", key, err == nil, want)
		}
	}
	if code, out, _ := w.do("status"); code != exitOK || strings.Contains(out, "removed the records") {
		t.Errorf("second status: exit %d\n%s", code, out)
	}
}

// TestSlurmInterruptedSubmissionCancelsItsJob interrupts the head while
// sbatch has queued the job but not yet answered, as a slow slurmctld can
// make it: the head cancels the job it cannot know the id of.
func TestSlurmInterruptedSubmissionCancelsItsJob(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": "resources: {mem: 100M}\nstages:\n  x:\n    kind: clitest.gate\n"})
	// The real sbatch, then a minute's silence before it exits.
	queued := filepath.Join(w.dir, "queued")
	w.wrap("sbatch", "%s \"$@\" >"+shellQuote(queued+".id")+" || exit 1\ntouch "+shellQuote(queued)+"\nexec sleep 60\n")
	var log logtest.Buffer
	h, _ := w.headLogTo(&log, w.exp)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(queued); err == nil {
			break
		}
		if time.Now().After(deadline) {
			h.Process.Kill()
			h.Wait()
			t.Fatalf("sbatch never queued the job; the head's log:\n%s", log.String())
		}
	}
	b, _ := os.ReadFile(queued + ".id")
	id, _, _ := strings.Cut(strings.TrimSpace(string(b)), ";")
	h.Process.Signal(syscall.SIGINT)
	if err := h.Wait(); err == nil {
		t.Fatalf("the interrupted head exited 0:\n%s", log.String())
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		q := queue(t)
		if len(q) == 1 && strings.HasPrefix(q[0], id+"|") && strings.HasSuffix(q[0], "|CANCELLED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after the interrupted submission: %v, want job %s cancelled; the head's log:\n%s", q, id, log.String())
		}
	}
	if !strings.Contains(log.String(), "cancelled: sbatch was interrupted after queueing it") {
		t.Errorf("the head does not say it cancelled the job:\n%s", log.String())
	}
}

// TestSlurmRemoteHeadWaitsForTheKeysHolder runs a stage in a plain local
// run, which holds its key's lock, while a head with a remote cache and the
// Slurm executor reaches the same stage: the head says it waits, gives its
// slot back, and takes the local run's entry instead of submitting a job.
func TestSlurmRemoteHeadWaitsForTheKeysHolder(t *testing.T) {
	w := newSlurmWS(t, map[string]string{"gate.yaml": "resources: {mem: 100M}\nstages:\n  x:\n    kind: clitest.gate\n"})
	n := remotetest.StartNginx(t)
	local, _ := w.start(os.Stderr, "run", "--cache", w.cacheDir, "--results", filepath.Join(w.dir, "local-results"), w.exp)
	w.waitReady("x")
	var log logtest.Buffer
	h, out := w.headLogTo(&log, "--remote-cache", n.URL, w.exp)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), "waiting for another process computing the same stage"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			os.WriteFile(w.gate, nil, 0o644)
			local.Wait()
			h.Wait()
			t.Fatalf("the head does not say it waits; its log:\n%s", log.String())
		}
	}
	os.WriteFile(w.gate, nil, 0o644)
	if err := local.Wait(); err != nil {
		t.Fatalf("local run: %v", err)
	}
	if err := h.Wait(); err != nil {
		t.Fatalf("head: %v\n%s", err, log.String())
	}
	var s runner.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || statuses(&s) != "x=cached" {
		t.Fatalf("head's summary: %v %s", err, out)
	}
	if q := queue(t); len(q) != 0 {
		t.Errorf("the head submitted a job for a stage computed here: %v", q)
	}
}
