#!/usr/bin/env bash
# bench-reference.sh runs difflab's bench commands and the PyTorch reference
# (../shared/reference/torch_unet.py) one after the other on this machine and
# prints, for sampling and for training, both throughputs and their ratio.
# Without the reference script it runs difflab's bench commands alone.
# Where PyTorch sees CUDA, both sides also run on the GPU: difflab with
# --device gpu (training with the onnxruntime engine), PyTorch with
# --device cuda.
#
# Usage: scripts/bench-reference.sh DIFFLAB_BINARY
# Environment: HIDDEN (default 64), SAMPLE_BATCH (80), TRAIN_BATCH (256),
# REFERENCE (the reference script's path), DEVICES (default "cpu", plus
# "gpu" where PyTorch sees CUDA).
set -euo pipefail
bin=${1:?usage: scripts/bench-reference.sh DIFFLAB_BINARY}
ref=${REFERENCE:-../shared/reference/torch_unet.py}
hidden=${HIDDEN:-64}
have_ref=true
if [ ! -f "$ref" ]; then
    echo "bench: $ref not found, PyTorch reference skipped"
    have_ref=false
fi
devices=${DEVICES:-cpu}
if [ -z "${DEVICES:-}" ] && $have_ref && /usr/bin/python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    devices="cpu gpu"
fi
for device in $devices; do
for mode in sample train; do
    if [ "$mode" = sample ]; then batch=${SAMPLE_BATCH:-80} torch_mode=infer; else batch=${TRAIN_BATCH:-256} torch_mode=train; fi
    torch_device=cpu
    [ "$device" = gpu ] && torch_device=cuda
    ours=$("$bin" bench "$mode" --batch "$batch" --hidden "$hidden" --device "$device" --json)
    echo "difflab $ours"
    $have_ref || continue
    theirs=$(/usr/bin/python3 "$ref" "$torch_mode" --batch "$batch" --hidden "$hidden" --device "$torch_device")
    echo "pytorch $theirs"
    /usr/bin/python3 -c '
import json, sys
mode, ours, theirs, device = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
a, b = ours["images_per_second"], theirs["images_per_second"]
print(f"{mode} on {device}: difflab {a:.1f} img/s, PyTorch {b:.1f} img/s, difflab/PyTorch {a / b:.2f}x")
' "$mode" "$ours" "$theirs" "$device"
done
done
