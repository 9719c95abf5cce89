// Package experiment loads experiment files (YAML) into a validated,
// expanded Graph of stage nodes that the runner executes.
//
// # Overview
//
// An experiment file describes one section of the write-up: a name, a text
// for the report and a set of stages. Each stage has a registered kind (see
// package stages), parameters and inputs that refer to other stages. Load
// checks everything before anything runs (kinds, parameter names, types and
// limits, references, port types, cycles, file paths) and reports every
// problem with its file:line:column and a fix.
//
// # Example
//
// experiments/part_a/my_sdedit.yaml, beside the shipped Part A files:
//
//	name: "SDEdit of our own shirt"
//	doc: |
//	  Noise the shirt to strided timestep i_start, then denoise it with
//	  classifier-free guidance, for growing i_start.
//	include: [_ddpm.yaml, _mine.yaml]   # define `ddpm` and `shirt`
//	requires:
//	  - path: ../images/shirt.png
//	    hint: "draw it with `go run draw.go` in experiments/images"
//	profiles:
//	  quick: {edited.i_start: [10, 20]}
//	  full: {}
//	stages:
//	  edited:
//	    kind: sdedit
//	    doc: SDEdit of the shirt at each noise level.
//	    in: {images: shirt, model: ddpm}
//	    with: {prompt: "", cfg: 7, seed: 180}
//	    matrix: {i_start: [1, 3, 5, 7, 10, 20]}
//	  figure:
//	    kind: plot.grid
//	    in: {images: [shirt, "edited[*]"]}
//	    with: {titles: ["original", "i_start={i_start}"]}
//
// experiments/part_a/_mine.yaml (include-only: its name starts with '_'):
//
//	stages:
//	  shirt:
//	    kind: image.load
//	    with: {path: ../images/shirt.png, mode: gray, size: [28, 28]}
//
// _ddpm.yaml is the shipped file that trains the Part A diffusion model,
// stage ddpm. With the default profile "quick", stage edited expands into
// the nodes edited[i_start=10] and edited[i_start=20]; with --profile full
// into six. figure receives shirt's image and then every expansion of
// edited, in matrix order.
//
// # File format
//
// Top-level keys of an experiment file:
//
//	name      title for the report (default: the file's path)
//	doc       text for the report
//	include   list of files with shared definitions, relative to this file
//	requires  files that must exist: a path, or {path: ..., hint: ...}
//	profiles  named overrides: {PROFILE: {STAGE.PARAM: value, ...}}
//	resources what each stage asks of a cluster node (see Resources)
//	stages    mapping from stage id to stage
//
// Stage ids are letters, digits, '_' and '-', starting with a letter or '_'.
// Keys of a stage:
//
//	kind    the registered stage kind (required)
//	doc     what the stage is for, shown in the report
//	in      mapping from input port to a reference or a list of references
//	with    mapping from parameter to value
//	matrix  mapping from parameter to a list of values to sweep
//	expect  bounds on the metrics the stage reports (see Expectations)
//	resources  {cpus: 2, mem: 4G, time: 2h, gpus: 1}: what the stage asks of
//	        a cluster node when it runs as a job (run --executor slurm),
//	        field by field over the experiment's; unset fields take the
//	        executor's default for the kind. Never part of a cache key.
//
// YAML anchors, aliases and merge keys ("<<: *defaults") may be used to
// share values within a file.
//
// # Parameters
//
// Parameters are checked against the kind's declaration: unknown names
// (with the closest known name suggested), missing required parameters,
// types, Min, Max and Enum; then the kind's Check runs on each node. Values
// take the canonical Go types of stages.Params: an integer literal is
// accepted for a float parameter; any scalar is accepted as text for a
// string parameter; a single value is accepted for a list parameter as a
// list of one. A path parameter is resolved relative to the directory of the
// file that sets it (the working directory for --set), must exist, and is
// stored as an absolute path. Node.Files lists the path parameters and the
// kind's Files, sorted.
//
// Prompt parameters (stages.Param.Prompt) are checked against the prompt
// table of the model on the stage's "model" input when its producer can tell
// it before the run (stages.Kind.Prompts: the prompts of a train.ddpm stage,
// the model.json and embeddings file of a model.load stage), so a misspelt
// prompt is an error at load time, with the closest known prompt suggested,
// rather than after the model has trained.
//
// A node's parameters are, in order of precedence from lowest: the kind's
// defaults, the stage's with, the profile, the --set flags, the matrix.
//
// # References
//
// An input refers to other stages of the same experiment (including those
// from includes):
//
//	image               the first output of stage image
//	train.model         output model of stage train
//	noisy[*]            every expansion of the sweep noisy, in matrix order
//	noisy[t=250]        the expansions of noisy with t = 250 (a partial
//	                    selection of a multi-axis sweep may pick several)
//	noisy[*].eps        output eps of every expansion
//
// A plain reference to a sweep, such as noisy, maps over it (see below).
//
// References with brackets must be quoted in YAML flow lists. A list of
// references feeds the port in order; only ports declared Many accept more
// than one artifact, and "[*]" always needs a Many port. The producer's
// output type must equal the port's type.
//
// # Sweeps flow downstream
//
// A plain reference to a sweep (no brackets) maps over it: each expansion
// of the consumer takes the producer's expansion with the same values.
// Each axis of the producer is, for the consumer, one of:
//
//   - an axis the consumer sweeps itself (a zip): its values must be among
//     the producer's. denoised with matrix {t: [250, 500]} and in {images:
//     noisy} takes noisy[t=250] into denoised[t=250].
//   - an axis it inherits: the consumer expands once per value, in the
//     producer's order. blurred with in {images: noisy} and no matrix
//     becomes blurred[t=250], blurred[t=500], blurred[t=750]. Chains work:
//     a stage reading blurred inherits t from it in turn.
//
// Inputs that bring the same axis are zipped by value and must sweep the
// same values. Inherited axes are named in node ids, Node.Matrix and
// Node.MatrixOrder, after the stage's own axes (so they vary fastest), and
// plot titles downstream can use them ("Blurred t={t}"); they are not
// parameters of the consumer, whose Params stay its kind's. An inherited
// axis may therefore not share the name of a parameter of the consumer's
// kind: sweep it in the consumer's matrix instead (a zip that sets the
// parameter), or reference the producer with "[*]" or a selector. A
// selector may name inherited axes: blurred[t=500]. To collect a sweep into
// one node, write "[*]"; to stop a sweep, pick one expansion.
//
// For example (figure receives noisy[t=250], noisy[t=500], noisy[t=750],
// then blurred[t=250], ...):
//
//	blurred:
//	  kind: blur.gaussian
//	  in: {images: noisy}       # noisy sweeps t
//	  with: {kernel_size: 5, sigma: 1}
//	figure:
//	  kind: plot.grid
//	  in: {images: ["noisy[*]", "blurred[*]"]}
//	  with: {titles: ["Noisy t={t}", "Blurred t={t}"]}
//
// # Matrix
//
// A stage with a matrix expands into one node per combination of its axis
// values, the cartesian product in the file's axis order with the last axis
// varying fastest; axes inherited from inputs follow the stage's own. Node
// ids name the values: noisy[t=250] and x[a=1,b=2]. A stage without axes
// gives one node whose id is the stage id.
//
// # Profiles and --set
//
// A profile maps STAGE.PARAM to a value. The profile "quick" is applied by
// default; "quick" and "full" always exist (possibly empty), other names
// exist when a file defines them, and asking for an unknown profile is an
// error listing the known ones. Profiles in included files are merged, the
// including file winning. A --set flag "STAGE.PARAM=VALUE" (see ParseSet) is
// applied after the profile, to every loaded experiment that has the stage.
// When PARAM is a matrix axis of STAGE, the override replaces the axis
// values: a list gives the new values and a single value a one-value axis
// (the node ids keep the axis: noisy[t=250]).
//
// # Expectations
//
// A stage whose kind reports metrics (stages.Kind.Metrics, such as
// metrics.samples) may bound them:
//
//	expect:
//	  accuracy: {min: 0.9}
//	  fd: {max: 25, full: {max: 10}}
//
// min and max are inclusive; either may be left out. A profile's own
// mapping replaces the bound in that profile (here fd is at most 10 with
// --profile full, 25 otherwise); a profile without one uses the plain
// bound, or none if there is none. Node.Expect holds the bounds of the
// loaded profile; bounds are no parameters and never change a cache key.
// An unknown metric or profile, min above max, a bound that is not a
// number, or expect on a kind without metrics is an error.
//
// # Includes
//
// Included files hold shared definitions: their top-level keys may be doc,
// include, requires, profiles and stages. Paths in an included file are
// relative to that file. An experiment includes a file once even when
// several of its includes include it; include loops are errors naming the
// chain, and a stage id defined twice is an error naming both places. Each
// experiment gets its own nodes from a shared include; identical nodes get
// identical cache keys.
//
// # Directories and include-only files
//
// Load accepts files and directories. A directory contributes every file
// ending in .yaml below it, recursively and sorted by path, except files
// whose names start with '_': those are include-only. Naming such a file
// explicitly loads it as an experiment.
//
// Experiment.Path is the file's path relative to the experiments root (see
// Options.Root); results go to results/<Path without .yaml>/.
//
// # Requires
//
// When a required file is missing, an experiment named explicitly fails to
// load with an error naming the file and the hint; an experiment found by
// walking a directory is returned with Skipped set to the reason and no
// nodes.
//
// # Errors
//
// Load reports every independent error it finds, as an ErrorList of *Error
// sorted by position. Each *Error has the position of the offending YAML
// node (file:line:column; YAML syntax errors have file:line), a message and
// a fix. PrintError formats them for a terminal, with the source line.
//
// # Invariants and limits
//
//   - Graph.Nodes and Experiment.Nodes are in a deterministic topological
//     order: producers first, ties broken by definition order (a file's
//     included stages, in include order, before its own), and a stage's
//     expansions in matrix order. Graph.Nodes lists the experiments' nodes
//     one experiment after the other.
//   - Node ids are unique within an experiment.
//   - No input makes Load panic or hang, and its work grows about linearly
//     with the files read: files are read only if they are regular files of
//     at most 1 MiB, holding at most 32 MiB of YAML with every alias
//     replaced by what it names; an experiment may have at most 10000 nodes,
//     a stage at most 10000 combinations of its own and inherited axes, an
//     experiment at most 1000000 connections and 16 MiB of node ids, all
//     checked before expanding; it may read at most 2000000 YAML values,
//     counting an alias each time it is used; includes nest at most 32
//     deep; suggestions for misspelt names stop after 200 errors or a fixed
//     amount of comparing, and at most 10000 errors are kept (the last one
//     says how many more there were). FuzzLoad and TestWorkIsLinear
//     exercise this.
package experiment
