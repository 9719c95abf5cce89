#!/usr/bin/env python3
"""Writes torch_golden.safetensors: a golden case for models/unet from the PyTorch reference UNet
(../../../../shared/reference/torch_unet.py, class ClassCondUNet), D = 4, batch 3, 28 x 28.

Needs Debian's python3-torch (reference only). Run from this directory:

  /usr/bin/python3 torch_golden.py /path/to/torch_unet.py

The file holds the module's state_dict (running statistics randomised so that inference mode is
exercised) under its own names, the inputs "input.x", "input.c", "input.t", the inference-mode output
"output.eval", the training-mode output "output.train" and the running statistics after that one
training-mode pass under "after_train.<name>"."""
import importlib.util, json, struct, sys
import torch


def write_safetensors(path, tensors):
    """Writes tensors (a dict of name to torch tensor) as float32 safetensors, sorted by name."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        data = tensors[k].detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    spec = importlib.util.spec_from_file_location("torch_unet", sys.argv[1])
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)

    torch.manual_seed(0)
    m = ref.ClassCondUNet(D=4, nc=10)
    with torch.no_grad():
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    B = 3
    x = torch.randn(B, 1, 28, 28)
    c = torch.zeros(B, 10)
    c[0, 3] = 1
    c[1, 7] = 1  # the last row stays unconditional
    t = torch.tensor([[0.1], [0.5], [0.9]])

    tensors = {k: v.clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors.update({"input.x": x, "input.c": c, "input.t": t})
    m.eval()
    with torch.no_grad():
        tensors["output.eval"] = m(x, c, t)
    m.train()
    with torch.no_grad():
        tensors["output.train"] = m(x, c, t)
    for k, v in m.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            tensors["after_train." + k] = v.clone()
    write_safetensors("torch_golden.safetensors", tensors)


if __name__ == "__main__":
    main()
