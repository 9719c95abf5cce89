package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/runner/remote"
	"difflab/stages"
	"difflab/stages/artifact"
)

// Options configures Run and Plan. Only Cache is required.
type Options struct {
	// Cache stores every stage's outputs.
	Cache *cache.Cache
	// Jobs is how many stages may run at once; zero or less means
	// DefaultJobs(). Compute stages use every core themselves, so more jobs
	// mostly help graphs of many small stages.
	Jobs int
	// Force recomputes the selected stages even when their entry is valid.
	// With Only, it applies to the named stages, not to their inputs.
	Force bool
	// Only, when not empty, restricts the run to the stages named (by stage
	// id, such as "edited", or node id, such as "edited[i_start=10]") and
	// the stages they need inputs from; those come from the cache when
	// valid and are computed otherwise. Other stages are left out of the
	// summary.
	Only []string
	// Results is the folder that receives every node's outputs under
	// <experiment path without .yaml>/<node id>/; empty disables it.
	Results string
	// Verify hashes every file of every entry read, instead of only those
	// whose modification time changed since publication.
	Verify bool
	// Reproduce runs the selected stages that have a valid entry again and
	// compares their outputs with the entry's, publishing nothing: a stage
	// whose outputs differ fails, with the differing files in its error and
	// its key lines in the log (a missing key line or a nondeterministic Run
	// is the likely cause). Stages without a valid entry run as usual.
	Reproduce bool
	// ExplainKeys, when set, receives every key's input lines.
	ExplainKeys io.Writer
	// Log receives the run's log; the zero logger discards it.
	Log zerolog.Logger
	// ProgressEvery is the least time between two progress lines of a
	// stage; zero means 2 seconds.
	ProgressEvery time.Duration
	// EngineChecks maps an engine name (as in Kind.Engine) to a check that
	// the engine can run here, such as loading its shared library. Run
	// calls the check of each engine that a stage it would compute names,
	// once, before any stage starts, and stops with an *EngineError if it
	// fails: better than failing after hours of training.
	EngineChecks map[string]func() error
	// Devices maps an engine name to the device its stages run on, when
	// that is not the engine's default device: {"onnxruntime": "webgpu"}
	// runs ONNX Runtime on its WebGPU execution provider. A device enters
	// the key of every stage using the engine, as the line "device ENGINE
	// NAME" after the engine's line, because another device rounds
	// differently and gives other bytes: an entry is never served for a
	// device it was not computed on. Stages on an engine's default device
	// have no such line.
	Devices map[string]string
	// Placement, if set, says where the stages of an engine run, such as
	// "cpu" or "webgpu: NVIDIA H100 80GB HBM3, Vulkan 1.4.312"; every
	// entry's manifest records it for each engine of its kind. It is
	// called after the engine checks passed.
	Placement func(engine string) string
	// Remote, when not nil, is a remote cache shared with other machines:
	// a stage without a valid local entry is fetched from it when it holds
	// one (under the key's lock, verified, then published locally), and a
	// computed entry is uploaded to it (the blobs it lacks; the manifest
	// unless it holds one), unless the client is read-only. Its failures
	// never fail a stage. Force and Reproduce do not fetch.
	Remote *remote.Client
	// Executor, when not nil, runs the stages it does not call Local
	// somewhere else, such as Slurm jobs, each in a fresh process against
	// this cache (see RunStage); the head waits for them and reads their
	// entries. Reproduce runs every stage in the head.
	Executor Executor
}

// ErrNoSuchStage is the cause of the error of Run and Plan when Only names
// a stage that the graph does not have.
var ErrNoSuchStage = errors.New("no such stage")

// DefaultJobs is the default number of concurrent stages: half the CPUs,
// at least one.
func DefaultJobs() int { return max(1, runtime.NumCPU()/2) }

