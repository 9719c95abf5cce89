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
	b, _ := json.Marshal(Record{Job: job.ID, Log: job.Log, Experiment: n.Experiment.Path, Stage: n.ID, Key: key, Since: time.Now().UTC()})
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
func (x *Executor) unrecord(key, id string) {
	p := filepath.Join(recordDir(x.cfg.Cache), key+".json")
	var r Record
	if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &r) == nil && r.Job == id {
		os.Remove(p)
	}
}

// InFlight lists the jobs recorded in the cache at cacheDir, sorted by
// experiment and stage, with their state in the queue when squeue answers.
// Records of jobs the queue no longer lists (their head was killed) are
// listed without a state.
func InFlight(ctx context.Context, cacheDir string) ([]Record, error) {
	ents, err := os.ReadDir(recordDir(cacheDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
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
			for i := range recs {
				recs[i].State = states[recs[i].Job]
			}
		}
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Experiment != recs[j].Experiment {
			return recs[i].Experiment < recs[j].Experiment
		}
		return recs[i].Stage < recs[j].Stage
	})
	return recs, nil
}
