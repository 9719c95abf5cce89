#!/usr/bin/env python3
"""PyTorch cross-check of difflab's UNet export (used by torch_test.go; needs python3-torch).

  torch_unet.py SPEC_JSON WEIGHTS.safetensors X.npy T.npy C.npy OUT.npy OUT.onnx

Builds the write-up's UNet for SPEC ({"cond", "hidden", "channels", "classes", "size"}),
loads the weights (safetensors, F32; read with numpy), runs it in eval mode on X (and T, C
where the conditioning uses them), saves the output to OUT.npy and PyTorch's own ONNX
export (opset 17) to OUT.onnx."""
import json, struct, sys
import numpy as np
import torch, torch.nn as nn


def Conv(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, 1, 1), nn.BatchNorm2d(o), nn.GELU())
def DownConv(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, 2, 1), nn.BatchNorm2d(o), nn.GELU())
def UpConv(i, o): return nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.GELU())
def ConvBlock(i, o): return nn.Sequential(Conv(i, o), Conv(o, o))
def DownBlock(i, o): return nn.Sequential(DownConv(i, o), ConvBlock(o, o))
def UpBlock(i, o): return nn.Sequential(UpConv(i, o), ConvBlock(o, o))
def FCBlock(i, o): return nn.Sequential(nn.Linear(i, o), nn.GELU(), nn.Linear(o, o))


class UNet(nn.Module):
    def __init__(s, cond, D, ch, nc, size):
        super().__init__()
        s.cond = cond
        s.c0 = ConvBlock(ch, D); s.d1 = DownBlock(D, D); s.d2 = DownBlock(D, 2 * D)
        s.fl = nn.Sequential(nn.AvgPool2d(size // 4), nn.GELU())
        s.un = nn.Sequential(nn.ConvTranspose2d(2 * D, 2 * D, size // 4, size // 4, 0), nn.BatchNorm2d(2 * D), nn.GELU())
        s.u1 = UpBlock(4 * D, D); s.u2 = UpBlock(2 * D, D); s.c1 = ConvBlock(2 * D, D)
        s.out = nn.Conv2d(D, ch, 3, 1, 1)
        if cond != "none":
            s.fc1_t = FCBlock(1, 2 * D); s.fc2_t = FCBlock(1, D)
        if cond == "time_class":
            s.fc1_c = FCBlock(nc, 2 * D); s.fc2_c = FCBlock(nc, D)

    def forward(s, x, t, c):
        x0 = s.c0(x); x1 = s.d1(x0); x2 = s.d2(x1)
        u = s.un(s.fl(x2))
        if s.cond == "time":
            u = u * s.fc1_t(t)[:, :, None, None]
        elif s.cond == "time_class":
            u = u * s.fc1_c(c)[:, :, None, None] + s.fc1_t(t)[:, :, None, None]
        u = s.u1(torch.cat([x2, u], 1))
        if s.cond == "time":
            u = u * s.fc2_t(t)[:, :, None, None]
        elif s.cond == "time_class":
            u = u * s.fc2_c(c)[:, :, None, None] + s.fc2_t(t)[:, :, None, None]
        u = s.u2(torch.cat([x1, u], 1))
        u = s.c1(torch.cat([x0, u], 1))
        return s.out(u)


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[lo:hi], dtype="<f4").reshape(e["shape"]).copy())
    return out


def main():
    spec, weights, xp, tp, cp, outp, onnxp = sys.argv[1:8]
    s = json.loads(spec)
    torch.manual_seed(0); torch.set_num_threads(1)
    m = UNet(s["cond"], s["hidden"], s["channels"], s.get("classes", 1), s["size"]).eval()
    sd = read_safetensors(weights)
    for k, v in m.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = v
    m.load_state_dict(sd, strict=True)
    x = torch.from_numpy(np.load(xp)); t = torch.from_numpy(np.load(tp)); c = torch.from_numpy(np.load(cp))
    with torch.no_grad():
        np.save(outp, m(x, t, c).numpy())
    names = ["x"] + (["t"] if s["cond"] != "none" else []) + (["c"] if s["cond"] == "time_class" else [])

    class Wrap(nn.Module):
        def __init__(w):
            super().__init__(); w.m = m
        def forward(w, *a):
            d = dict(zip(names, a))
            return w.m(d["x"], d.get("t"), d.get("c"))

    args = tuple({"x": x, "t": t, "c": c}[n] for n in names)
    torch.onnx.export(Wrap().eval(), args, onnxp, input_names=names, output_names=["u"],
                      dynamic_axes={n: {0: "batch"} for n in names + ["u"]}, opset_version=17)


if __name__ == "__main__":
    main()
