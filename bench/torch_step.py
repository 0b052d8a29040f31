"""The training step that bench/kernels.ts times, done by PyTorch fp32 eager on the same machine.

bench/kernels.ts runs this script after its own figures (so the two never share the hardware)
with the same shapes and seeds, and prints ours / PyTorch. The step is the one the seed's
PyTorch trainer takes (fixtures/train_reference.py, whose contract code this imports): one
nn.Linear per translator group, RMSNorm, logits against the frozen head, cross-entropy,
zero_grad(set_to_none=True), backward, clip_grad_norm_ over the groups present, AdamW. The
batch's group indices are put on the device before timing, as our step gets its batch layout
from the host. CUDA when present, else the CPU; there (or with --gemm) it also times the step's
GEMMs with numpy, which is OpenBLAS on Debian, at our kernels' shapes.

Usage: python3 bench/torch_step.py '{"d": 2048, "V": 32000, "B": 32, "layers": 16,
        "positions": 6, "critical": [6, 9, 14, 15], "presets": ["lite"], "repeat": 5}'
Prints one JSON object on the last line of stdout.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from counter_rng import uniform_f32, uniform_int  # noqa: E402
from train_reference import group_table, rmsnorm  # noqa: E402

EPS = 1e-5


def batch_groups(table, cfg):
    """Each sample's (layer, position) from the same counter as bench/kernels.ts (seed 7)."""
    P = cfg["positions"]
    cells = uniform_int(7, cfg["B"], cfg["layers"] * P)
    return np.array([table[(int(c) // P, int(c) % P)] for c in cells])


def median_spread(times):
    times = sorted(times)
    return {"medianMs": times[len(times) // 2] * 1e3, "spreadMs": [times[0] * 1e3, times[-1] * 1e3]}


def timed(fn, repeat, sync):
    fn()
    sync()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return median_spread(out)


def step_bench(name, cfg, dev, sync):
    """A step named as bench/kernels.ts names it: a preset, or 'lite · targets ×4' (soft
    targets), 'lite · KL' (KL to the model's prediction), 'lite · position bias' (c_p),
    'lite · position full' (dU_p and c_p)."""
    preset, _, variant = name.partition(" · ")
    d, V, B, P = cfg["d"], cfg["V"], cfg["B"], cfg["positions"]
    table, groups = group_table(preset, range(cfg["layers"]), range(cfg["positions"]), cfg["critical"])
    lins = torch.nn.ModuleList([torch.nn.utils.skip_init(torch.nn.Linear, d, d, device=dev) for _ in groups])
    with torch.no_grad():
        for p in lins.parameters():
            p.zero_()
    position = variant.startswith("position")
    cs = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(V, device=dev)) for _ in range(P)] if position else [])
    deltas = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(V, d, device=dev)) for _ in range(P)] if variant == "position full" else [])
    opt = torch.optim.AdamW(list(lins.parameters()) + list(cs.parameters()) + list(deltas.parameters()),
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-3)
    U = torch.from_numpy(uniform_f32(6, V * d, 0.02).reshape(V, d)).to(dev)
    gamma = torch.from_numpy(uniform_f32(3, d, 1.0)).to(dev)
    x = torch.from_numpy(uniform_f32(9, B * d, 1.0).reshape(B, d)).to(dev)
    target = torch.from_numpy(uniform_int(8, B, V).astype(np.int64)).to(dev)
    K = cfg.get("K", 4)
    soft = torch.zeros(B, V, device=dev)
    if variant == "targets ×4":
        soft.scatter_add_(1, torch.from_numpy(uniform_int(8, B * K, V).reshape(B, K).astype(np.int64)).to(dev), torch.full((B, K), 1 / K, device=dev))
    final = torch.from_numpy(uniform_f32(14, B * d, 1.0).reshape(B, d)).to(dev)
    pos = torch.from_numpy((uniform_int(7, B, cfg["layers"] * P) % P).astype(np.int64)).to(dev)
    g = batch_groups(table, cfg)
    present = sorted(set(g.tolist()))
    rows = [(k, torch.from_numpy(np.nonzero(g == k)[0]).to(dev)) for k in present]

    pos_rows = [(q, (pos == q).nonzero().squeeze(1)) for q in sorted(set(pos.tolist()))]

    def step():
        y = torch.empty_like(x)
        for k, sel in rows:
            y[sel] = x[sel] + lins[k](x[sel])
        z = rmsnorm(y, gamma, EPS)
        logits = z @ U.T
        if position:
            extra = torch.zeros_like(logits)
            for q, sel in pos_rows:
                term = cs[q].expand(len(sel), V)
                if deltas:
                    term = term + z[sel] @ deltas[q].T
                extra = extra.index_add(0, sel, term)
            logits = logits + extra
        if variant == "KL":
            with torch.no_grad():
                teacher = torch.log_softmax(rmsnorm(final, gamma, EPS) @ U.T, 1)
            loss = (teacher.exp() * (teacher - torch.log_softmax(logits, 1))).sum(1).mean()
        elif variant == "targets ×4":
            loss = -(soft * torch.log_softmax(logits, 1)).sum(1).mean()
        else:
            loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in opt.param_groups[0]["params"] if p.grad is not None], 1.0)
        opt.step()

    r = timed(step, cfg["repeat"], sync)
    del lins, opt, cs, deltas
    return {"preset": name, "groups": len(groups), "presentGroups": len(present), **r}


