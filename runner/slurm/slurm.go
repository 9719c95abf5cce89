// Package slurm runs the stages of a difflab run as Slurm batch jobs, one
// job per stage, against a cache on a file system that every node mounts.
//
// The head process (difflab run --executor slurm) plans as usual and keeps
// the scheduling: a stage is submitted when its inputs have valid entries,
// never with --dependency edges, so that a failed input skips its dependents
// with a reason, cached stages cost nothing, and a restarted head can adopt
// jobs. Each job runs `difflab run-stage FILE NODE KEY`, which computes one
// stage under the key's lock and publishes it with the cache's atomic
// publish. Jobs are named "difflab-<key>": before submitting, the executor
// looks for a queued or running job of that name and waits for it instead,
// so a head killed and started again picks up its jobs, and the key's lock
// makes a stage computed once even when two heads submit it.
//
// Job states come from squeue (one call per poll for all the user's jobs)
// and, for a job not listed, scontrol; a cluster without accounting needs
// nothing more. Cancelling the context cancels the jobs the executor
// submitted, with scancel.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner"
	"difflab/runner/experiment"
)

// JobPrefix starts the name of every job the executor submits; the cache
// key follows.
const JobPrefix = "difflab-"

// Config says how jobs are submitted.
type Config struct {
	// Binary is the path of difflab on the nodes; the default is this
	// process's executable, which suits a shared file system.
	Binary string
	// Cache is the cache folder, as the nodes see it (absolute).
	Cache string
	// LogDir receives one log file per job: <experiment>-<stage>-<short
	// key>-<job id>.log; the default is <Cache>/jobs/logs.
	LogDir string
	// StageArgs are flags passed to every `difflab run-stage` (--profile,
	// --set, --device, --max-memory), so that the job plans the keys the
	// head planned.
	StageArgs []string
	// Partition and Account, when set, go to sbatch as --partition and
	// --account; Extra are more sbatch arguments, such as --qos=normal.
	Partition, Account string
	Extra              []string
	// Poll is the time between two looks at the queue; zero means 5
	// seconds.
	Poll time.Duration
	// Defaults gives the resources of a stage whose experiment sets
	// none; nil means Defaults.
	Defaults func(*experiment.Node) experiment.Resources
	// InHead, when set, runs the light stages (see Light) in the head.
	InHead bool
	// Log receives the executor's own warnings, such as a queue that
	// stops answering; the zero Logger drops them.
	Log zerolog.Logger
}

// Executor submits stages as Slurm jobs. It implements runner.Executor.
type Executor struct {
	cfg Config
	// cluster is the name of the cluster the jobs go to ("" when
	// scontrol does not say).
	cluster string

	mu      sync.Mutex
	waiting map[string][]chan jobState // job id to its waiters
	polling bool
	// failedPolls counts the polls in a row whose squeue failed.
	failedPolls int

	submitting chan struct{} // one element per submission under way

	cancelMu   sync.Mutex
	cancelling *cancelBatch // the batch of cancellations being gathered
}

// New returns an executor, checking that sbatch and squeue run.
func New(cfg Config) (*Executor, error) {
	if cfg.Binary == "" {
		b, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("slurm: the path of difflab on the nodes: %w", err)
		}
		cfg.Binary = b
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Defaults == nil {
		cfg.Defaults = Defaults
	}
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(cfg.Cache, "jobs", "logs")
	}
	if err := os.MkdirAll(cfg.LogDir, 0o777); err != nil {
		return nil, fmt.Errorf("slurm: job logs: %w", err)
	}
	for _, cmd := range []string{"sbatch", "squeue", "scontrol", "scancel"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return nil, fmt.Errorf("slurm: %s not found (fix: run on a node of the cluster, where Slurm's commands are installed)", cmd)
		}
	}
	if out, err := command(context.Background(), "squeue", "--noheader", "--format=%i", "--jobs=0"); err != nil && !strings.Contains(out, "Invalid job id") {
		return nil, fmt.Errorf("slurm: squeue does not answer: %s", firstLine(out, err))
	}
	return &Executor{cfg: cfg, cluster: clusterName(context.Background()), waiting: map[string][]chan jobState{},
		submitting: make(chan struct{}, submitters)}, nil
}

