package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/runner/remote"
	"difflab/stages"
)

// uploadJobs is how many entries a run uploads at once.
const uploadJobs = 4

// uploads tracks a run's uploads to the remote cache, which go on in the
// background while later stages run.
type uploads struct {
	wg    sync.WaitGroup
	once  sync.Once
	slots chan struct{}
	mu    sync.Mutex
	done  map[string]bool // keys whose manifest this run uploaded
}

// remoteCheck returns the check of remote manifests for n: the outputs its
// kind declares, with their types.
func remoteCheck(n *experiment.Node) func(*cache.Manifest) error {
	return func(m *cache.Manifest) error { return checkOutputs(n, &cache.Entry{Manifest: m}) }
}

// fetch looks n's key up in the remote cache (unless skip is set) and, on a
// hit, downloads, verifies and publishes its entry; the caller holds the
// key's lock. It returns nil without a hit, saying why in the log when the
// remote cache failed or held an entry it rejected.
func (r *run) fetch(ctx context.Context, n *experiment.Node, key string, skip bool, log zerolog.Logger) *cache.Entry {
	rc := r.opts.Remote
	if rc == nil || skip {
		return nil
	}
	e, err := rc.Fetch(ctx, r.c, key, remoteCheck(n))
	var rejected *remote.RejectedError
	switch {
	case err == nil:
		log.Info().Str("key", cache.Short(key)).Msg("fetched from the remote cache")
		return e
	case errors.Is(err, remote.ErrNotFound):
	case errors.As(err, &rejected):
		log.Warn().Str("key", cache.Short(key)).Str("reason", rejected.Err.Error()).
			Msg("remote cache entry rejected; computing the stage here and leaving the remote entry as it is")
	case errors.Is(err, remote.ErrUnavailable) || ctx.Err() != nil:
		// Said once by the client, or the run is interrupted.
	default:
		log.Warn().Str("key", cache.Short(key)).Err(err).Msg("cannot fetch from the remote cache; computing the stage here")
	}
	return nil
}

// upload sends e, just computed, to the remote cache in the background;
// finishUploads waits for it. Only blobs the server lacks are sent, which
// repairs a remote entry rejected for a missing blob, and the manifest only
// when the server holds none, so a remote entry is never overwritten.
func (r *run) upload(ctx context.Context, e *cache.Entry, log zerolog.Logger) {
	rc := r.opts.Remote
	if rc == nil || rc.ReadOnly() || !rc.Available() {
		return
	}
	u := &r.uploads
	u.once.Do(func() {
		u.slots = make(chan struct{}, uploadJobs)
		u.done = map[string]bool{}
	})
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		u.slots <- struct{}{}
		defer func() { <-u.slots }()
		ok, err := rc.Upload(ctx, e)
		switch {
		case err != nil && !errors.Is(err, remote.ErrUnavailable) && !rc.ReadOnly() && ctx.Err() == nil:
			// (A refused upload made the client read-only, saying so.)
			log.Warn().Str("key", cache.Short(e.Key)).Err(err).Msg("cannot upload to the remote cache")
		case ok:
			u.mu.Lock()
			u.done[e.Key] = true
			u.mu.Unlock()
			log.Debug().Str("key", cache.Short(e.Key)).Msg("uploaded to the remote cache")
		}
	}()
}

// finishUploads waits for the run's uploads and marks the executed stages
// whose entries were uploaded.
func (r *run) finishUploads() {
	u := &r.uploads
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, st := range r.states {
		if st.res.Status == StatusExecuted && u.done[st.res.Key] {
			st.res.Uploaded = true
		}
	}
}

// remoteJobs is how many remote lookups a plan makes at once.
const remoteJobs = 8

// planRemote asks the remote cache about every stage of res (the plan of
// nodes, in the same order) that would run for want of a local entry, once
// per key, and marks those it holds a valid entry for as cached remotely:
// the first stage of each key as Remote (a download, as Run counts them),
// the others as cached with it.
func (r *run) planRemote(res []StageResult, nodes []*experiment.Node) {
	rc := r.opts.Remote
	if rc == nil {
		return
	}
	type answer struct {
		first int // index of the first stage with the key
		m     *cache.Manifest
		err   error
	}
	answers := map[string]*answer{}
	var wg sync.WaitGroup
	slots := make(chan struct{}, remoteJobs)
	asks := func(i int) bool {
		return res[i].Status == StatusWouldRun && !(r.opts.Force && (r.direct == nil || r.direct[nodes[i]]))
	}
	for i, n := range nodes {
		st := &res[i]
		if !asks(i) || answers[st.Key] != nil {
			continue
		}
		a := &answer{first: i}
		answers[st.Key] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			a.m, a.err = rc.Lookup(context.Background(), st.Key, remoteCheck(n))
		}()
	}
	wg.Wait()
	for i := range res {
		st := &res[i]
		a := answers[st.Key]
		var rejected *remote.RejectedError
		switch {
		case a == nil || !asks(i):
		case a.err == nil && a.first == i:
			st.Status, st.Remote = StatusCached, true
			st.Reason = "cached remotely (downloads " + describeFiles(a.m) + ")"
		case a.err == nil:
			st.Status = StatusCached
			st.Reason = "cached remotely (downloaded once, for " + res[a.first].Experiment + " " + res[a.first].ID + ")"
		case errors.As(a.err, &rejected):
			st.Reason += "; the remote cache's entry is rejected: " + rejected.Err.Error()
		}
	}
}

// describeFiles says how many files a manifest lists and their total size.
func describeFiles(m *cache.Manifest) string {
	n, size := 0, int64(0)
	for _, o := range m.Outputs {
		for _, f := range o.Files {
			n++
			size += f.Size
		}
	}
	unit := "files"
	if n == 1 {
		unit = "file"
	}
	return fmt.Sprintf("%d %s, %s", n, unit, stages.FormatBytes(size))
}
