#!/usr/bin/env python3
"""Export DeepFloyd IF to difflab model directories (ONNX + prompt embeddings).

For users who have the DeepFloyd IF weights (they are gated: accept the licence
of DeepFloyd/IF-I-XL-v1.0 or IF-I-M-v1.0, and IF-II-L-v1.0 or IF-II-M-v1.0 for
stage II, first, then download them with the Hugging Face tools into local
directories). difflab itself never downloads weights; this script only reads
local files.

Needs: torch, diffusers, transformers, sentencepiece, safetensors (and PyYAML
for --experiments). Not a dependency of difflab.

  python3 export.py --stage 1 --weights /path/to/IF-I-M-v1.0 --out .difflab/models/deepfloyd \
      [--prompts prompts.txt] [--prompt "a photo of a dog" ...] \
      [--experiments ../../experiments/deepfloyd] [--variant fp16]
  python3 export.py --stage 2 --weights /path/to/IF-II-L-v1.0 --text-encoder /path/to/IF-I-M-v1.0 \
      --out .difflab/models/deepfloyd_ii [--experiments ../../experiments/deepfloyd] [--variant fp16]

Writes into --out (one directory per stage):
  model.json                 copied from stage_i.model.json (stage_ii.model.json with --stage 2)
                             next to this script, unless a model.json this script did not
                             write is there (then model.json.new)
  model.onnx (+ .data files) the UNet, float32, opset 17, exported with the classic exporter:
                             stage 1: sample (B,3,64,64) float32, timestep (B) int64,
                             encoder_hidden_states (B,77,4096) float32
                             -> noise_pred (B,6,64,64) = noise estimate, then learned variance
                             stage 2: sample (B,6,256,256) float32 (x_t, then the upscaled,
                             noised stage I image), timestep (B) int64, encoder_hidden_states
                             (B,77,4096) float32, class_labels (B) int64 (the noise level)
                             -> noise_pred (B,6,256,256)
  prompt_embeds.safetensors  one float32 (1,77,4096) T5 embedding per prompt, named by the
                             prompt text; the empty (unconditional) prompt is "<unconditional>"
Prompts come from --prompts (default: prompts.txt next to this script), every --prompt,
and with --experiments every string under a key containing "prompt" (or p1, p2) in the
YAML files of that directory. The empty prompt is always included.
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UNCONDITIONAL = "<unconditional>"


def collect_prompts(args):
    prompts = []
    path = args.prompts or os.path.join(HERE, "prompts.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            prompts += [line.strip() for line in f if line.strip()]
    prompts += args.prompt or []
    if args.experiments:
        import yaml

        def walk(node, key=""):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, str(k))
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif isinstance(node, str) and ("prompt" in key or key in ("p1", "p2")):
                prompts.append(node)

        for root, _, files in os.walk(args.experiments):
            for name in sorted(files):
                if name.endswith((".yaml", ".yml")):
                    with open(os.path.join(root, name), encoding="utf-8") as f:
                        walk(yaml.safe_load(f))
    seen, out = set(), []
    for p in [""] + prompts:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def export_unet(module, inputs, names, out_path, opset):
    import torch

    dynamic = {n: {0: "batch"} for n in names + ["noise_pred"]}
    # The classic (TorchScript) exporter: it keeps the input and output names
    # given here and the dynamic batch axis; newer torch versions default to
    # the dynamo exporter, which renames outputs.
    kwargs = {}
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(module, inputs, out_path, input_names=names, output_names=["noise_pred"],
                          dynamic_axes=dynamic, opset_version=opset, **kwargs)


def write_description(out, stage=1):
    """Copy the stage's description (stage_i.model.json or
    stage_ii.model.json) to out/model.json, unless the model.json there is
    not the one an earlier run of this script wrote (a user's edit): that
    one is kept and the new description goes to model.json.new."""
    import hashlib

    src = os.path.join(HERE, {1: "stage_i.model.json", 2: "stage_ii.model.json"}[stage])
    dst = os.path.join(out, "model.json")
    stamp = os.path.join(out, ".model.json.exported")

    def digest(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    if os.path.exists(dst):
        written = open(stamp, encoding="utf-8").read().strip() if os.path.exists(stamp) else None
        if digest(dst) != written:
            shutil.copyfile(src, dst + ".new")
            print(f"export.py: kept {dst}, which this script did not write; the description it would write is {dst}.new")
            return
    shutil.copyfile(src, dst)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(digest(dst) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", type=int, choices=(1, 2), default=1,
                    help="1: IF stage I (64 x 64); 2: IF stage II, the 64 -> 256 upscaler")
    ap.add_argument("--weights", required=True, help="local directory of the stage's diffusers weights")
    ap.add_argument("--text-encoder", help="local IF directory whose T5 encoder embeds the prompts "
                    "(default: --weights; give a stage I directory when the stage II one has no text encoder)")
    ap.add_argument("--out", required=True, help="model directory to write (one per stage)")
    ap.add_argument("--prompts", help="text file, one prompt per line (default: prompts.txt here)")
    ap.add_argument("--prompt", action="append", help="an extra prompt (repeatable)")
    ap.add_argument("--experiments", help="directory of experiment YAML files to take prompts from")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--skip-unet", action="store_true", help="only (re)compute the prompt embeddings")
    ap.add_argument("--variant", help='weights variant to read, such as "fp16" (exported as float32)')
    a = ap.parse_args()

    import gc

    import torch
    from diffusers import DiffusionPipeline
    from safetensors.torch import save_file

    os.makedirs(a.out, exist_ok=True)
    prompts = collect_prompts(a)
    # First only the T5 encoder (about 19 GB as float32): the UNet is loaded
    # after the encoder is freed, so that both are never in memory at once.
    variant = {"variant": a.variant} if a.variant else {}
    dtype = torch.float16 if a.variant == "fp16" else torch.float32
    encoder = DiffusionPipeline.from_pretrained(a.text_encoder or a.weights, unet=None, torch_dtype=dtype,
                                                local_files_only=True, **variant)

    # Prompt embeddings: the pipeline's own T5 encoding; its negative embedding is that of "".
    tensors = {}
    with torch.no_grad():
        for p in prompts:
            if p == "":
                continue
            emb, neg = encoder.encode_prompt(p, do_classifier_free_guidance=True, device="cpu")
            tensors[p] = emb[:1].float().contiguous()
            tensors.setdefault(UNCONDITIONAL, neg[:1].float().contiguous())
        if UNCONDITIONAL not in tensors:
            emb, _ = encoder.encode_prompt("", do_classifier_free_guidance=False, device="cpu")
            tensors[UNCONDITIONAL] = emb[:1].float().contiguous()
    for name, t in tensors.items():
        if tuple(t.shape) != (1, 77, 4096):
            sys.exit(f"export.py: embedding of {name!r} has shape {tuple(t.shape)}, want (1, 77, 4096)")
    save_file(tensors, os.path.join(a.out, "prompt_embeds.safetensors"), metadata={"model": "T5 v1.1 XXL embeddings for DeepFloyd IF"})
    print(f"export.py: wrote {len(tensors)} prompt embeddings")
    del encoder, tensors
    gc.collect()

    write_description(a.out, a.stage)
    if a.skip_unet:
        return
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(a.weights, subfolder="unet", torch_dtype=dtype, local_files_only=True, **variant)
    unet = unet.float().eval()
    out = os.path.join(a.out, "model.onnx")

    if a.stage == 1:
        class StageI(torch.nn.Module):
            def __init__(self, unet):
                super().__init__()
                self.unet = unet

            def forward(self, sample, timestep, encoder_hidden_states):
                return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]

        inputs = (torch.randn(2, 3, 64, 64), torch.tensor([999, 500], dtype=torch.int64), torch.randn(2, 77, 4096))
        export_unet(StageI(unet), inputs, ["sample", "timestep", "encoder_hidden_states"], out, a.opset)
        print("export.py: wrote model.onnx (stage I)")
        return

    # Stage II: diffusers' IFSuperResolutionPipeline feeds the UNet the noisy
    # 256 x 256 image and the upscaled, noised stage I image concatenated
    # along the channels, and the noise level as class_labels.
    class StageII(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states, class_labels):
            return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                             class_labels=class_labels, return_dict=False)[0]

    inputs = (torch.randn(2, 6, 256, 256), torch.tensor([999, 500], dtype=torch.int64), torch.randn(2, 77, 4096),
              torch.tensor([250, 250], dtype=torch.int64))
    export_unet(StageII(unet), inputs, ["sample", "timestep", "encoder_hidden_states", "class_labels"], out, a.opset)
    print("export.py: wrote model.onnx (stage II)")


if __name__ == "__main__":
    main()
