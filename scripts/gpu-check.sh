#!/usr/bin/env bash
# gpu-check.sh checks `--device gpu` on a GPU machine without network access
# and measures it: ONNX Runtime's WebGPU execution provider (Dawn on Vulkan)
# against its CPU provider. It needs the folder scripts/gpu-carry.sh fills
# (difflab, the ONNX Runtime library, Debian's Vulkan loader, a small trained
# model) and takes a few minutes. It changes nothing in the working tree; it
# installs the Vulkan loader into / when the machine has none.
#
# Usage: scripts/gpu-check.sh [CARRY]    (default .difflab/gpu-carry)
#
# Environment:
#   VK_DRIVER_FILES   the Vulkan driver's ICD manifest; when unset, the
#                     NVIDIA driver's (DIFFLAB_VK_ICD) if it exists, made to
#                     name libEGL_nvidia.so.0 where that library is (GLX
#                     fails without a display), else the loader's standard
#                     places (where lavapipe is found)
#   DIFFLAB_VK_ICD    default /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
#   GPU_BATCHES       bench sample batches on the GPU (default "80 1024")
#   CPU_BATCH         bench sample batch on the CPU (default 80)
#   TRAIN_BATCH       bench train batches on the GPU (default "256 1024"; 0
#                     skips training); the first is also profiled, and D = 16
#                     at batch 64 (the quick profile's Part B) always runs
#   BENCH_STEPS       timed steps of each bench (default 5)
#   SAMPLE_SET        --set overrides of the sampling check (default none:
#                     100 samples, 50 guided steps), such as
#                     "samples.per_class=1 samples.steps=10" on lavapipe;
#                     fewer, longer steps differ more (one step with CFG 5:
#                     4e-5 on lavapipe)
#   OUT               a folder that receives the log, the bench results
#                     (bench.jsonl), the runs' summaries and the training
#                     step's ONNX Runtime trace (train-profile.json.xz)
#
# Steps: verify and unpack the carried files; install the Vulkan loader
# (dpkg -x, ldconfig) if missing; pick the ICD; difflab bench sample on the
# GPU at each of GPU_BATCHES and on the CPU at CPU_BATCH (all cores); difflab
# bench train through ONNX Runtime on the GPU at each TRAIN_BATCH and at the
# quick profile's size, and once more with --ort-profile, summarised (time per step inside and outside the
# graph's execution, GPU kernel time by operator); sample
# the carried model with guidance on both devices into one cache and compare
# the samples (they must agree within 1e-5, relative to values above 1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
cd "$root"
case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac
carry="$(cd "${1:-.difflab/gpu-carry}" 2>/dev/null && pwd)" || {
	echo "gpu-check: error: no carry folder ${1:-.difflab/gpu-carry}: run scripts/gpu-carry.sh where the project is set up, and carry the folder along" >&2
	exit 1
}
gpu_batches="${GPU_BATCHES:-80 1024}"
cpu_batch="${CPU_BATCH:-80}"
train_batches="${TRAIN_BATCH:-256 1024}"
bench_steps="${BENCH_STEPS:-5}"
out="${OUT:-}"
start=$SECONDS

if [ -n "$out" ] && [ -z "${GPU_CHECK_LOG:-}" ]; then
	mkdir -p "$out"
	rm -f "$out/bench.jsonl" "$out/train-profile.json.xz"
	GPU_CHECK_LOG="$out/gpu-check.log" "$0" "$@" 2>&1 | tee "$out/gpu-check.log"
	exit "${PIPESTATUS[0]}"
fi
say() { printf 'gpu-check [%3ds]: %s\n' "$((SECONDS - start))" "$*"; }
die() {
	printf 'gpu-check: error: %s\n' "$*" >&2
	exit 1
}

