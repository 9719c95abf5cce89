package main

import (
	"fmt"
	"io"
	"sort"
)

// Subcommands register themselves in commands from an init function in
// their own file of this package, so adding one never edits another's file:
//
//	// bench.go
//	func init() { register("bench", "measure the engines", runBench) }
//
//	func runBench(args []string) int { ... return exitOK }
//
// run receives the arguments after the subcommand's name and returns the
// process's exit status (the exit* constants in main.go). Commands write to
// stdout and stderr (variables, so tests can capture them). The helpers in
// common.go give every subcommand the same flags and messages: newFlagSet
// and parseArgs (flags anywhere among the arguments), addLogFlags with
// newLogger (-v, --log-json), addCacheFlag with openCache (--cache),
// addLoadFlags with loadGraph (--profile, --set, --root; validation errors
// one per line, exit status 3).

// command is a difflab subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string) int
}

// commands holds the registered subcommands by name.
var commands = map[string]command{}

// register adds the subcommand name, described in one line by summary. It
// panics on a duplicate name: that is a programming mistake.
func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup || name == "" || run == nil {
		panic("difflab: bad or duplicate command " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

// listCommands writes the usage line and every command with its summary.
func listCommands(w io.Writer) {
	fmt.Fprintln(w, "usage: difflab COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'difflab COMMAND -h' for a command's flags.")
	fmt.Fprintln(w, exitCodesDoc)
}