// clusterName returns the ClusterName of the cluster Slurm's commands
// reach, from scontrol show config, or "" when scontrol does not answer.
func clusterName(ctx context.Context) string {
	ctx, done := context.WithTimeout(ctx, time.Minute)
	defer done()
	out, err := command(ctx, "scontrol", "show", "config")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "ClusterName" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Light reports whether n is a stage the head runs itself under InHead: a
// stage of a kind that names no compute engine (loads, plots, image
// operations) whose experiment sets no resources for it. Such a stage takes
// well under a second, much less than a job's scheduling and start.
func Light(n *experiment.Node) bool {
	return len(n.Kind.Engine) == 0 && n.Resources.IsZero()
}

// Local implements runner.Executor.
func (x *Executor) Local(n *experiment.Node) bool { return x.cfg.InHead && Light(n) }

// Defaults are the resources of a stage by its kind, for the fields its
// experiment leaves unset: training kinds ask for 2 cores, 24 hours and 4
// GiB or their kind's memory estimate plus a quarter, whichever is more;
// other kinds with a compute engine (sampling) 2 cores, 2 GiB and 2 hours;
// the rest 1 core, 1 GiB and 30 minutes.
func Defaults(n *experiment.Node) experiment.Resources {
	switch {
	case strings.HasPrefix(n.Kind.Name, "train."):
		mem := int64(4 << 30)
		if n.Kind.Memory != nil {
			need, _ := n.Kind.Memory(n.Params)
			mem = max(mem, need+need/4)
		}
		return experiment.Resources{CPUs: 2, Mem: mem, Time: 24 * time.Hour}
	case len(n.Kind.Engine) > 0:
		return experiment.Resources{CPUs: 2, Mem: 2 << 30, Time: 2 * time.Hour}
	}
	return experiment.Resources{CPUs: 1, Mem: 1 << 30, Time: 30 * time.Minute}
}

// JobName is the name of the job that computes key.
func JobName(key string) string { return JobPrefix + key }

// Execute implements runner.Executor: it adopts the queued or running job
// named after key, or submits one, and waits for it to end. When ctx is
// cancelled it cancels the job it submitted (scancel); an adopted job is
// left to run, since another head may wait for it.
func (x *Executor) Execute(ctx context.Context, n *experiment.Node, key string, force bool, log zerolog.Logger) (runner.Job, error) {
	name := JobName(key)
	logPattern := filepath.Join(x.cfg.LogDir, logName(n, key))
	id, adopted, err := x.findOrSubmit(ctx, n, key, name, logPattern, force, log)
	if err != nil {
		return runner.Job{}, err
	}
	if adopted {
		log.Info().Str("job", id).Msg("waiting for the job already queued for this stage")
	} else {
		log.Info().Str("job", id).Msg("submitted")
	}
	job := runner.Job{ID: id, Log: strings.ReplaceAll(logPattern, "%j", id)}
	if err := x.record(n, key, job); err != nil {
		log.Warn().Err(err).Msg("difflab status will not list this job")
	}
	defer x.unrecord(key, id)
	st, err := x.wait(ctx, id)
	if err != nil {
		// Another head may wait for an adopted job: leave it be.
		if ctx.Err() != nil && !adopted {
			x.cancel(id, log)
		}
		return job, err
	}
	if st.state != "COMPLETED" && st.state != "" {
		return job, fmt.Errorf("job %s %s%s; its log is %s", id, st.state, st.detail(), job.Log)
	}
	return job, nil
}

// submitters is how many sbatch and squeue calls of stages to submit run
// at once: more only make slurmctld time out.
const submitters = 4

// submitTries is how often a submission that timed out is tried.
const submitTries = 5

// findOrSubmit adopts the queued or running job called name (unless force
// is set) or submits one, trying again after a submission that timed out:
// the controller may have queued the job nonetheless, and the next try
// adopts it. A submission that ctx interrupts may also have queued its job
// before sbatch was killed: such a job, one of this user's called name that
// was not queued before, is cancelled.
func (x *Executor) findOrSubmit(ctx context.Context, n *experiment.Node, key, name, logPattern string, force bool, log zerolog.Logger) (id string, adopted bool, err error) {
	select {
	case x.submitting <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	defer func() { <-x.submitting }()
	delay := time.Second
	for try := 1; ; try++ {
		if !force || try > 1 {
			if id, err = x.find(ctx, name); err != nil || id != "" {
				return id, err == nil && !force, err
			}
		}
		var before []string
		if force {
			// Jobs of that name that were there before are not this
			// submission's, whatever happens to it.
			if before, err = x.jobs(ctx, name, true); err != nil {
				return "", false, err
			}
		}
		id, err = x.submit(ctx, n, key, name, logPattern, force)
		if err != nil && ctx.Err() != nil {
			x.cancelOrphans(name, before, log)
			return "", false, ctx.Err()
		}
		if err == nil || try == submitTries || !transient(err) {
			return id, false, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
		delay *= 2
	}
}

// transient reports whether a failed Slurm command may succeed when tried
// again.
func transient(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "timed out") || strings.Contains(msg, "temporarily unavailable") ||
		strings.Contains(msg, "Slurm temporarily unable")
}

// logName is the log file pattern of n's job, %j standing for the job id.
func logName(n *experiment.Node, key string) string {
	stage := unsafeName.ReplaceAllString(strings.TrimSuffix(n.Experiment.Path, ".yaml")+"-"+n.ID, "_")
	return fmt.Sprintf("%s-%s-%%j.log", stage, key[:12])
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

// find returns the id of a queued or running job called name, or "".
func (x *Executor) find(ctx context.Context, name string) (string, error) {
	ids, err := x.jobs(ctx, name, false)
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[0], nil
}

// jobs returns the ids of the queued and running jobs called name: every
// user's, or only this user's when mine is set.
func (x *Executor) jobs(ctx context.Context, name string, mine bool) ([]string, error) {
	args := []string{"--noheader", "--format=%i|%T", "--name=" + name}
	if mine {
		args = append(args, "--me")
	}
	out, err := command(ctx, "squeue", args...)
	if err != nil {
		return nil, fmt.Errorf("slurm: squeue: %s", firstLine(out, err))
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, state, ok := strings.Cut(strings.TrimSpace(line), "|")
		if ok && !final(state) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// cancelOrphans cancels this user's queued or running jobs called name
// other than those in before: the job an interrupted sbatch may have
// queued. It has its own time limit, since the run's context is done.
func (x *Executor) cancelOrphans(name string, before []string, log zerolog.Logger) {
	ctx, done := context.WithTimeout(context.Background(), 30*time.Second)
	defer done()
	ids, err := x.jobs(ctx, name, true)
	if err != nil {
		log.Warn().Err(err).Str("job_name", name).Msg("sbatch was interrupted; a job it may have queued could not be looked for (scancel --name=" + name + " cancels it)")
		return
	}
	for _, id := range ids {
		if slices.Contains(before, id) {
			continue
		}
		if out, err := command(ctx, "scancel", id); err != nil {
			log.Warn().Str("job", id).Msg("sbatch was interrupted after queueing this job, which could not be cancelled: " + firstLine(out, err))
			continue
		}
		log.Warn().Str("job", id).Msg("cancelled: sbatch was interrupted after queueing it")
	}
}

// submit submits the job that runs n and returns its id.
func (x *Executor) submit(ctx context.Context, n *experiment.Node, key, name, logPattern string, force bool) (string, error) {
	res := n.Resources.Over(x.cfg.Defaults(n))
	args := []string{"--parsable", "--job-name=" + name, "--output=" + logPattern,
		"--cpus-per-task=" + strconv.Itoa(res.CPUs),
		"--mem=" + strconv.FormatInt(max(1, res.Mem>>20), 10) + "M",
		"--time=" + strconv.Itoa(int(max(1, res.Time.Minutes())))}
	if res.GPUs > 0 {
		args = append(args, "--gres=gpu:"+strconv.Itoa(res.GPUs))
	}
	if x.cfg.Partition != "" {
		args = append(args, "--partition="+x.cfg.Partition)
	}
	if x.cfg.Account != "" {
		args = append(args, "--account="+x.cfg.Account)
	}
	args = append(args, x.cfg.Extra...)
	cmd := exec.CommandContext(ctx, "sbatch", args...)
	cmd.Stdin = strings.NewReader(x.script(n, key, force))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("slurm: sbatch: %s", firstLine(out.String(), err))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out.String()), ";") // "id;cluster" on federations
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("slurm: sbatch printed %q, not a job id", out.String())
	}
	return id, nil
}

// script is the batch script of n's job.
func (x *Executor) script(n *experiment.Node, key string, force bool) string {
	file, _ := filepath.Abs(n.Experiment.File)
	root := strings.TrimSuffix(file, string(filepath.Separator)+filepath.FromSlash(n.Experiment.Path))
	args := []string{x.cfg.Binary, "run-stage", "--cache", x.cfg.Cache, "--root", root}
	args = append(args, x.cfg.StageArgs...)
	if force {
		args = append(args, "--force")
	}
	args = append(args, file, n.ID, key)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return "#!/bin/sh\n# difflab: stage " + n.Experiment.Path + " " + n.ID + "\nexec " + strings.Join(quoted, " ") + "\n"
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cancel cancels job id and returns once scancel ran, logging a failure.
// The ids of the jobs cancelled at about the same time (all of them, when
// the head is interrupted) go to one scancel call, by cancelBatch at a
// time.
func (x *Executor) cancel(id string, log zerolog.Logger) {
	x.cancelMu.Lock()
	b := x.cancelling
	if b == nil {
		b = &cancelBatch{done: make(chan struct{})}
		x.cancelling = b
		go x.flushCancels(b)
	}
	b.ids = append(b.ids, id)
	x.cancelMu.Unlock()
	<-b.done
	if b.err != "" {
		log.Error().Str("job", id).Str("error", b.err).Msg("cannot cancel the job")
		return
	}
	log.Warn().Str("job", id).Msg("cancelled")
}

// cancelBatch is the jobs one scancel call cancels.
type cancelBatch struct {
	ids  []string
	err  string // set before done is closed
	done chan struct{}
}

// cancelGather is how long a batch of cancellations waits for more ids.
const cancelGather = 50 * time.Millisecond

// flushCancels cancels the jobs of b, cancelIDs at a time, once the
// cancellations of cancelGather are in.
func (x *Executor) flushCancels(b *cancelBatch) {
	time.Sleep(cancelGather)
	x.cancelMu.Lock()
	x.cancelling = nil
	ids := b.ids
	x.cancelMu.Unlock()
	ctx, done := context.WithTimeout(context.Background(), time.Minute)
	defer done()
	for len(ids) > 0 {
		n := min(len(ids), cancelIDs)
		if out, err := command(ctx, "scancel", ids[:n]...); err != nil {
			b.err = firstLine(out, err)
		}
		ids = ids[n:]
	}
	close(b.done)
}

// cancelIDs is the most job ids one scancel call names.
const cancelIDs = 500

// jobState is a job's state as Slurm names it, and how it ended.
type jobState struct {
	state    string // COMPLETED, FAILED, ...; "" when Slurm forgot the job
	exitCode string // "1:0": exit status and signal
	reason   string
}

// detail describes how a job that did not complete ended.
func (s jobState) detail() string {
	var parts []string
	if s.exitCode != "" && s.exitCode != "0:0" {
		parts = append(parts, "exit code "+s.exitCode)
	}
	if s.reason != "" && s.reason != "None" {
		parts = append(parts, "reason "+s.reason)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// final reports whether a job in state has ended.
func final(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
		"REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT":
		return false
	}
	return true
}

// wait returns the final state of job id, or ctx's error.
func (x *Executor) wait(ctx context.Context, id string) (jobState, error) {
	ch := make(chan jobState, 1)
	x.mu.Lock()
	x.waiting[id] = append(x.waiting[id], ch)
	if !x.polling {
		x.polling = true
		go x.poll()
	}
	x.mu.Unlock()
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		x.mu.Lock()
		chs := x.waiting[id]
		for i, c := range chs {
			if c == ch {
				x.waiting[id] = append(chs[:i], chs[i+1:]...)
			}
		}
		if len(x.waiting[id]) == 0 {
			delete(x.waiting, id)
		}
		x.mu.Unlock()
		return jobState{}, ctx.Err()
	}
}

// poll looks at the queue every Poll while jobs are waited for, and hands
// every job that ended its final state.
func (x *Executor) poll() {
	for {
		time.Sleep(x.cfg.Poll)
		x.mu.Lock()
		if len(x.waiting) == 0 {
			x.polling = false
			x.mu.Unlock()
			return
		}
		ids := make([]string, 0, len(x.waiting))
		for id := range x.waiting {
			ids = append(ids, id)
		}
		x.mu.Unlock()
		ended, err := x.ended(ids)
		x.reportPoll(len(ids), err)
		x.mu.Lock()
		for id, st := range ended {
			for _, ch := range x.waiting[id] {
				ch <- st
			}
			delete(x.waiting, id)
		}
		x.mu.Unlock()
	}
}

// failedPollsWarn is how many polls in a row must fail before the
// executor warns, and then warns again every that many.
const failedPollsWarn = 3

// reportPoll warns when squeue has failed failedPollsWarn polls in a row
// (and every failedPollsWarn polls after), and says so when it answers
// again after a warning: the jobs stay waited for meanwhile, so a run
// would otherwise look stuck without a word. Only the polling goroutine
// calls it.
func (x *Executor) reportPoll(jobs int, err error) {
	if err == nil {
		if x.failedPolls >= failedPollsWarn {
			x.cfg.Log.Info().Int("failed_polls", x.failedPolls).Msg("slurm: squeue answers again")
		}
		x.failedPolls = 0
		return
	}
	x.failedPolls++
	if x.failedPolls%failedPollsWarn == 0 {
		x.cfg.Log.Warn().Err(err).Int("failed_polls", x.failedPolls).Int("jobs", jobs).
			Msgf("slurm: squeue has failed %d times in a row; the jobs stay waited for and the queue is asked again every %s (check slurmctld with scontrol ping)",
				x.failedPolls, x.cfg.Poll)
	}
}

// ended returns the final states of the jobs among ids that ended. A
// failing squeue ends none and returns its error: the next poll tries
// again.
func (x *Executor) ended(ids []string) (map[string]jobState, error) {
	ctx, done := context.WithTimeout(context.Background(), time.Minute)
	defer done()
	out, err := command(ctx, "squeue", "--noheader", "--me", "--states=all", "--format=%i|%T|%r")
	if err != nil {
		return nil, fmt.Errorf("squeue: %s", firstLine(out, err))
	}
	listed := map[string]jobState{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) == 3 {
			listed[f[0]] = jobState{state: f[1], reason: f[2]}
		}
	}
	ended := map[string]jobState{}
	for _, id := range ids {
		st, ok := listed[id]
		switch {
		case ok && !final(st.state):
			continue
		case ok && st.state == "COMPLETED":
			ended[id] = st
		default:
			// squeue --me lists only this user's jobs: a job adopted from
			// another user, or one that squeue has just dropped, is asked
			// for by id, and stays waited for while it has not ended.
			full, ok := x.show(ctx, id, st)
			if !ok || full.state != "" && !final(full.state) {
				continue
			}
			ended[id] = full
		}
	}
	return ended, nil
}

// show completes st, the state of job id, from scontrol: its exit code,
// and its state when squeue no longer lists it (st.state stays "" when
// Slurm forgot the job: the cache then says whether it succeeded). ok is
// false when scontrol failed for another reason: the next poll asks again.
func (x *Executor) show(ctx context.Context, id string, st jobState) (jobState, bool) {
	out, err := command(ctx, "scontrol", "--oneliner", "show", "job", id)
	if err != nil {
		return st, strings.Contains(out, "Invalid job id")
	}
	for _, f := range strings.Fields(out) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "JobState":
			st.state = v
		case "ExitCode":
			st.exitCode = v
		case "Reason":
			st.reason = v
		}
	}
	return st, true
}

// command runs a Slurm command and returns its output.
func command(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// firstLine is the first line of a command's output, or its error.
func firstLine(out string, err error) string {
	if line, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); line != "" {
		return line
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Error()
	}
	return err.Error()
}