// nodeState is the outcome of one node, shared with its consumers.
type nodeState struct {
	done  chan struct{}
	res   StageResult
	entry *cache.Entry // set when executed or cached
}

type run struct {
	opts   Options
	c      *cache.Cache
	keys   map[*experiment.Node]NodeKey
	states map[*experiment.Node]*nodeState
	direct map[*experiment.Node]bool // nodes named by Only (all when Only is empty)
	sem    chan struct{}
	// maxMemory is the graph's MaxMemory, each stage's MemoryLimit.
	maxMemory int64

	mu      sync.Mutex
	flights map[string]*flight // keys being or already obtained by this run

	uploads uploads // uploads to Options.Remote
}

// flight is one key's computation in this run; nodes of other experiments
// with the same key share it.
type flight struct {
	done  chan struct{}
	by    string // the node that obtains it
	entry *cache.Entry
	err   error
}

// Run computes every node of g whose entry is missing or invalid, in
// dependency order, up to opts.Jobs at a time, and copies every node's
// outputs to the results folder. A failed stage stops only the stages that
// depend on it. When ctx is cancelled, running stages see it through their
// Context, nothing incomplete is published, and the summary says
// interrupted. The error is for problems that stop everything before any
// stage starts (unreadable files for keys, unknown --only names); stage
// failures are reported in the summary.
func Run(ctx context.Context, g *experiment.Graph, opts Options) (*Summary, error) {
	start := time.Now()
	r, err := prepare(g, &opts)
	if err != nil {
		return nil, err
	}
	nodes := r.selected(g)
	if err := r.checkEngines(nodes); err != nil {
		return nil, err
	}
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		keys[i] = r.keys[n].Key
	}
	if hold, err := r.c.Hold(keys); err != nil {
		opts.Log.Warn().Err(err).Msg("a gc running meanwhile may remove entries this run needs")
	} else {
		defer hold.Release()
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.node(ctx, n)
		}()
	}
	wg.Wait()
	r.finishUploads()
	s := &Summary{Interrupted: ctx.Err() != nil}
	if len(opts.Only) == 0 {
		s.Stages = skippedExperiments(g)
	}
	for _, n := range nodes {
		s.Stages = append(s.Stages, r.states[n].res)
	}
	s.count()
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// prepare computes the keys and the selection shared by Run and Plan.
func prepare(g *experiment.Graph, opts *Options) (*run, error) {
	if opts.Cache == nil {
		return nil, errors.New("runner: Options.Cache is nil")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = DefaultJobs()
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 2 * time.Second
	}
	keys, err := Keys(g, opts.Cache.Digests, opts.Devices)
	if err != nil {
		return nil, err
	}
	if err := opts.Cache.Digests.Save(); err != nil {
		opts.Log.Warn().Err(err).Msg("file digests will be recomputed next time")
	}
	if opts.ExplainKeys != nil {
		ExplainKeys(opts.ExplainKeys, g, keys)
	}
	direct, err := selectNodes(g, opts.Only)
	if err != nil {
		return nil, err
	}
	r := &run{
		opts: *opts, c: opts.Cache, keys: keys, direct: direct, maxMemory: g.MaxMemory,
		states:  map[*experiment.Node]*nodeState{},
		sem:     make(chan struct{}, opts.Jobs),
		flights: map[string]*flight{},
	}
	for _, n := range g.Nodes {
		r.states[n] = &nodeState{done: make(chan struct{}), res: StageResult{
			Experiment: n.Experiment.Path, ID: n.ID, Kind: n.Kind.Name, Key: keys[n].Key,
		}}
	}
	return r, nil
}

