"""Hidden states of a causal language model, written as lensgpu's data files.

    python scripts/dump_hidden_states.py --model MODEL_DIR --prompts problems.jsonl --out data/
    npm run train -- --train data/train.safetensors --test data/test.safetensors --model-dir data/

The model runs once over each problem's tokens (teacher-forced), with output_hidden_states.
Hugging Face's hidden_states[0] is the embedding output and hidden_states[l + 1] the output
of layer l: data layer l is hidden_states[l + 1]. Its last entry is the model's final
hidden state, for LLaMA-style models already through the final norm (train the KL loss with
--final-normed then).

problems.jsonl, one problem a line:
    {"id": 7, "prompt": "Q: …", "cot": "… the chain of thought …", "offsets": [41, 42, 43]}
- `id` (optional, default the line number): the problem id (`example`); train and test are
  split by it (--test-fraction, a fixed hash of the id, so a problem never lands in both).
- `prompt`: the text the positions are read from. `cot` (optional): chain-of-thought text.
  It is fed after the prompt (so the last prompt token's next token is the cot's first), and
  written as `cot` / `cot_example` for `--assign`.
- positions: the last --last N prompt tokens (position 0 the earliest), or, per problem,
  `offsets`: token indices into prompt + cot (what continuous-thought models such as CODI
  need: the latent thoughts' slots).
- `target`: the token after each position. A position without a next token is left out.

Writes OUT/train.safetensors and OUT/test.safetensors (hidden and final_hidden in --dtype,
layer, position, target, example, and cot / cot_example where given), and makes OUT a small
model folder that --model-dir reads: the model's config.json and tokenizer.json, and a
model.safetensors with only the final norm and the unembedding.

--model takes a Hugging Face folder or hub name (needs transformers), or FILE.py:FUNCTION, a
Python function returning (model, tokenizer) for models outside transformers: the model is
called as model(input_ids=[[…]], output_hidden_states=True) and returns .hidden_states;
model.config has num_hidden_layers (and optionally tie_word_embeddings, rms_norm_eps);
model.model.norm.weight and model.lm_head.weight are the head; tokenizer.encode(text) gives
ids. Writes safetensors with the safetensors package where installed, else by hand.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import traceback

import torch

DTYPE_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}


class BadInput(Exception):
    pass


def save_safetensors(path, tensors, metadata=None):
    """name -> tensor; the safetensors package's save_file where installed, else written by hand."""
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata=metadata)
        return
    except ImportError:
        pass
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, t in tensors.items():
        raw = (t.view(torch.int16) if t.dtype in (torch.bfloat16, torch.float16) else t).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(tmp, path)