def gemm_bench(cfg):
    """numpy (OpenBLAS) at the shapes of our GEMM kernels, lite groups."""
    d, V, B, repeat = cfg["d"], cfg["V"], cfg["B"], cfg["repeat"]
    table, groups = group_table("lite", range(cfg["layers"]), range(cfg["positions"]), cfg["critical"])
    g = batch_groups(table, cfg)
    sel = [np.nonzero(g == k)[0] for k in sorted(set(g.tolist()))]
    W = [uniform_f32(100 + i, d * d, 0.01).reshape(d, d) for i in range(len(sel))]
    bias = uniform_f32(99, d, 0.01)
    x = uniform_f32(1, B * d).reshape(B, d)
    dy = uniform_f32(2, B * d, 1e-3).reshape(B, d)
    U = uniform_f32(6, V * d, 0.02).reshape(V, d)
    dlogits = uniform_f32(5, B * V, 1e-4).reshape(B, V)
    nothing = lambda: None  # noqa: E731
    cases = [
        ("translator forward", lambda: [x[s] + (x[s] @ w.T + bias) for s, w in zip(sel, W)], 2 * B * d * d),
        ("translator backward", lambda: [dy[s].T @ x[s] for s, w in zip(sel, W)], 2 * B * d * d),
        ("unembed logits", lambda: x @ U.T, 2 * B * V * d),
        ("unembed backward", lambda: dlogits @ U, 2 * B * V * d),
    ]
    out = []
    for name, fn, flops in cases:
        r = timed(fn, repeat, nothing)
        out.append({"name": name, **r, "gflops": flops / (r["medianMs"] / 1e3) / 1e9})
    return out


def main():
    cfg = json.loads(sys.argv[1])
    cuda = torch.cuda.is_available() and not cfg.get("cpu")
    dev = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # Every core this process may run on, as our device gets them (torch may pick fewer).
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    name = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name} (BLAS: {blas()})", file=sys.stderr)
    steps = []
    for preset in cfg["presets"]:
        print(f"  PyTorch {preset} step…", file=sys.stderr)
        steps.append(step_bench(preset, cfg, dev, sync))
    gemm = gemm_bench(cfg) if not cuda or cfg.get("gemm") else []
    print(json.dumps({"torch": torch.__version__, "numpy": np.__version__, "device": name,
                      "threads": torch.get_num_threads(), "blas": blas(), "cpu": cpu_model(),
                      "cuda": cuda, "steps": steps, "gemm": gemm}))


def blas():
    """The BLAS torch was built with, as its build configuration names it."""
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO=" in line:
            return line.split("BLAS_INFO=")[1].split(",")[0].strip()
    return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