// selected lists, in graph order, the nodes named by Only and everything
// they need; all nodes when Only is empty.
func (r *run) selected(g *experiment.Graph) []*experiment.Node {
	if len(r.opts.Only) == 0 {
		return g.Nodes
	}
	need := map[*experiment.Node]bool{}
	var visit func(n *experiment.Node)
	visit = func(n *experiment.Node) {
		if need[n] {
			return
		}
		need[n] = true
		for _, srcs := range n.Inputs {
			for _, s := range srcs {
				visit(s.Node)
			}
		}
	}
	for n := range r.direct {
		visit(n)
	}
	var out []*experiment.Node
	for _, n := range g.Nodes {
		if need[n] {
			out = append(out, n)
		}
	}
	return out
}

// selectNodes returns the nodes named by only (by stage or node id), or
// nil when only is empty.
func selectNodes(g *experiment.Graph, only []string) (map[*experiment.Node]bool, error) {
	if len(only) == 0 {
		return nil, nil
	}
	sel := map[*experiment.Node]bool{}
	for _, name := range only {
		found := false
		for _, n := range g.Nodes {
			if n.Stage == name || n.ID == name {
				sel[n] = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--only %s: %w (stages: %s)", name, ErrNoSuchStage, strings.Join(stageNames(g), ", "))
		}
	}
	return sel, nil
}

func stageNames(g *experiment.Graph) []string {
	seen := map[string]bool{}
	var names []string
	for _, n := range g.Nodes {
		if !seen[n.Stage] {
			seen[n.Stage] = true
			names = append(names, n.Stage)
		}
	}
	sort.Strings(names)
	return names
}

func skippedExperiments(g *experiment.Graph) []StageResult {
	var out []StageResult
	for _, e := range g.Experiments {
		if e.Skipped != "" {
			out = append(out, StageResult{Experiment: e.Path, Status: StatusSkipped, Reason: e.Skipped})
		}
	}
	return out
}

// node brings one node to a final state once its producers have theirs.
func (r *run) node(ctx context.Context, n *experiment.Node) {
	st := r.states[n]
	defer close(st.done)
	log := r.opts.Log.With().Str("stage", n.Experiment.Path+":"+n.ID).Logger()
	for _, port := range sortedPorts(n) {
		for _, src := range n.Inputs[port] {
			ps := r.states[src.Node]
			<-ps.done
			if ps.entry == nil && st.res.Status == "" {
				st.res.Status, st.res.Reason = StatusSkipped, fmt.Sprintf("input %s %s", src.Node.ID, ps.res.Status)
			}
		}
	}
	if st.res.Status != "" {
		log.Warn().Str("reason", st.res.Reason).Msg("skipped")
		return
	}
	sl := &slot{sem: r.sem}
	defer sl.release()
	if !sl.acquire(ctx) || ctx.Err() != nil {
		st.res.Status, st.res.Reason = StatusSkipped, "interrupted"
		return
	}
	begin := time.Now()
	e, how, err := r.obtain(ctx, n, sl, log)
	switch {
	case err != nil && ctx.Err() != nil:
		st.res.Status, st.res.Reason = StatusSkipped, "interrupted while running"
		if r.c.HasState(r.keys[n].Key) {
			st.res.Reason += "; its saved state resumes on the next run"
		}
		log.Warn().Msg(st.res.Reason)
		return
	case err != nil:
		st.res.Status, st.res.Error = StatusFailed, err.Error()
		st.res.Seconds = time.Since(begin).Seconds()
		log.Error().Err(err).Msg("failed")
		return
	case how == fetched:
		st.res.Status, st.res.Remote = StatusCached, true
	case how != fromCache:
		st.res.Status = StatusExecuted
		if how == reproduced {
			st.res.Reason = "reproduced: outputs identical to the cached entry"
		}
		st.res.Seconds = time.Since(begin).Seconds()
		log.Info().Str("key", cache.Short(e.Key)).Float64("seconds", round3(st.res.Seconds)).Msg("done")
	default:
		st.res.Status = StatusCached
		log.Debug().Str("key", cache.Short(e.Key)).Msg("cached")
	}
	st.entry = e
	if len(n.Kind.Metrics) > 0 {
		ms, err := e.Load("metrics")
		if err != nil {
			st.res.Status, st.res.Error = StatusFailed, fmt.Sprintf("reading its metrics: %v", err)
			log.Error().Err(err).Msg("reading metrics")
			return
		}
		st.res.Metrics = ms.(artifact.Metrics)
		st.res.Expectations = CheckExpectations(n.Expect, st.res.Metrics)
	}
	if err := r.c.SetLast(n.Experiment.Path, n.ID, e.Key); err != nil {
		log.Warn().Err(err).Msg("cannot record the key for plan")
	}
	if r.opts.Results != "" {
		check := checkStat
		switch {
		case how == computed:
			check = replaceAlways
		case r.opts.Verify:
			check = checkHash
		}
		outs, err := publishResults(r.opts.Results, n, e, check)
		if err != nil {
			st.res.ResultsError = err.Error()
			log.Error().Err(err).Msg("copying results")
		}
		st.res.Outputs = outs
	}
}

// outcome says how a node's entry was obtained.
type outcome int

const (
	fromCache  outcome = iota // a valid entry existed
	computed                  // the stage ran and its entry was published
	reproduced                // the stage ran again and matched its entry
	fetched                   // the entry came from the remote cache
)

// obtain returns n's entry and how it was obtained. A key already
// obtained by this run is shared, even when that failed.
func (r *run) obtain(ctx context.Context, n *experiment.Node, sl *slot, log zerolog.Logger) (*cache.Entry, outcome, error) {
	key := r.keys[n].Key
	r.mu.Lock()
	if f, ok := r.flights[key]; ok {
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fromCache, ctx.Err()
		}
		if f.err != nil {
			return nil, fromCache, fmt.Errorf("identical to stage %s, which failed: %w", f.by, f.err)
		}
		return f.entry, fromCache, nil
	}
	f := &flight{done: make(chan struct{}), by: n.Experiment.Path + ":" + n.ID}
	r.flights[key] = f
	r.mu.Unlock()
	defer close(f.done)
	var how outcome
	f.entry, how, f.err = r.obtainOnce(ctx, n, sl, log)
	return f.entry, how, f.err
}