def load_factory(spec):
    """(model, tokenizer) from FILE.py:FUNCTION; every mistake in the file or the function one line."""
    path, fn = spec.rsplit(":", 1)
    module_spec = importlib.util.spec_from_file_location("lens_model_factory", path)
    if module_spec is None or not os.path.isfile(path):
        raise BadInput(f"--model {spec}: no such file {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        raise BadInput(f"--model {spec}: {path} fails to load ({where(e, path)}{type(e).__name__}: {e})")
    factory = getattr(module, fn, None)
    if not callable(factory):
        raise BadInput(f"--model {spec}: {path} has no function {fn}")
    try:
        made = factory()
    except Exception as e:
        raise BadInput(f"--model {spec}: {fn}() failed ({where(e, path)}{type(e).__name__}: {e})")
    if not (isinstance(made, tuple) and len(made) == 2 and hasattr(made[1], "encode")):
        raise BadInput(f"--model {spec}: {fn}() must return (model, tokenizer), a tokenizer with encode(text); got {type(made).__name__}")
    return made


def where(error, path):
    """"FILE:LINE: " of the innermost frame in the user's file, if the error passed through it."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f"line {error.lineno}: "
    frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
    return f"line {frames[-1].lineno}: " if frames else ""


def load_model(spec):
    """(model, tokenizer, source folder or None) from a folder / hub name, or FILE.py:FUNCTION."""
    if ".py:" in spec:
        return (*load_factory(spec), None)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise BadInput("--model of a Hugging Face folder needs the transformers package (pip install transformers), "
                       "or give FILE.py:FUNCTION returning (model, tokenizer)")
    try:
        model = AutoModelForCausalLM.from_pretrained(spec, torch_dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(spec)
    except Exception as e:
        first = str(e).strip().split("\n")[0]
        raise BadInput(f"--model {spec}: transformers cannot load it ({type(e).__name__}: {first})")
    return model, tokenizer, spec if os.path.isdir(spec) else None


def encode(tokenizer, text, special):
    try:
        return list(tokenizer.encode(text, add_special_tokens=special))
    except TypeError:
        return list(tokenizer.encode(text))


def in_test(problem_id, fraction):
    """A fixed hash of the id: the same problem always lands on the same side."""
    h = int.from_bytes(hashlib.sha256(str(problem_id).encode()).digest()[:8], "little")
    return h / 2**64 < fraction


def read_problems(path):
    problems = []
    try:
        lines = open(path, encoding="utf8").read().splitlines()
    except OSError as e:
        raise BadInput(f"--prompts {path}: cannot read ({e.strerror})")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            p = json.loads(line)
        except ValueError as e:
            raise BadInput(f"{path}:{n}: not JSON ({e})")
        if not isinstance(p, dict) or not isinstance(p.get("prompt"), str):
            raise BadInput(f"{path}:{n}: each line needs \"prompt\" (text)")
        pid = p.get("id", n - 1)
        if not isinstance(pid, int) or pid < 0:
            raise BadInput(f"{path}:{n}: \"id\" must be a non-negative integer, got {pid!r}")
        problems.append({**p, "id": pid, "line": n})
    if not problems:
        raise BadInput(f"{path}: no problems")
    ids = [p["id"] for p in problems]
    if len(set(ids)) != len(ids):
        raise BadInput(f"{path}: problem ids repeat (each \"id\" once)")
    return problems


def dump(model, tokenizer, problems, layers, last, test_fraction, special_tokens=True):
    """Rows of (split, problem id, layer, position, hidden, final hidden, target) and each problem's cot ids."""
    L = model.config.num_hidden_layers
    layers = list(range(L)) if layers is None else layers
    bad = [l for l in layers if not 0 <= l < L]
    if bad:
        raise BadInput(f"--layers {','.join(map(str, bad))}: the model has layers 0 … {L - 1}")
    out = {"train": [], "test": []}
    cots = {"train": [], "test": []}
    left_out = 0
    model.eval()
    for p in problems:
        prompt = encode(tokenizer, p["prompt"], special_tokens)
        cot = encode(tokenizer, p["cot"], False) if isinstance(p.get("cot"), str) else []
        ids = prompt + cot
        if "offsets" in p:
            offsets = p["offsets"]
            if not (isinstance(offsets, list) and all(isinstance(o, int) and 0 <= o < len(ids) for o in offsets)):
                raise BadInput(f"line {p['line']}: \"offsets\" must be token indices 0 … {len(ids) - 1}, got {offsets!r}")
        else:
            if len(prompt) < last:
                raise BadInput(f"line {p['line']}: the prompt has {len(prompt)} tokens, fewer than --last {last}")
            offsets = list(range(len(prompt) - last, len(prompt)))
        with torch.no_grad():
            result = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        states = result.hidden_states
        if len(states) != L + 1:
            raise BadInput(f"the model returned {len(states)} hidden states, expected num_hidden_layers + 1 = {L + 1}")
        split = "test" if in_test(p["id"], test_fraction) else "train"
        if cot:
            cots[split].append((p["id"], cot))
        for position, t in enumerate(offsets):
            if t + 1 >= len(ids):
                left_out += len(layers)
                continue
            for l in layers:
                out[split].append((p["id"], l, position, states[l + 1][0, t].float(), states[-1][0, t].float(), ids[t + 1]))
    return out, cots, left_out


def write_split(path, rows, cots, dtype):
    if not rows:
        return 0
    tensors = {
        "hidden": torch.stack([r[3] for r in rows]).to(dtype),
        "final_hidden": torch.stack([r[4] for r in rows]).to(dtype),
        "layer": torch.tensor([r[1] for r in rows], dtype=torch.int64),
        "position": torch.tensor([r[2] for r in rows], dtype=torch.int64),
        "target": torch.tensor([r[5] for r in rows], dtype=torch.int64),
        "example": torch.tensor([r[0] for r in rows], dtype=torch.int64),
    }
    if cots:
        T = max(len(c) for _, c in cots)
        cot = torch.full((len(cots), T), -1, dtype=torch.int64)
        for i, (_, c) in enumerate(cots):
            cot[i, :len(c)] = torch.tensor(c)
        tensors["cot"] = cot
        tensors["cot_example"] = torch.tensor([pid for pid, _ in cots], dtype=torch.int64)
    save_safetensors(path, tensors, {"note": "hidden = HF hidden_states[layer + 1]; final_hidden = hidden_states[-1]"})
    return len(rows)


def write_model_folder(out, model, tokenizer, source):
    """config.json, tokenizer.json and a model.safetensors of the head only: a folder --model-dir reads."""
    cfg = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(vars(model.config))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, default=str)
    tied = bool(cfg.get("tie_word_embeddings", False))
    head = {"model.norm.weight": model.model.norm.weight.detach().float(),
            ("model.embed_tokens.weight" if tied else "lm_head.weight"): model.lm_head.weight.detach().float()}
    save_safetensors(os.path.join(out, "model.safetensors"), head)
    if source and os.path.exists(os.path.join(source, "tokenizer.json")):
        shutil.copyfile(os.path.join(source, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    elif hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a Hugging Face folder or name, or FILE.py:FUNCTION returning (model, tokenizer)")
    ap.add_argument("--prompts", required=True, help="JSONL, one problem a line: id, prompt, optional cot and offsets")
    ap.add_argument("--out", required=True, help="folder for train/test.safetensors and the head")
    ap.add_argument("--layers", help="layer ids, comma-separated (default: all)")
    ap.add_argument("--last", type=int, default=6, help="positions: the last N prompt tokens (default 6), unless a problem gives offsets")
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="f32", help="of hidden and final_hidden")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="share of problems for the test set (default 0.2)")
    ap.add_argument("--no-special-tokens", action="store_true", help="encode prompts without the tokenizer's BOS and the like")
    a = ap.parse_args()
    try:
        if not 0 < a.test_fraction < 1:
            raise BadInput(f"--test-fraction {a.test_fraction}: between 0 and 1")
        if a.last < 1:
            raise BadInput(f"--last {a.last}: at least 1")
        layers = None
        if a.layers:
            try:
                layers = [int(x) for x in a.layers.split(",")]
            except ValueError:
                raise BadInput(f"--layers {a.layers}: comma-separated layer ids")
        problems = read_problems(a.prompts)
        model, tokenizer, source = load_model(a.model)
        dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
        rows, cots, left_out = dump(model, tokenizer, problems, layers, a.last, a.test_fraction, not a.no_special_tokens)
        if not rows["train"] or not rows["test"]:
            raise BadInput(f"{len(problems)} problems leave the {'test' if not rows['test'] else 'train'} set empty: "
                           "give more problems or change --test-fraction")
        os.makedirs(a.out, exist_ok=True)
        n_train = write_split(os.path.join(a.out, "train.safetensors"), rows["train"], cots["train"], dtype)
        n_test = write_split(os.path.join(a.out, "test.safetensors"), rows["test"], cots["test"], dtype)
        write_model_folder(a.out, model, tokenizer, source)
        print(f"wrote {a.out}/train.safetensors ({n_train} samples), {a.out}/test.safetensors ({n_test} samples), "
              f"and config.json, model.safetensors (norm and unembedding){', tokenizer.json' if os.path.exists(os.path.join(a.out, 'tokenizer.json')) else ''}"
              + (f"; {left_out} samples left out (no next token)" if left_out else ""))
    except BadInput as e:
        print(f"dump_hidden_states: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"dump_hidden_states: {e.filename or a.out}: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
