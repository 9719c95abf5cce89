#!/usr/bin/env python3
"""Export DeepFloyd IF to a difflab model directory (ONNX + prompt embeddings).

For users who have the DeepFloyd IF weights (they are gated: accept the licence
of DeepFloyd/IF-I-XL-v1.0 or IF-I-M-v1.0 first, then download them with the
Hugging Face tools into a local directory). difflab itself never downloads
weights; this script only reads local files.

Needs: torch, diffusers, transformers, sentencepiece, safetensors (and PyYAML
for --experiments). Not a dependency of difflab.

  python3 export.py --stage1 /path/to/IF-I-M-v1.0 --out .difflab/models/deepfloyd \
      [--stage2 /path/to/IF-II-M-v1.0] [--prompts prompts.txt] [--prompt "a photo of a dog" ...] \
      [--experiments ../../experiments/deepfloyd] [--variant fp16]

Writes into --out:
  model.json                 copied from stage_i.model.json next to this script, unless a
                             model.json this script did not write is there (then model.json.new)
  model.onnx (+ .data files) the stage I UNet, float32, opset 17:
                             sample (B,3,64,64) float32, timestep (B) int64,
                             encoder_hidden_states (B,77,4096) float32
                             -> noise_pred (B,6,64,64) = noise estimate, then learned variance
  prompt_embeds.safetensors  one float32 (1,77,4096) T5 embedding per prompt, named by the
                             prompt text; the empty (unconditional) prompt is "<unconditional>"
  stage_ii/model.onnx        (with --stage2) the stage II UNet, see README.md
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


def write_description(out):
    """Copy stage_i.model.json to out/model.json, unless the model.json there
    is not the one an earlier run of this script wrote (a user's edit): that
    one is kept and the new description goes to model.json.new."""
    import hashlib

    src = os.path.join(HERE, "stage_i.model.json")
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
    ap.add_argument("--stage1", required=True, help="local directory of the IF stage I diffusers weights")
    ap.add_argument("--stage2", help="local directory of the IF stage II diffusers weights (optional)")
    ap.add_argument("--out", required=True, help="model directory to write")
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
    stage1 = DiffusionPipeline.from_pretrained(a.stage1, unet=None, torch_dtype=dtype, local_files_only=True, **variant)

    # Prompt embeddings: the pipeline's own T5 encoding; its negative embedding is that of "".
    tensors = {}
    with torch.no_grad():
        for p in prompts:
            if p == "":
                continue
            emb, neg = stage1.encode_prompt(p, do_classifier_free_guidance=True, device="cpu")
            tensors[p] = emb[:1].float().contiguous()
            tensors.setdefault(UNCONDITIONAL, neg[:1].float().contiguous())
        if UNCONDITIONAL not in tensors:
            emb, _ = stage1.encode_prompt("", do_classifier_free_guidance=False, device="cpu")
            tensors[UNCONDITIONAL] = emb[:1].float().contiguous()
    for name, t in tensors.items():
        if tuple(t.shape) != (1, 77, 4096):
            sys.exit(f"export.py: embedding of {name!r} has shape {tuple(t.shape)}, want (1, 77, 4096)")
    save_file(tensors, os.path.join(a.out, "prompt_embeds.safetensors"), metadata={"model": "T5 v1.1 XXL embeddings for DeepFloyd IF"})
    print(f"export.py: wrote {len(tensors)} prompt embeddings")
    del stage1, tensors
    gc.collect()

    write_description(a.out)
    if a.skip_unet:
        return
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(a.stage1, subfolder="unet", torch_dtype=dtype, local_files_only=True, **variant)

    class StageI(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states):
            return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]

    unet = unet.float().eval()
    inputs = (torch.randn(2, 3, 64, 64), torch.tensor([999, 500], dtype=torch.int64), torch.randn(2, 77, 4096))
    export_unet(StageI(unet), inputs, ["sample", "timestep", "encoder_hidden_states"], os.path.join(a.out, "model.onnx"), a.opset)
    print("export.py: wrote model.onnx (stage I)")

    if a.stage2:
        del unet
        gc.collect()
        stage2 = DiffusionPipeline.from_pretrained(a.stage2, text_encoder=None, torch_dtype=dtype, local_files_only=True, **variant)

        class StageII(torch.nn.Module):
            def __init__(self, unet):
                super().__init__()
                self.unet = unet

            def forward(self, sample, timestep, encoder_hidden_states, class_labels):
                return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                                 class_labels=class_labels, return_dict=False)[0]

        os.makedirs(os.path.join(a.out, "stage_ii"), exist_ok=True)
        inputs = (torch.randn(1, 6, 256, 256), torch.tensor([999], dtype=torch.int64), torch.randn(1, 77, 4096),
                  torch.tensor([250], dtype=torch.int64))
        export_unet(StageII(stage2.unet.float().eval()), inputs,
                    ["sample", "timestep", "encoder_hidden_states", "class_labels"],
                    os.path.join(a.out, "stage_ii", "model.onnx"), a.opset)
        with open(os.path.join(a.out, "stage_ii", "inputs.json"), "w", encoding="utf-8") as f:
            json.dump({"sample": "(B,6,256,256) float32: x_t (3 channels) then the noised, upscaled stage I image",
                       "timestep": "(B) int64 in 0..999", "encoder_hidden_states": "(B,77,4096) float32",
                       "class_labels": "(B) int64: the noise level of the upscaled image (250 in diffusers)",
                       "noise_pred": "(B,6,256,256): noise estimate, then learned variance"}, f, indent=2)
        print("export.py: wrote stage_ii/model.onnx (stage II)")


if __name__ == "__main__":
    main()