# --- the carried files ----------------------------------------------------
say "verifying $carry"
(cd "$carry" && sha256sum --quiet -c SHA256SUMS) || die "the carried files do not match their SHA256SUMS: run scripts/gpu-carry.sh again"
unxz_to() { # unxz_to SRC DEST, with python3's lzma where xz is missing
	if command -v xz >/dev/null; then
		xz -dc "$1" >"$2"
	else
		python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
	fi
}
xz_to() { # xz_to SRC DEST, with python3's lzma where xz is missing
	if command -v xz >/dev/null; then
		xz -c "$1" >"$2"
	else
		python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(open(sys.argv[1], "rb"), lzma.open(sys.argv[2], "wb"))' "$1" "$2"
	fi
}
work="$(mktemp -d /tmp/difflab-gpu-check.XXXXXX)"
mkdir -p "$work/bin" "$work/lib"
unxz_to "$carry/difflab.xz" "$work/bin/difflab"
chmod +x "$work/bin/difflab"
unxz_to "$carry/libonnxruntime.so.1.xz" "$work/lib/libonnxruntime.so.1"
export DIFFLAB_ORT_LIB="$work/lib/libonnxruntime.so.1"
difflab="$work/bin/difflab"
say "unpacked difflab and ONNX Runtime into $work"

# --- the Vulkan loader and driver -----------------------------------------
if ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
	say "Vulkan loader present: $(ldconfig -p | grep 'libvulkan\.so\.1 ' | head -n 1 | sed 's/^[[:space:]]*//')"
else
	deb="$(ls "$carry"/libvulkan1_*_amd64.deb | head -n 1)"
	say "no Vulkan loader: dpkg -x $(basename "$deb") /, then ldconfig"
	dpkg -x "$deb" /
	ldconfig
fi
if [ -n "${VK_DRIVER_FILES:-}" ]; then
	say "VK_DRIVER_FILES is set: $VK_DRIVER_FILES"
else
	icd="${DIFFLAB_VK_ICD:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
	if [ -f "$icd" ] && [ -z "${DIFFLAB_VK_ICD:-}" ] && grep -q libGLX_nvidia "$icd" && ldconfig -p | grep -q libEGL_nvidia.so.0; then
		# Without a display, NVIDIA's GLX library does not hand out
		# vkCreateInstance; its EGL library does.
		sed 's/libGLX_nvidia\.so\.0/libEGL_nvidia.so.0/' "$icd" >"$work/nvidia_egl_icd.json"
		export VK_DRIVER_FILES="$work/nvidia_egl_icd.json"
		say "VK_DRIVER_FILES=$VK_DRIVER_FILES ($icd with libEGL_nvidia.so.0 for libGLX_nvidia.so.0: no display here)"
	elif [ -f "$icd" ]; then
		export VK_DRIVER_FILES="$icd"
		say "VK_DRIVER_FILES=$icd"
	else
		say "no ICD manifest at $icd; the Vulkan loader searches its standard places. ICD folders here:"
		for d in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/local/nvidia/etc/vulkan/icd.d; do
			[ -d "$d" ] && echo "$d:" && ls -l "$d"
		done
		true
	fi
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu-check: GPU: /'
say "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# --- bench sample and train ---------------------------------------------------
status=0
bench() { # bench MODE NAME ARGS...: run difflab bench MODE, keep its JSON line
	local mode="$1" name="$2"
	shift 2
	say "difflab bench $mode $* --steps $bench_steps"
	local line
	if line="$(timeout 300 "$difflab" bench "$mode" "$@" --steps "$bench_steps" --json)"; then
		echo "$line"
		[ -n "$out" ] && echo "$line" >>"$out/bench.jsonl"
		python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print("gpu-check:   %s %s, batch %d, D = %d: %.1f images/s, %.4f s/step, peak RSS %.0f MB" % (r["mode"], r.get("device", r.get("engine")), r["batch"], r["hidden"], r["images_per_second"], r["seconds_per_step"], r["peak_rss_mb"]))' "$line" || true
	else
		say "FAILED: difflab bench $mode $*"
		status=1
	fi
}
for b in $gpu_batches; do
	bench sample "gpu-$b" --device gpu --batch "$b"
done
bench sample "cpu-$cpu_batch" --device cpu --batch "$cpu_batch" --threads "$(nproc)"
if [ "$train_batches" != 0 ]; then
	for b in $train_batches; do
		bench train "train-gpu-$b" --engine onnxruntime --device gpu --batch "$b"
	done
	# The quick profile's Part B trainings (README: small models and the GPU).
	bench train "train-gpu-quick" --engine onnxruntime --device gpu --batch 64 --hidden 16
	b="${train_batches%% *}"
	say "difflab bench train --engine onnxruntime --device gpu --batch $b --steps 2 --ort-profile (summary)"
	mkdir -p "$work/profile"
	if timeout 300 "$difflab" bench train --engine onnxruntime --device gpu --batch "$b" --steps 2 --ort-profile "$work/profile/step" >/dev/null &&
		trace="$(ls "$work"/profile/step_*.json 2>/dev/null | head -n 1)" && [ -n "$trace" ]; then
		python3 - "$trace" <<'PY' || true
