// Package runner executes experiment graphs: it computes every node's cache
// key, runs the nodes whose entry is missing or invalid, and copies every
// node's outputs to the results folder.
//
// # Overview
//
// Run takes a Graph from experiment.Load and Options (a cache.Cache is the
// only required field). It first computes the key of every node (Keys),
// producers before consumers, so a node's key covers everything upstream.
// Then every node waits for its producers and, up to Options.Jobs at a
// time:
//
//   - is answered from the cache when its entry is valid (status cached);
//   - otherwise takes the key's lock, checks the cache again (another
//     process may have computed it meanwhile), removes an invalid entry with
//     a warning that says why, runs the kind's Run with a stages.Context
//     (inputs loaded from the producers' entries, a logger with a stage
//     field, a scratch Workdir, a State store for resumable checkpoints and
//     rate-limited progress lines), checks that every declared output was
//     produced with its declared type, and publishes the entry (status
//     executed);
//   - is skipped when a producer failed or was skipped, with a reason such
//     as "input noisy[t=250] failed". Other branches of the graph go on.
//
// With Options.Remote, a node without a valid entry first asks the remote
// cache, under the key's lock: a verified hit is published like a computed
// entry (status cached, Remote set); a computed entry is uploaded in the
// background, and Run waits for its uploads before it returns. The remote
// cache's failures only ever cost a warning (package remote).
//
// Options.Reproduce runs cached stages again without publishing and fails
// those whose outputs differ from their entry, logging their key lines: the
// check that every influence on a stage is in its key.
//
// Plan answers, without running anything, which nodes would run and why: no
// entry, an invalid entry, or the differences between the node's key lines
// and those of its most recent run ("param t: 250 -> 300", "input images
// (noisy[t=250]) changed", "file photo.png changed").
//
// # Invariants
//
//   - Keys are known before anything runs and depend only on the kind and
//     its version, the parameters, the inputs' keys, the digests and base
//     names of files read, and engine versions; never on paths, times or the
//     order of a YAML file.
//   - Nothing incomplete is published: a stage that fails, panics or is
//     cancelled leaves no entry, and a process killed at any point leaves at
//     most temporary directories, removed by the next run of that key or by
//     cache GC.
//   - Two processes sharing a cache compute each key once: the second waits
//     for the key's lock and then finds the entry.
//   - Force recomputes the selected nodes and overwrites their entries; Only
//     selects the named stages plus every node they take inputs from
//     (transitively), which come from the cache or are computed; nodes not
//     selected are not mentioned in the summary.
//   - Results: node N of experiment part_a/1_7.yaml goes to
//     <Results>/part_a/1_7/N/, with the artifact files under their stable
//     names (<output>.npy, <output>.json, <output>.png, <output>/...) and a
//     marker file naming the entry. The folder is replaced as a whole (stale
//     files vanish) and left alone when it already holds the entry's files.
package runner
