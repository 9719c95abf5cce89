package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/experiment"
)

// Executor runs stages outside the head process, such as cluster jobs.
// Each stage runs in a fresh difflab process (see RunStage) that reads its
// inputs from the shared cache by key and publishes its entry with the
// cache's atomic publish under the key's lock, so the head only waits and
// then reads the entry.
type Executor interface {
	// Local reports whether n should run in the head process instead,
	// because a job would cost more than the stage.
	Local(n *experiment.Node) bool
	// Execute runs n, whose key is key (recomputing a valid entry when
	// force is set), and returns when the process ended. The Job says
	// where it ran, also when err (why it failed) is not nil. When ctx is
	// cancelled it stops the process before it returns.
	Execute(ctx context.Context, n *experiment.Node, key string, force bool, log zerolog.Logger) (Job, error)
}

// Job describes where an Executor ran a stage.
type Job struct {
	// ID is the job's id, such as Slurm's job id.
	ID string
	// Log is the path of the job's log file.
	Log string
}

// executeElsewhere obtains n's entry through the Executor: from the remote
// cache when it holds it, else by a job, whose published entry is then
// read from the cache. The caller holds no lock: the job takes the key's.
// Fetching takes the lock, as a local computation would: while another
// process holds it (a job of another head computing the stage), the stage
// gives back its slot and says so, and then finds that process's entry.
func (r *run) executeElsewhere(ctx context.Context, n *experiment.Node, key string, force bool, sl *slot, log zerolog.Logger) (*cache.Entry, outcome, error) {
	if r.opts.Remote != nil && !force {
		lk, err := r.lock(ctx, key, sl, log)
		if err != nil {
			return nil, fromCache, err
		}
		if e, err := r.get(n, key); err == nil {
			lk.Unlock()
			return e, fromCache, nil
		}
		e := r.fetch(ctx, n, key, false, log)
		lk.Unlock()
		if e != nil {
			return e, fetched, nil
		}
	}
	job, err := r.opts.Executor.Execute(ctx, n, key, force, log)
	st := r.states[n]
	st.res.Job, st.res.JobLog = job.ID, job.Log
	if err != nil {
		return nil, fromCache, err
	}
	e, err := r.get(n, key)
	if err != nil {
		return nil, fromCache, fmt.Errorf("job %s ended without a valid entry (%v); its log is %s", job.ID, err, job.Log)
	}
	r.upload(ctx, e, log)
	return e, computed, nil
}

// KeyMismatchError is the error of RunStage when the stage's key, computed
// from the files as they are now and this machine's engines, is not the key
// the head planned: a file changed since, or the engine lines differ.
type KeyMismatchError struct {
	Node, Planned, Now string
}

// Error implements error.
func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("stage %s: its key is now %s, the run planned %s: a file it reads changed since the run started, "+
		"or this machine computes other bytes than the head's (fix: run again; compare the key lines of --explain-keys here and on the head)",
		e.Node, cache.Short(e.Now), cache.Short(e.Planned))
}

// RunStage computes one node of g, the node id of the experiment whose path
// is experimentPath, as a job of a run spread over processes: the head
// planned key for it, and every input must already have a valid entry.
// Under the key's lock it computes and publishes the entry unless a valid
// one exists (which another process published meanwhile), so a stage is
// computed once however many processes ask for it. Options.Only,
// Reproduce, Results and Executor are ignored.
func RunStage(ctx context.Context, g *experiment.Graph, experimentPath, id, key string, opts Options) (StageResult, error) {
	opts.Only, opts.Reproduce, opts.Results, opts.Executor = nil, false, "", nil
	opts.Jobs = 1
	var n *experiment.Node
	for _, m := range g.Nodes {
		if m.Experiment.Path == experimentPath && m.ID == id {
			n = m
		}
	}
	if n == nil {
		return StageResult{}, fmt.Errorf("%s: %w %q", experimentPath, ErrNoSuchStage, id)
	}
	// Only n and what it depends on need keys: a job of a graph of many
	// stages must not digest them all.
	r, err := prepare(ancestry(g, n), &opts)
	if err != nil {
		return StageResult{}, err
	}
	if now := r.keys[n].Key; now != key {
		return StageResult{}, &KeyMismatchError{Node: experimentPath + ":" + id, Planned: key, Now: now}
	}
	if err := r.checkEngines([]*experiment.Node{n}); err != nil {
		return StageResult{}, err
	}
	held := []string{key}
	for _, port := range sortedPorts(n) {
		for _, src := range n.Inputs[port] {
			skey := r.keys[src.Node].Key
			e, err := r.get(src.Node, skey)
			if err != nil {
				return StageResult{}, fmt.Errorf("input %s of %s: %w", src.Node.ID, id, err)
			}
			r.states[src.Node].entry = e
			held = append(held, skey)
		}
	}
	if hold, err := r.c.Hold(held); err != nil {
		opts.Log.Warn().Err(err).Msg("a gc running meanwhile may remove entries this stage needs")
	} else {
		defer hold.Release()
	}
	r.direct = map[*experiment.Node]bool{n: true}
	log := opts.Log.With().Str("stage", experimentPath+":"+id).Logger()
	sl := &slot{sem: r.sem}
	defer sl.release()
	sl.acquire(ctx)
	res := r.states[n].res
	begin := time.Now()
	e, how, err := r.obtainOnce(ctx, n, sl, log)
	res.Seconds = time.Since(begin).Seconds()
	switch {
	case err != nil && ctx.Err() != nil:
		res.Status, res.Reason = StatusSkipped, "interrupted while running"
		return res, ctx.Err()
	case err != nil:
		res.Status, res.Error = StatusFailed, err.Error()
		return res, err
	case how == computed:
		res.Status = StatusExecuted
	default:
		res.Status, res.Seconds = StatusCached, 0
	}
	if err := r.c.SetLast(n.Experiment.Path, n.ID, e.Key); err != nil {
		log.Warn().Err(err).Msg("cannot record the key for plan")
	}
	return res, nil
}

// ancestry returns the graph of n and the nodes it depends on, in g's
// order.
func ancestry(g *experiment.Graph, n *experiment.Node) *experiment.Graph {
	need := map[*experiment.Node]bool{}
	var visit func(m *experiment.Node)
	visit = func(m *experiment.Node) {
		if need[m] {
			return
		}
		need[m] = true
		for _, srcs := range m.Inputs {
			for _, s := range srcs {
				visit(s.Node)
			}
		}
	}
	visit(n)
	sub := &experiment.Graph{Experiments: g.Experiments, MaxMemory: g.MaxMemory}
	for _, m := range g.Nodes {
		if need[m] {
			sub.Nodes = append(sub.Nodes, m)
		}
	}
	return sub
}