import collections, json, sys
events = json.load(open(sys.argv[1]))
runs = [e["dur"] for e in events if e.get("name") == "model_run"][1:]  # after the warm-up step
inside = [e["dur"] for e in events if e.get("name") == "SequentialExecutor::Execute"][1:]
kernels = [e for e in events if e.get("cat") == "Api"]  # the WebGPU provider's GPU timestamps
n = len(runs) + 1
print("gpu-check:   profiled step: %.0f ms, of which %.0f ms issuing the graph's operators (the rest: copies and waiting for the GPU)"
      % (sum(runs) / len(runs) / 1e3, sum(inside) / len(inside) / 1e3))
by_op, count = collections.Counter(), collections.Counter()
for e in kernels:
    op = e["name"].split("&")[-1]
    by_op[op] += e["dur"]
    count[op] += 1
total = sum(by_op.values())
print("gpu-check:   GPU kernel time %.0f ms per step in %d kernels (averaged over all %d steps); by kernel:" % (total / n / 1e3, len(kernels) / n, n))
for op, d in by_op.most_common(8):
    print("gpu-check:     %-18s %7.1f ms %6d kernels" % (op, d / n / 1e3, count[op] / n))
PY
		if [ -n "$out" ]; then
			xz_to "$trace" "$out/train-profile.json.xz" || say "could not compress the trace $trace"
		fi
	else
		say "FAILED: the profiled bench train (or it wrote no trace)"
		status=1
	fi
fi

# --- sampling on both devices ------------------------------------------------
sets=()
for s in ${SAMPLE_SET:-}; do
	sets+=(--set "$s")
done
export DIFFLAB_ORT_THREADS="$(nproc)"
for dev in cpu gpu; do
	say "difflab run --device $dev: sample.flow of the carried model ${SAMPLE_SET:-(100 samples, 50 guided steps)}"
	if ! timeout 300 "$difflab" run --device "$dev" --json --cache "$work/cache" --results "$work/results-$dev" "${sets[@]}" "$carry/experiments/flow.yaml" >"$work/run-$dev.json"; then
		say "FAILED: difflab run --device $dev"
		cat "$work/run-$dev.json"
		status=1
	fi
	[ -n "$out" ] && cp "$work/run-$dev.json" "$out/"
done
if [ -f "$work/results-cpu/flow/samples/samples.npy" ] && [ -f "$work/results-gpu/flow/samples/samples.npy" ]; then
	python3 - "$work" <<'PY' || status=1
import array, glob, json, sys
work = sys.argv[1]

def npy(path):
    with open(path, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[8:10], "little")
    header = b[10:10 + n].decode()
    assert "'<f4'" in header, header
    a = array.array("f")
    a.frombytes(b[10 + n:])
    return a

def seconds(dev):
    with open(f"{work}/run-{dev}.json") as f:
        s = json.load(f)
    return {st["id"]: st["seconds"] for st in s["stages"]}["samples"]

for m in sorted(glob.glob(f"{work}/cache/entries/*/*/manifest.json")):
    with open(m) as f:
        d = json.load(f).get("devices", {}).get("onnxruntime")
    if d:
        print(f"gpu-check: a manifest records onnxruntime on {d}")

cpu, gpu = (npy(f"{work}/results-{d}/flow/samples/samples.npy") for d in ("cpu", "gpu"))
worst = max(abs(x - y) for x, y in zip(cpu, gpu))
scale = max(abs(x) for x in cpu)
print(f"gpu-check: sample.flow: {len(cpu)} values in [-{scale:.2f}, {scale:.2f}], GPU and CPU differ by up to {worst:.2g}")
print(f"gpu-check: sample.flow stage: CPU {seconds('cpu'):.2f} s, GPU {seconds('gpu'):.2f} s")
# 1e-5, relative to values larger than 1.
if not worst <= 1e-5 * max(1.0, scale):
    print("gpu-check: FAILED: the samples differ by more than 1e-5 (relative above 1)")
    sys.exit(1)
PY
else
	say "FAILED: a run wrote no samples"
	status=1
fi

if [ "$status" = 0 ]; then
	say "passed"
else
	say "FAILED (see above)"
fi
rm -rf "$work"
exit "$status"
