"""A baseline lens (one translator per layer) as the tuned-lens library's folder:
params.pt and config.json, as `TunedLens.load(folder)` / `TunedLens.from_model_and_pretrained`
read them.

    python scripts/export_tuned_lens.py runs/baseline/lens.safetensors --model-dir MODEL --out tuned-lens/

- params.pt is the state dict of tuned-lens's `layer_translators`, an nn.ModuleList of
  nn.Linear(d, d): keys `{i}.weight` [d, d] and `{i}.bias` [d] for i in 0 … L-1, L the
  model's num_hidden_layers.
- tuned-lens's translator i reads Hugging Face's hidden_states[i]: i = 0 is the embedding
  output, i = l + 1 the output of layer l. This project's layer l (hidden_states[l + 1], as
  scripts/dump_hidden_states.py writes it) so becomes translator l + 1; translator 0 and those
  of layers without data stay zero (the identity, as tuned-lens initialises them). The last
  layer's output has no translator in tuned-lens (the model's own head reads it): a lens that
  trained one is refused.
- config.json holds TunedLensConfig's fields: base_model_name_or_path, d_model,
  num_hidden_layers, bias, base_model_revision, unembed_hash, lens_type.

Needs only PyTorch. Exits 1 with one line on bad input.
"""
import argparse
import json
import os
import re
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32}


class BadInput(Exception):
    pass


def read_safetensors(path):
    """name -> tensor: floats as float32, integers as they are."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            data = f.read()
    except (OSError, ValueError, struct.error) as e:
        raise BadInput(f"{path}: cannot read a safetensors file ({e})")
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] not in DTYPES:
            raise BadInput(f"{path}: tensor '{name}' is {t['dtype']}; a float or I32/I64 tensor expected")
        begin, end = t["data_offsets"]
        raw = bytearray(data[begin:end])
        x = torch.frombuffer(raw, dtype=DTYPES[t["dtype"]]).reshape(t["shape"]) if raw else torch.zeros(t["shape"], dtype=DTYPES[t["dtype"]])
        out[name] = x.float() if x.is_floating_point() else x
    return out


def export(lens_path, out_dir, num_layers, model_name, revision=None):
    tensors = read_safetensors(lens_path)
    layers = {}
    for name, t in tensors.items():
        m = re.fullmatch(r"translators\.(\d+)(\.\d+)?\.(weight|bias)", name)
        if not m:
            if name.startswith("unembed."):
                raise BadInput(f"{lens_path}: a position-specific unembedding ('{name}'); tuned-lens has none")
            continue
        if m.group(2):
            raise BadInput(f"{lens_path}: a position-specific translator ('{name}'); tuned-lens has one translator "
                           "per layer: export a baseline lens (--preset baseline)")
        layers.setdefault(int(m.group(1)), {})[m.group(3)] = t
    if not layers:
        raise BadInput(f"{lens_path}: no translators (translators.{{layer}}.weight / .bias)")
    d = next(iter(layers.values()))["weight"].shape[0]
    last = max(layers)
    if last + 1 >= num_layers:
        raise BadInput(f"{lens_path}: a translator for layer {last}, but in a model of {num_layers} layers tuned-lens "
                       f"has translators for the outputs of layers 0 … {num_layers - 2} only (the last one's goes to the head)")
    state = {}
    for i in range(num_layers):
        t = layers.get(i - 1, {})
        state[f"{i}.weight"] = t.get("weight", torch.zeros(d, d)).contiguous()
        state[f"{i}.bias"] = t.get("bias", torch.zeros(d)).contiguous()
        if state[f"{i}.weight"].shape != (d, d) or state[f"{i}.bias"].shape != (d,):
            raise BadInput(f"{lens_path}: translator of layer {i - 1} is not [{d}, {d}] + [{d}]")
    os.makedirs(out_dir, exist_ok=True)
    torch.save(state, os.path.join(out_dir, "params.pt"))
    config = {"base_model_name_or_path": model_name, "d_model": d, "num_hidden_layers": num_layers, "bias": True,
              "base_model_revision": revision, "unembed_hash": None, "lens_type": "linear_tuned_lens"}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return sorted(layers), d


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("lens", help="lens.safetensors of a baseline lens")
    p.add_argument("--out", required=True, help="folder to write params.pt and config.json into")
    p.add_argument("--model-dir", help="the model's Hugging Face folder (its config.json gives num_hidden_layers and the name)")
    p.add_argument("--num-layers", type=int, help="the model's num_hidden_layers (instead of --model-dir)")
    p.add_argument("--model-name", help="base_model_name_or_path (default: the model folder's _name_or_path, or its path)")
    p.add_argument("--revision", help="base_model_revision")
    a = p.parse_args()
    try:
        name = a.model_name
        num_layers = a.num_layers
        if a.model_dir:
            try:
                with open(os.path.join(a.model_dir, "config.json")) as f:
                    cfg = json.load(f)
            except (OSError, ValueError) as e:
                raise BadInput(f"--model-dir {a.model_dir}: no readable config.json ({e})")
            num_layers = num_layers or cfg.get("num_hidden_layers")
            name = name or cfg.get("_name_or_path") or os.path.abspath(a.model_dir)
        if not num_layers:
            raise BadInput("give --model-dir (its config.json has num_hidden_layers) or --num-layers")
        layers, d = export(a.lens, a.out, num_layers, name or "unknown", a.revision)
        print(f"wrote {os.path.join(a.out, 'params.pt')} and config.json: {num_layers} translators of width {d}, "
              f"trained ones for layers {layers[0]} … {layers[-1]} at indices {layers[0] + 1} … {layers[-1] + 1}")
    except BadInput as e:
        print(f"export_tuned_lens: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"export_tuned_lens: {e.filename or a.out}: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
