#!/usr/bin/env python3
"""Writes torch_steps.safetensors: golden training steps of the Part B UNet from the PyTorch
reference (../../../../shared/reference/torch_unet.py), for models/train's TestStepsAgainstPyTorch.

Needs Debian's python3-torch (reference only) and models/unet/testdata/torch_golden.py (its writer).
Run from this directory:

  /usr/bin/python3 torch_steps.py /path/to/torch_unet.py

Two cases, D = 4, batch 4, 28 x 28, each trained for STEPS Adam steps (lr 1e-2) in training mode:
"time/" is the time-conditioned UNet (unflatten * fc1_t(t), up1 * fc2_t(t)) without clipping;
"class/" is the time- and class-conditioned UNet with global-norm clipping at 0.5 and one
unconditional row. Each case holds the initial state_dict under "<case>init.<name>", the inputs of
every step under "<case>step<k>.x", ".t", ".target" (and ".c"), the loss of every step under
"<case>loss", and the state_dict after the last step under "<case>final.<name>"."""
import importlib.util, os, sys
import torch


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = load("torch_unet", sys.argv[1])
golden = load("torch_golden", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../unet/testdata/torch_golden.py"))

STEPS, B, LR = 4, 4, 1e-2


class TimeCondUNet(ref.ClassCondUNet):
    """u(x, t): the reference UNet without class conditioning; t scales unflatten and up1."""
    def __init__(s, D):
        super().__init__(D)
        del s.fc1_c, s.fc2_c

    def forward(s, x, c, t):
        x0 = s.c0(x); x1 = s.d1(x0); x2 = s.d2(x1); f = s.fl(x2)
        u = s.un(f) * s.fc1_t(t)[:, :, None, None]
        u = s.u1(torch.cat([x2, u], 1)) * s.fc2_t(t)[:, :, None, None]
        u = s.u2(torch.cat([x1, u], 1))
        u = s.c1(torch.cat([x0, u], 1))
        return s.out(u)


def state(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}


def case(prefix, m, clip, classes):
    out = {prefix + "init." + k: v for k, v in state(m).items()}
    opt = torch.optim.Adam(m.parameters(), LR)
    m.train()
    losses = []
    for k in range(STEPS):
        x1 = torch.rand(B, 1, 28, 28)
        x0 = torch.randn(B, 1, 28, 28)
        t = torch.rand(B, 1)
        xt = (1 - t[:, :, None, None]) * x0 + t[:, :, None, None] * x1
        target = x1 - x0
        c = torch.zeros(B, 10)
        if classes:
            c[torch.arange(B - 1), torch.randint(0, 10, (B - 1,))] = 1  # the last row stays unconditional
            out[f"{prefix}step{k}.c"] = c
        out.update({f"{prefix}step{k}.x": xt, f"{prefix}step{k}.t": t, f"{prefix}step{k}.target": target})
        loss = ((m(xt, c, t) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    out[prefix + "loss"] = torch.tensor(losses)
    out.update({prefix + "final." + k: v for k, v in state(m).items()})
    return out


torch.manual_seed(0)
tensors = case("time/", TimeCondUNet(4), 0, False)
tensors.update(case("class/", ref.ClassCondUNet(4), 0.5, True))

golden.write_safetensors("torch_steps.safetensors", tensors)
