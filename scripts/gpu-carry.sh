#!/usr/bin/env bash
# gpu-carry.sh fills the folder that scripts/gpu-check.sh needs on a GPU
# machine without network access, next to a copy of the working tree. It is
# idempotent and prints each step.
#
# Usage: scripts/gpu-carry.sh [DIR]      (default .difflab/gpu-carry, ignored by git)
#
# What DIR receives:
#   difflab.xz                 the difflab binary, built without the openblas
#                              tag (the GPU machine need not have OpenBLAS)
#   libonnxruntime.so.1.xz     the ONNX Runtime library setup installed
#   libvulkan1_*.deb           Debian's Vulkan loader (apt-get download)
#   experiments/flow.yaml      sample.flow with guidance on model/, the check
#   experiments/model/         a class-conditioned flow UNet (D = 64) trained
#                              here for one epoch of 2048 MNIST digits (model.json,
#                              model.onnx)
#   SHA256SUMS                 the digests gpu-check.sh verifies
#
# It needs what `npx --yes rust-just@1.57.0 setup` installs (Go, the ONNX
# Runtime library, MNIST) and apt-get, and takes about a minute the first
# time (the training stage is cached in .difflab/cache afterwards).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac
carry="${1:-.difflab/gpu-carry}"

say() { printf 'gpu-carry: %s\n' "$*"; }
die() {
	printf 'gpu-carry: error: %s\n' "$*" >&2
	exit 1
}

case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH" ;;
esac
command -v go >/dev/null || die "go not found: run npx --yes rust-just@1.57.0 setup"
command -v xz >/dev/null || die "xz not found (Debian: apt-get install xz-utils)"
ort_lib="${DIFFLAB_ORT_LIB:-$root/.difflab/lib/libonnxruntime.so.1}"
[ -f "$ort_lib" ] || die "no ONNX Runtime library at $ort_lib: run npx --yes rust-just@1.57.0 setup"
export DIFFLAB_ORT_LIB="$ort_lib" DIFFLAB_DATA="${DIFFLAB_DATA:-$root/.difflab/data}"
mkdir -p "$carry"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# xz_into SRC DEST: compress SRC to DEST unless DEST already holds it.
xz_into() {
	if [ -f "$2" ] && [ -f "$2.src-sha256" ] && [ "$(cat "$2.src-sha256")" = "$(sha256sum <"$1" | cut -d' ' -f1)" ]; then
		say "$2 is up to date"
		return
	fi
	say "compressing $1 into $2"
	xz -T0 -6 -c "$1" >"$2.tmp"
	mv "$2.tmp" "$2"
	sha256sum <"$1" | cut -d' ' -f1 >"$2.src-sha256"
}

say "building difflab without the openblas tag"
go build -trimpath -o "$tmp/difflab" ./cmd/difflab
xz_into "$tmp/difflab" "$carry/difflab.xz"
xz_into "$ort_lib" "$carry/libonnxruntime.so.1.xz"

if ls "$carry"/libvulkan1_*_amd64.deb >/dev/null 2>&1; then
	say "Vulkan loader package already there: $(basename "$carry"/libvulkan1_*_amd64.deb)"
else
	command -v apt-get >/dev/null || die "apt-get not found: put Debian 12's libvulkan1 .deb into $carry by hand"
	say "apt-get download libvulkan1"
	(cd "$carry" && apt-get download -q libvulkan1:amd64)
fi

# The check's model: one short epoch of the class-conditioned flow UNet,
# trained by difflab itself into the usual cache (on OpenBLAS when it is
# installed, as setup builds difflab).
mkdir -p "$tmp/experiments"
cat >"$tmp/experiments/gpu_check_model.yaml" <<'YAML'
name: model for scripts/gpu-check.sh
stages:
  flow:
    kind: train.flow
    with: {cond: time_class, hidden: 64, epochs: 1, train_count: 2048, batch: 64, lr: 2.0e-3, seed: 0}
YAML
tags=""
if dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q 'install ok installed'; then
	tags=openblas
fi
go build -tags "$tags" -o "$tmp/difflab-train" ./cmd/difflab
say "training the check's model (class-conditioned flow UNet, D = 64, one epoch of 2048 digits; cached after the first time)"
"$tmp/difflab-train" run --results "$tmp/results" "$tmp/experiments/gpu_check_model.yaml"
rm -rf "$carry/experiments"
mkdir -p "$carry/experiments/model"
# Sampling reads model.json and model.onnx; the training weights stay here.
cp "$tmp/results/gpu_check_model/flow/model/epoch_001/"model.{json,onnx} "$carry/experiments/model/"
cat >"$carry/experiments/flow.yaml" <<'YAML'
name: sampling on the GPU and on the CPU (scripts/gpu-check.sh)
stages:
  model:
    kind: model.load
    with: {path: model/model.json}
  samples:
    kind: sample.flow
    in: {model: model}
    with: {per_class: 10, cfg: 5, steps: 50, seed: 0, clip: false}
YAML

(cd "$carry" && sha256sum difflab.xz libonnxruntime.so.1.xz libvulkan1_*_amd64.deb experiments/flow.yaml experiments/model/* >SHA256SUMS)
say "done: $(du -sh "$carry" | cut -f1) in $carry"
ls -l "$carry"