// obtainOnce returns n's entry, from the cache or by running the stage
// under the key's lock.
func (r *run) obtainOnce(ctx context.Context, n *experiment.Node, sl *slot, log zerolog.Logger) (*cache.Entry, outcome, error) {
	key := r.keys[n].Key
	selected := r.direct == nil || r.direct[n]
	force := r.opts.Force && selected
	repro := r.opts.Reproduce && selected && !force
	var bad error // why the entry is invalid, if it is
	lookup := func() (*cache.Entry, error) {
		if force {
			return nil, nil
		}
		e, err := r.get(n, key)
		var miss *cache.MissError
		switch {
		case err == nil:
			return e, nil
		case errors.As(err, &miss) && !miss.Bad():
			return nil, nil
		case errors.As(err, &miss):
			bad = miss.Err
			return nil, nil
		}
		return nil, err
	}
	if e, err := lookup(); err != nil || e != nil && !repro {
		return e, fromCache, err
	}
	if r.opts.Executor != nil && !repro && !r.opts.Executor.Local(n) {
		return r.executeElsewhere(ctx, n, key, force, sl, log)
	}
	lk, err := r.lock(ctx, key, sl, log)
	if err != nil {
		return nil, fromCache, err
	}
	defer lk.Unlock()
	// Another process may have computed the key while we waited.
	bad = nil
	e, err := lookup()
	switch {
	case err != nil:
		return nil, fromCache, err
	case e != nil && repro:
		return e, reproduced, r.reproduce(ctx, n, e, log)
	case e != nil:
		return e, fromCache, nil
	}
	if bad != nil {
		log.Warn().Str("reason", bad.Error()).Msg("cache entry is invalid; removing it and recomputing")
		if err := r.c.Discard(key); err != nil {
			return nil, fromCache, err
		}
	}
	if e = r.fetch(ctx, n, key, force || repro, log); e != nil {
		return e, fetched, nil
	}
	if e, err = r.execute(ctx, n, key, force, log); err != nil {
		return nil, fromCache, err
	}
	if lk.Lost() {
		log.Warn().Msg("another process took this one for dead and broke its lock; both publish the same complete entry")
	}
	r.upload(ctx, e, log)
	return e, computed, nil
}

