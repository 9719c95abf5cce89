// Command difflab runs declarative diffusion and flow-matching experiments:
// it loads experiment files, computes every stage whose result is not in
// the cache, and puts every stage's outputs in the results folder.
//
//	difflab run [flags] PATH...      run experiments (files or directories)
//	difflab plan [flags] PATH...     say what would run, and why
//	difflab status [--list]          describe the cache and resumable states
//	                                 (and a remote cache: --remote-cache URL),
//	                                 and the stages in flight as Slurm jobs
//	difflab run-stage FILE NODE KEY  compute one planned stage against the
//	                                 cache: what a job of run --executor slurm runs
//	difflab gc [flags] [PATH...]     remove unneeded cache entries
//	difflab export KEY|RESULTS OUTPUT --to FILE.npy|.png|.json|.txt
//	difflab report [flags] [PATH...] write the results as an HTML page
//	difflab metrics [flags] [PATH...] print the metric stages' metrics
//	                                 (--compare OTHER_CACHE, --json)
//	difflab bench train|sample ...   time training steps or one UNet evaluation
//	difflab help                     list every command
//
// Every command takes -h. Logs go to stderr (JSON lines with --log-json);
// with --json, run and plan print one JSON summary object on stdout. run,
// plan and status take --remote-cache URL (or $DIFFLAB_REMOTE_CACHE): a
// cache shared between machines over Bazel's HTTP cache protocol. run
// --executor slurm runs every stage to compute as a Slurm batch job against
// a cache every node mounts.
//
// Exit status:
//
//	0    success
//	1    any other error (I/O, cache)
//	2    bad command line (unknown command or flag, --only naming no stage)
//	3    invalid experiment (each error printed as file:line:col: message,
//	     the source line and the fix), or a file a stage reads is missing
//	4    at least one stage failed (independent stages still ran)
//	5    a metric broke an expectation of its experiment (expect:; not
//	     with --no-expect)
//	130  interrupted by SIGINT or SIGTERM (running stages stopped, nothing
//	     half-written published)
package main

import (
	"fmt"
	"io"
	"os"

	_ "difflab/stages/all"
)

// Exit statuses, one per class of error.
const (
	exitOK          = 0   // success
	exitError       = 1   // any other error: I/O, cache
	exitUsage       = 2   // bad command line
	exitValidation  = 3   // an experiment file is invalid, or a file it names is unreadable
	exitStageFailed = 4   // at least one stage failed (the others ran)
	exitUnmet       = 5   // a metric broke an expectation
	exitInterrupted = 130 // interrupted by SIGINT or SIGTERM
)

const exitCodesDoc = `
exit status: 0 success, 1 other error (I/O, cache), 2 bad command line,
3 invalid experiment or missing file, 4 a stage failed, 5 a metric broke an
expectation, 130 interrupted (Ctrl-C).`

// stdout and stderr are where commands write; tests replace them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"-h"})
			}
		}
		listCommands(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "difflab: unknown command %q\n", args[0])
		listCommands(stderr)
		return exitUsage
	}
	return c.run(args[1:])
}
