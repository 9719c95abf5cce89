# difflab's tasks. Run them without installing just:
#
#   npx --yes rust-just@1.57.0 <recipe>
#
# `reproduce` and `test` run `setup` first, so both work from a fresh clone.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Go from the official tarball lives in /usr/local/go/bin; add it when missing.
export PATH := if env_var("PATH") =~ '(^|:)/usr/local/go/bin(:|$)' { env_var("PATH") } else { "/usr/local/go/bin:" + env_var("PATH") }

# Where difflab finds its data sets and the ONNX Runtime library (absolute, so
# that tests running inside package directories find them too).
export DIFFLAB_DATA := env_var_or_default("DIFFLAB_DATA", justfile_directory() / ".difflab/data")
export DIFFLAB_ORT_LIB := env_var_or_default("DIFFLAB_ORT_LIB", justfile_directory() / ".difflab/lib/libonnxruntime.so.1")

bin := justfile_directory() / ".difflab/bin/difflab"

# List the recipes.
default:
    @{{just_executable()}} --justfile {{justfile()}} --list

# Install everything difflab needs (Debian packages, Go modules, ONNX Runtime, data sets) and build the binary; quick when already done.
setup:
    scripts/setup.sh

# Also install the Python reference tools (python3-torch, python3-onnx) used by `bench`.
setup-reference:
    scripts/setup.sh --reference

# Build .difflab/bin/difflab.
build:
    GOBIN={{justfile_directory()}}/.difflab/bin go install -tags openblas ./cmd/difflab

# Run every experiment (quick profile unless told `reproduce full`), then write the report (also after a failed stage); results go to results/.
reproduce profile="quick": setup
    #!/usr/bin/env bash
    set -euo pipefail
    status=0
    echo "+ difflab run --profile {{profile}} experiments"
    {{bin}} run --profile {{profile}} experiments || status=$?
    echo "+ difflab report --profile {{profile}}"
    {{bin}} report --profile {{profile}} || status=$((status ? status : $?))
    exit "$status"

# Run the tests: unit tests, a short fuzz run of the experiment parser, and the model tests again on the OpenBLAS build.
test: setup
    go vet ./...
    unformatted="$(gofmt -l $(find . -name '*.go' -not -path './.difflab/*' -not -path './deps/*'))"; if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
    go test ./...
    # A count, not a duration: Go 1.26's fuzzing coordinator can fail a run whose -fuzztime deadline
    # passes while a worker is busy ("context deadline exceeded", go.dev/issue/75804, fixed in Go 1.27).
    go test ./runner/experiment -run '^$' -fuzz FuzzLoad -fuzztime 20000x -fuzzminimizetime 100x
    # The same model tests on the OpenBLAS build (setup installs libopenblas-dev).
    go test -tags openblas ./models/... ./stages/train/...

# Fill .difflab/gpu-carry/ for scripts/gpu-check.sh, the check of --device gpu on a GPU machine without network access.
gpu-carry: setup
    scripts/gpu-carry.sh

# Run the Go benchmarks, then the PyTorch reference (Part B UNet, D = 64) on the same machine for comparison.
bench: setup-reference
    go test -run '^$' -bench . -benchtime 3x ./...
    # difflab's bench commands next to the PyTorch reference, with their ratios (skipped without the reference script).
    scripts/bench-reference.sh {{bin}}