// get returns the entry of n's key, checked by the cache and then against
// n's kind: an entry lacking an output the kind declares, or holding it
// with another type, is invalid (a *cache.MissError whose Bad is true).
func (r *run) get(n *experiment.Node, key string) (*cache.Entry, error) {
	e, err := r.c.Get(key, r.opts.Verify)
	if err != nil {
		return nil, err
	}
	if err := checkOutputs(n, e); err != nil {
		return nil, &cache.MissError{Key: key, Err: err}
	}
	return e, nil
}

// checkOutputs checks that an entry holds every output n's kind declares,
// with its type.
func checkOutputs(n *experiment.Node, e *cache.Entry) error {
	for _, port := range n.Kind.Outputs {
		switch o := e.Output(port.Name); {
		case o == nil:
			return fmt.Errorf("manifest lacks output %q", port.Name)
		case o.Type != port.Type:
			return fmt.Errorf("manifest gives output %q type %s, the kind declares %s", port.Name, o.Type, port.Type)
		}
	}
	return nil
}

// execute runs n's stage and publishes its entry. The caller holds the
// key's lock.
func (r *run) execute(ctx context.Context, n *experiment.Node, key string, force bool, log zerolog.Logger) (*cache.Entry, error) {
	if force {
		if err := r.c.DropState(key); err != nil {
			return nil, err
		}
	}
	p, m, err := r.produce(ctx, n, key, log)
	if err != nil {
		return nil, err
	}
	e, err := p.Commit(m)
	if err != nil {
		return nil, err
	}
	if err := r.c.DropState(key); err != nil {
		log.Warn().Err(err).Msg("cannot remove resumable state")
	}
	return e, nil
}

// reproduce runs n's stage again and compares its outputs with those of
// the published entry e, publishing nothing. The caller holds the key's
// lock. The error lists the files that differ.
func (r *run) reproduce(ctx context.Context, n *experiment.Node, e *cache.Entry, log zerolog.Logger) error {
	if err := r.c.DropState(e.Key); err != nil {
		return err
	}
	p, m, err := r.produce(ctx, n, e.Key, log)
	if err != nil {
		return err
	}
	defer p.Abort()
	defer r.c.DropState(e.Key)
	if err := p.Digest(m); err != nil {
		return err
	}
	if diffs := diffOutputs(e.Manifest.Outputs, m.Outputs); len(diffs) > 0 {
		log.Error().Strs("key_lines", r.keys[n].Lines).Strs("differences", diffs).Msg("outputs differ from the cached entry")
		return fmt.Errorf("not reproducible: %s (the key lines are in the log; a missing key line or a nondeterministic Run is the likely cause)", strings.Join(diffs, "; "))
	}
	log.Info().Msg("reproduced: outputs identical to the cached entry")
	return nil
}

