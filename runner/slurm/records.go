package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"
)

// Record is a job in flight, as the head that waits for it records it under
// <cache>/jobs/ for `difflab status`.
type Record struct {
	Job        string    `json:"job"`
	Log        string    `json:"log"`
	Experiment string    `json:"experiment"`
	Stage      string    `json:"stage"`
	Key        string    `json:"key"`
	Since      time.Time `json:"since"`
	// Cluster is the Slurm cluster the job was submitted to, as
	// scontrol names it (empty when it could not tell, and in records of
	// older versions).
	Cluster string `json:"cluster,omitempty"`
	// State is the job's state in the queue, filled in by InFlight
	// ("PENDING", "RUNNING"); empty when Slurm does not list it. Records
	// on disk leave it out.
	State string `json:"state,omitempty"`
}

// recordDir is where the records of jobs in flight are kept.
func recordDir(cacheDir string) string { return filepath.Join(cacheDir, "jobs", "inflight") }

// record writes the record of job, which computes key for n.
func (x *Executor) record(n *experiment.Node, key string, job runner.Job) error {
	dir := recordDir(x.cfg.Cache)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	b, _ := json.Marshal(Record{Job: job.ID, Log: job.Log, Experiment: n.Experiment.Path, Stage: n.ID, Key: key,
		Since: time.Now().UTC(), Cluster: x.cluster})
	f, err := cache.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, key+".json"))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// unrecord removes the record of key if it still names job id.
func (x *Executor) unrecord(key, id string) { removeRecord(x.cfg.Cache, key, id) }

// removeRecord removes the record of key in the cache at cacheDir if it
// still names job id.
func removeRecord(cacheDir, key, id string) {
	p := filepath.Join(recordDir(cacheDir), key+".json")
	var r Record
	if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &r) == nil && r.Job == id {
		os.Remove(p)
	}
}

// staleAfter is how old a record of a job the queue does not list must be
// before InFlight removes it.
const staleAfter = time.Minute

// InFlight lists the jobs recorded in the cache at cacheDir, sorted by
// experiment and stage, with their state in the queue when squeue answers.
//
// A record whose job the queue no longer lists, written on this cluster
// more than staleAfter ago, was left by a head that was killed: a live
// head removes its record within a poll of the job's end, and Slurm lists
// an ended job for a while (MinJobAge) before it forgets it. InFlight
// removes such records and returns them as stale. Records of another
// cluster sharing the cache, whose job ids mean other jobs here, and of
// jobs the queue does not list while squeue fails, are listed without a
// state and kept.
func InFlight(ctx context.Context, cacheDir string) (live, stale []Record, err error) {
	ents, err := os.ReadDir(recordDir(cacheDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("slurm: %w", err)
	}
	var recs []Record
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var r Record
		b, err := os.ReadFile(filepath.Join(recordDir(cacheDir), e.Name()))
		if err != nil || json.Unmarshal(b, &r) != nil {
			continue // removed meanwhile, or being replaced
		}
		recs = append(recs, r)
	}
	if len(recs) > 0 {
		if out, err := command(ctx, "squeue", "--noheader", "--states=all", "--format=%i|%T"); err == nil {
			states := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				if id, st, ok := strings.Cut(strings.TrimSpace(line), "|"); ok {
					states[id] = st
				}
			}
			cluster := clusterName(ctx)
			kept := recs[:0]
			for _, r := range recs {
				r.State = states[r.Job]
				if r.State == "" && cluster != "" && r.Cluster == cluster && time.Since(r.Since) > staleAfter {
					removeRecord(cacheDir, r.Key, r.Job)
					stale = append(stale, r)
					continue
				}
				kept = append(kept, r)
			}
			recs = kept
		}
	}
	byStage := func(r []Record) func(i, j int) bool {
		return func(i, j int) bool {
			if r[i].Experiment != r[j].Experiment {
				return r[i].Experiment < r[j].Experiment
			}
			return r[i].Stage < r[j].Stage
		}
	}
	sort.Slice(recs, byStage(recs))
	sort.Slice(stale, byStage(stale))
	return recs, stale, nil
}
