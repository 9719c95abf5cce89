package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/slurm"
)

// slurmJobs is the default of --jobs with --executor slurm: the most
// stages in flight (jobs queued or running) at once.
const slurmJobs = 200

// errUnknownExecutor is the cause of the error of executorFlags.open for
// an executor it does not know: a bad command line.
var errUnknownExecutor = errors.New("unknown executor")

// executorFlags are run's flags that say where stages run.
type executorFlags struct {
	executor  string
	partition string
	account   string
	args      stringList
	binary    string
	logs      string
	poll      time.Duration
	allJobs   bool
}

func addExecutorFlags(fs *flag.FlagSet) *executorFlags {
	f := &executorFlags{}
	fs.StringVar(&f.executor, "executor", "local", "where stages run: local (this process) or slurm (one batch job per stage, against a cache every node mounts)")
	fs.StringVar(&f.partition, "slurm-partition", "", "with --executor slurm: the partition jobs go to (sbatch --partition)")
	fs.StringVar(&f.account, "slurm-account", "", "with --executor slurm: the account jobs are charged to (sbatch --account)")
	fs.Var(&f.args, "slurm-arg", "with --executor slurm: one more sbatch argument, such as --qos=long (repeatable)")
	fs.StringVar(&f.binary, "slurm-binary", "", "with --executor slurm: the path of difflab on the nodes (default: this executable)")
	fs.StringVar(&f.logs, "slurm-logs", "", "with --executor slurm: the folder of the jobs' logs (default <cache>/jobs/logs)")
	fs.DurationVar(&f.poll, "slurm-poll", 5*time.Second, "with --executor slurm: time between two looks at the queue")
	fs.BoolVar(&f.allJobs, "slurm-all", false, "with --executor slurm: submit light stages too (loads, plots), which otherwise run in this process")
	return f
}

// open returns the executor the flags ask for: nil for local. Stages
// running as jobs load their experiment with the head's load flags and
// device, so that they plan the keys the head planned.
func (f *executorFlags) open(load *loadFlags, d ort.Device, cacheDir string, log zerolog.Logger) (runner.Executor, error) {
	switch f.executor {
	case "local":
		return nil, nil
	case "slurm":
	default:
		return nil, fmt.Errorf("--executor %s: %w (fix: --executor local or --executor slurm)", f.executor, errUnknownExecutor)
	}
	stageArgs := []string{"--profile", load.profile, "--device", string(d)}
	for _, s := range load.sets.stringList {
		stageArgs = append(stageArgs, "--set", s)
	}
	if load.maxMemory > 0 {
		stageArgs = append(stageArgs, "--max-memory", strconv.FormatInt(int64(load.maxMemory), 10))
	}
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	logs := f.logs
	if logs != "" {
		if logs, err = filepath.Abs(logs); err != nil {
			return nil, err
		}
	}
	return slurm.New(slurm.Config{
		Binary: f.binary, Cache: abs, LogDir: logs, StageArgs: stageArgs,
		Partition: f.partition, Account: f.account, Extra: f.args, Poll: f.poll, InHead: !f.allJobs, Log: log,
	})
}
