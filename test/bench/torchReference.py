"""PyTorch fp32 on the CPU: the reference figures that realModel.bench.ts prints next to the engine's.

Loads SmolLM2-135M-Instruct from the same GGUF as the engine, with transformers'
from_pretrained(dir, gguf_file=..., dtype=float32) (it dequantizes to fp32), and measures at each
requested thread count (torch.set_num_threads) the workloads of test/bench/realModel.ts:
  matmul    an n x n x n fp32 torch.matmul (the BLAS ceiling of this machine)
  forward   logits for every position of a B x T batch, no grad
  generate  greedy generation with the KV cache, N new tokens, no early stop, from given prompt ids
  lora      one training step: PEFT LoRA r16 all-linear, alpha 32, dropout 0, AdamW; the causal LM
            loss over every position (position i predicts the next token of the flattened batch,
            as realModel.ts does)
  full      the same step training every weight
The first repetition warms up and is not counted; the figure is the median of the others.

transformers reads a GGUF's metadata in pure Python (about 20 s for this file, per process), so the
first run saves the dequantized model as a safetensors folder next to the GGUF (checking that it
gives the same logits) and later runs load that folder: the same tensors, without the wait.

Run from the repository root (needs torch, transformers, peft, gguf, numpy):
    python test/bench/torchReference.py --gguf PATH --threads 1,2 --batch 2 --length 128 forward,lora
Prints one JSON line per case and thread count; peak is the process's max RSS so far.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForCausalLM

CASES = ("matmul", "forward", "generate", "lora", "full")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def cached_folder(gguf: str) -> str:
    """The dequantized model as a plain folder, made from the GGUF on first use."""
    st = os.stat(gguf)
    stamp = f"{os.path.basename(gguf)} {st.st_size} {int(st.st_mtime)} transformers {transformers.__version__}"
    folder = os.path.join(os.path.dirname(os.path.abspath(gguf)), "..", "torch-fp32")
    stamp_file = os.path.join(folder, "source.txt")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        return folder
    print(f"torchReference: dequantizing {gguf} with transformers (once; cached in {os.path.normpath(folder)})", file=sys.stderr)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32)
    # transformers refuses save_pretrained on a GGUF-loaded model: rebuild a plain one from its config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    ids = torch.arange(100, 116).unsqueeze(0)
    with torch.no_grad():
        expected = model(ids).logits
    tmp = folder + f".tmp{os.getpid()}"
    plain.save_pretrained(tmp)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32)
    with torch.no_grad():
        if not torch.equal(reloaded(ids).logits, expected):
            raise RuntimeError("the saved fp32 folder does not reproduce the GGUF model's logits")
    with open(os.path.join(tmp, "source.txt"), "w") as f:
        f.write(stamp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def median_rest(times):
    rest = times[1:] if len(times) > 1 else times
    return statistics.median(rest), rest


def measure(reps, work):
    """Runs work() reps times; returns (median seconds of the counted reps, cores kept busy)."""
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        work()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    seconds, rest = median_rest(wall)
    busy = sum(cpu[len(cpu) - len(rest):]) / sum(rest)
    return seconds, round(busy, 2), [round(w * 1000) for w in wall]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--matmul", type=int, default=1024)
    ap.add_argument("--prompt", default="", help="comma-separated prompt ids for generate")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--reps", type=int, default=0, help="repetitions per case (0: 5 matmul, 4 forward, 2 generate, 3 lora/full)")
    ap.add_argument("--checkpoint", action="store_true", help="lora/full: gradient checkpointing per layer")
    args = ap.parse_args()
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown or ("lora" in cases and "full" in cases):
        ap.error(f"cases are some of {', '.join(CASES)}, with lora or full but not both; got {args.cases}")
    threads = [int(t) for t in args.threads.split(",")]
    transformers.logging.set_verbosity_error()
    torch.manual_seed(7)
    B, T = args.batch, args.length

    def emit(case, n, seconds, busy, ms, **extra):
        print(json.dumps({"what": case, "threads": n, "B": B, "T": T, **extra, "msPerRep": ms, "cores": busy, "peak": peak_rss(), "kind": "max RSS"}), flush=True)

    if "matmul" in cases:
        n = args.matmul
        a, b = torch.randn(n, n), torch.randn(n, n)
        for t in threads:
            torch.set_num_threads(t)
            seconds, busy, ms = measure(args.reps or 5, lambda: a @ b)
            emit("matmul", t, seconds, busy, ms, gflops=2 * n**3 / seconds / 1e9, blas="MKL" if torch.backends.mkl.is_available() else "OpenBLAS/Eigen")
        if cases == ["matmul"]:
            return

    model = AutoModelForCausalLM.from_pretrained(cached_folder(args.gguf), dtype=torch.float32)
    ids = torch.randint(100, 40100, (B, T))
    if "forward" in cases:
        model.eval()
        for t in threads:
            torch.set_num_threads(t)
            with torch.no_grad():
                seconds, busy, ms = measure(args.reps or 4, lambda: model(ids).logits)
            emit("forward", t, seconds, busy, ms, tokensPerSecond=B * T / seconds)
    if "generate" in cases:
        model.eval()
        prompt = torch.tensor([[int(x) for x in args.prompt.split(",")]])
        n = args.new_tokens
        out = []
        kw = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True, pad_token_id=0)
        for t in threads:
            torch.set_num_threads(t)
            with torch.no_grad():
                seconds, busy, ms = measure(args.reps or 2, lambda: out.append(model.generate(prompt, **kw)))
            emit("generate", t, seconds, busy, ms, tokensPerSecond=n / seconds, generated=out[-1].shape[1] - prompt.shape[1])
    for case in ("lora", "full"):
        if case not in cases:
            continue
        if case == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
        if args.checkpoint:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        flat = ids.flatten()
        labels = torch.roll(flat, -1)
        losses = []

        def step():
            logits = model(input_ids=ids).logits
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())

        for t in threads:
            torch.set_num_threads(t)
            seconds, busy, ms = measure(args.reps or 3, step)
            emit(case, t, seconds, busy, ms, tokensPerSecond=B * T / seconds, loss=losses[-1], trainable=sum(p.numel() for p in trainable), checkpoint=args.checkpoint)


if __name__ == "__main__":
    main()