// diffOutputs describes how the files of two runs' outputs differ.
func diffOutputs(old, now []cache.Output) []string {
	digests := func(outs []cache.Output) map[string]string {
		m := map[string]string{}
		for _, o := range outs {
			for _, f := range o.Files {
				m[f.Path] = f.SHA256
			}
		}
		return m
	}
	a, b := digests(old), digests(now)
	var diffs []string
	for path, sa := range a {
		switch sb, ok := b[path]; {
		case !ok:
			diffs = append(diffs, path+" no longer produced")
		case sa != sb:
			diffs = append(diffs, fmt.Sprintf("%s differs (sha256 %s, now %s)", path, cache.Short(sa), cache.Short(sb)))
		}
	}
	for path := range b {
		if _, ok := a[path]; !ok {
			diffs = append(diffs, path+" newly produced")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// produce runs n's stage and saves its outputs into a pending entry,
// returning the pending entry and its manifest, ready to commit.
func (r *run) produce(ctx context.Context, n *experiment.Node, key string, log zerolog.Logger) (*cache.Pending, *cache.Manifest, error) {
	in, refs, err := r.inputs(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	workdir, err := r.c.Workdir(key)
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(workdir)
	sctx := &stages.Context{
		Context: ctx, Kind: n.Kind, Stage: n.ID, Params: n.Params, Devices: r.opts.Devices, In: in,
		Log: log, Workdir: workdir, State: r.c.State(key, n.Experiment.Path+" "+n.ID),
		Progress:    progressLogger(log, r.opts.ProgressEvery, time.Now),
		MemoryLimit: r.maxMemory,
	}
	log.Info().Str("key", cache.Short(key)).Msg("running")
	start := time.Now()
	if err := callRun(sctx); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	end := time.Now()
	m := &cache.Manifest{
		Kind: n.Kind.Name, KindVersion: n.Kind.Version, Stage: n.ID, Experiment: n.Experiment.Path,
		Params: n.Params, Inputs: refs, KeyLines: r.keys[n].Lines,
		Start: start, End: end, Seconds: end.Sub(start).Seconds(), Difflab: Version,
	}
	for _, eng := range n.Kind.EnginesFor(n.Params, r.opts.Devices) {
		if m.Engines == nil {
			m.Engines = map[string]string{}
		}
		m.Engines[eng] = Engines[eng]().Summary
		if r.opts.Placement == nil {
			continue
		}
		if where := r.opts.Placement(eng); where != "" {
			if m.Devices == nil {
				m.Devices = map[string]string{}
			}
			m.Devices[eng] = where
		}
	}
	outs := sctx.Outputs()
	for _, port := range n.Kind.Outputs {
		a := outs[port.Name]
		if a == nil {
			return nil, nil, fmt.Errorf("kind %s produced no output %q (its Run must call ctx.Output(%q, ...))", n.Kind.Name, port.Name, port.Name)
		}
		if a.Type() != port.Type {
			return nil, nil, fmt.Errorf("kind %s: output %q is %s, declared %s", n.Kind.Name, port.Name, a.Type(), port.Type)
		}
	}
	p, err := r.c.Begin(key)
	if err != nil {
		return nil, nil, err
	}
	for _, port := range n.Kind.Outputs {
		files, err := outs[port.Name].Save(p.OutDir(), port.Name)
		if err != nil {
			p.Abort()
			return nil, nil, fmt.Errorf("saving output %q: %w", port.Name, err)
		}
		o := cache.Output{Name: port.Name, Type: port.Type}
		for _, f := range files {
			o.Files = append(o.Files, cache.File{Path: f})
		}
		m.Outputs = append(m.Outputs, o)
	}
	if err := ctx.Err(); err != nil {
		p.Abort()
		return nil, nil, err
	}
	return p, m, nil
}

// inputs loads the artifacts fed to n from its producers' entries. An
// artifact that does not load (its files pass the cache's checks but hold
// something else) makes its producer's entry invalid: the entry is removed,
// so the next run recomputes it.
func (r *run) inputs(ctx context.Context, n *experiment.Node) (map[string][]stages.Input, []cache.InputRef, error) {
	in := map[string][]stages.Input{}
	var refs []cache.InputRef
	for _, port := range sortedPorts(n) {
		for i, src := range n.Inputs[port] {
			e := r.states[src.Node].entry
			a, err := e.Load(src.Output)
			if err != nil {
				err = fmt.Errorf("loading input %s from %s: %w", port, src.Node.ID, err)
				if derr := r.discard(ctx, e.Key); derr != nil {
					return nil, nil, fmt.Errorf("%w; removing its entry: %v", err, derr)
				}
				return nil, nil, fmt.Errorf("%w (its cache entry is removed, so the next run recomputes %s)", err, src.Node.ID)
			}
			in[port] = append(in[port], stages.Input{Artifact: a, Stage: src.Node.ID, Matrix: src.Node.Matrix})
			refs = append(refs, cache.InputRef{Port: port, Index: i, Stage: src.Node.ID, Output: src.Output, Key: e.Key})
		}
	}
	return in, refs, nil
}

// lockWaitReport is how often a stage waiting for another process's lock
// says so again.
const lockWaitReport = time.Minute

// lock takes the lock of key. While another process holds it, the stage
// gives its job slot back, so that stages that do not need the key go on,
// and says who holds the lock (again every lockWaitReport).
func (r *run) lock(ctx context.Context, key string, sl *slot, log zerolog.Logger) (*cache.Lock, error) {
	since := time.Now()
	lk, err := r.c.LockReporting(ctx, key, lockWaitReport, func(holder string) {
		sl.release()
		log.Warn().Str("holder", holder).Dur("waited", time.Since(since).Round(time.Second)).
			Msg("waiting for another process computing the same stage")
	})
	if err != nil {
		return nil, err
	}
	if !sl.acquire(ctx) {
		lk.Unlock()
		return nil, ctx.Err()
	}
	return lk, nil
}

// slot is a node's claim on one of the run's job slots.
type slot struct {
	sem  chan struct{}
	held bool
}

// acquire waits for a slot unless one is held; false when ctx ends first.
func (s *slot) acquire(ctx context.Context) bool {
	if s.held {
		return true
	}
	select {
	case s.sem <- struct{}{}:
		s.held = true
	case <-ctx.Done():
	}
	return s.held
}

// release gives the slot back, if held.
func (s *slot) release() {
	if s.held {
		<-s.sem
		s.held = false
	}
}

// discard removes the entry of key under its lock.
func (r *run) discard(ctx context.Context, key string) error {
	lk, err := r.c.Lock(ctx, key)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return r.c.Discard(key)
}

// callRun calls the kind's Run, turning a panic into an error that carries
// the stack.
func callRun(ctx *stages.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			ctx.Log.Error().Str("stack", string(stack)).Msgf("panic: %v", v)
			err = fmt.Errorf("panic in kind %s: %v", ctx.Kind.Name, v)
		}
	}()
	return ctx.Kind.Run(ctx)
}

// progressLogger returns a Progress function that logs at most one line per
// interval (and always the last one) with the percentage done and the time
// left, extrapolated from the progress since the first report (a resumed
// stage's first report already counts the work done before it resumed).
func progressLogger(log zerolog.Logger, every time.Duration, now func() time.Time) func(done, total int, detail string) {
	var mu sync.Mutex
	var first, last time.Time
	var firstDone int
	return func(done, total int, detail string) {
		mu.Lock()
		defer mu.Unlock()
		t := now()
		if first.IsZero() {
			first, firstDone = t, done
		}
		if !last.IsZero() && t.Sub(last) < every && done < total {
			return
		}
		last = t
		ev := log.Info().Int("done", done).Int("total", total)
		if total > 0 {
			ev = ev.Str("pct", fmt.Sprintf("%.0f%%", 100*float64(done)/float64(total)))
			if done > firstDone && done < total {
				eta := time.Duration(float64(t.Sub(first)) * float64(total-done) / float64(done-firstDone))
				ev = ev.Str("eta", eta.Round(time.Second).String())
			}
		}
		ev.Msg(detail)
	}
}

func sortedPorts(n *experiment.Node) []string {
	ports := make([]string, 0, len(n.Inputs))
	for p := range n.Inputs {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	return ports
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
