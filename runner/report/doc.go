// Package report writes difflab's results as one self-contained HTML page.
//
// # Overview
//
// A report shows, for every experiment file, its doc text, the figures and
// loss curves its stages produced (with captions that carry the sweep
// values), the parameters that produced them, and a provenance line per
// stage (cache key, when it ran, how long it took, engines). The page is
// written by Write from a small data model (Experiment, Node, Run) that
// callers fill from whatever holds the results; the package reads artifact
// files only through the directories a Run names.
//
// Several runs can be shown side by side (compare mode): every Node then has
// one Run per label of Options.Runs, such as the same figures computed with
// the quick and the full profile.
//
// # Invariants
//
//   - The page makes no network requests: it has no external style sheets,
//     scripts or fonts, and every image is a file copied next to index.html
//     (named by its SHA-256, so identical images are stored once) or an
//     inline SVG. It opens from disk.
//   - A stage that has not been computed shows a "not yet computed"
//     placeholder, never a broken image; a skipped experiment shows why.
//   - All text from experiment files (names, docs, parameters) is escaped.
package report
