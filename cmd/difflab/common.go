package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/stages"
)

// stringList is a repeatable string flag.
type stringList []string

// String implements flag.Value.
func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value.
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// setList is the repeatable --set flag. A malformed override is a bad
// command line, reported when the flag is parsed.
type setList struct{ stringList }

// Set implements flag.Value.
func (s *setList) Set(v string) error {
	if _, err := experiment.ParseSet(v); err != nil {
		var e *experiment.Error
		if errors.As(err, &e) {
			return fmt.Errorf("%s (fix: %s)", e.Msg, e.Fix)
		}
		return err
	}
	return s.stringList.Set(v)
}

// newFlagSet returns a flag set for command name whose usage message shows
// args (the positional arguments) and the flags.
func newFlagSet(name, args, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: difflab %s [flags] %s\n\n%s\n\nflags:\n", name, args, doc)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed anywhere among the positional arguments
// and returns the positional ones. ok is false when the command should exit
// with status code (after -h, or a bad flag, whose message was printed).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// logFlags are the logging flags every command has.
type logFlags struct {
	json    bool
	verbose bool
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.BoolVar(&f.json, "log-json", false, "write logs to stderr as JSON lines")
	fs.BoolVar(&f.verbose, "v", false, "verbose: also log debug lines (cache hits)")
	return f
}

// newLogger returns the logger on stderr the flags ask for: human-readable
// lines, or JSON with --log-json.
func (f *logFlags) newLogger() zerolog.Logger {
	level := zerolog.InfoLevel
	if f.verbose {
		level = zerolog.DebugLevel
	}
	if f.json {
		return zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	}
	w := zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly, NoColor: !isTerminal(stderr)}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// addCacheFlag adds --cache.
func addCacheFlag(fs *flag.FlagSet) *string {
	return fs.String("cache", "", "cache directory (default $DIFFLAB_CACHE, else "+cache.DefaultDir+")")
}

// openCache opens the cache the --cache flag (or the environment) names,
// printing any error.
func openCache(flagValue string) (*cache.Cache, bool) {
	c, err := cache.Open(cache.Dir(flagValue))
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return nil, false
	}
	return c, true
}

// loadFlags select how experiment files are loaded.
type loadFlags struct {
	root      string
	profile   string
	sets      setList
	maxMemory byteSize
}

// byteSize is a flag holding a number of bytes, written with an optional
// unit: 512M, 16G, 16GiB, 1T (powers of 1024).
type byteSize int64

// String implements flag.Value.
func (b *byteSize) String() string {
	if *b <= 0 {
		return "this machine's memory"
	}
	return stages.FormatBytes(int64(*b))
}

// Set implements flag.Value.
func (b *byteSize) Set(v string) error {
	n, err := experiment.ParseSize(v)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// machineMemory is the machine's physical memory in bytes (MemTotal of
// /proc/meminfo), or 0 when unknown.
func machineMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func addLoadFlags(fs *flag.FlagSet) *loadFlags {
	f := &loadFlags{}
	fs.Var(&f.maxMemory, "max-memory", "refuse stages whose memory estimate exceeds this size (such as 16G)")
	fs.StringVar(&f.root, "root", "", "experiments root that result paths are relative to (default: the nearest directory named experiments, else the working directory)")
	fs.StringVar(&f.profile, "profile", experiment.DefaultProfile, "parameter profile: quick or full (or one an experiment defines)")
	fs.Var(&f.sets, "set", "override a parameter: STAGE.PARAM=VALUE (repeatable)")
	return f
}

// loadGraph loads the experiments in paths (default: experiments/). It
// prints each validation error as file:line:col: message, followed by the
// source line with a caret under the column and the fix, and returns the
// exit status to use when the graph is nil.
func loadGraph(paths []string, f *loadFlags) (*experiment.Graph, int) {
	if len(paths) == 0 {
		if _, err := os.Stat("experiments"); err != nil {
			fmt.Fprintln(stderr, "difflab: no experiment given (fix: name experiment files or directories, such as experiments/)")
			return nil, exitUsage
		}
		paths = []string{"experiments"}
	}
	maxMemory := int64(f.maxMemory)
	if maxMemory <= 0 {
		maxMemory = machineMemory()
	}
	g, err := experiment.Load(paths, experiment.Options{Root: f.root, Profile: f.profile, Sets: f.sets.stringList, MaxMemory: maxMemory})
	if err != nil {
		experiment.PrintError(stderr, err)
		printHints(err)
		var list experiment.ErrorList
		var one *experiment.Error
		if errors.As(err, &list) || errors.As(err, &one) {
			return nil, exitValidation
		}
		return nil, exitError
	}
	return g, exitOK
}

// isTerminal reports whether w is a terminal that accepts colours.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
