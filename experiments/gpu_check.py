"""`make gpu-check`: what a GPU host says about mytorch's CUDA path, in one run (< 8 min).

Stages: the environment (GPU, driver, CUDA, CuPy, NCCL, torch); the CUDA tests; with 2 GPUs,
miniddp's 2 ranks x batch b == 1 rank x 2b; GPT-2 training steps (time, peak memory) against
torch eager on the same GPU in fp32 and fp16; KV-cache generation tokens/s; the ConvNet step.
Results go to `<out>/gpu_check.json` and `<out>/GPU_CHECK.md` (default experiments/gpu/),
which `make report` shows. `simulate=True` runs every stage at tiny sizes on the CuPy
stand-in (tests/cuda_standin), so CI proves the script end to end; its numbers mean nothing.
"""
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "experiments" / "gpu"
# name -> (GPT-2 config overrides, batch, sequence length, timed steps)
SIZES = {"real": ({}, 8, 1024, 10), "simulate": (
    {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 96, "block_size": 32}, 2, 16, 2)}


def environment():
    """GPU, driver, CUDA runtime, CuPy, NCCL and torch, as this host reports them."""
    import mytorch
    from mytorch import backend
    env = {"python": platform.python_version(), "host": platform.node(),
           "gpus": mytorch.cuda.device_count(), "cuda_available": mytorch.cuda.is_available()}
    if backend.cupy is not None:
        cp = backend.cupy
        env["cupy"] = cp.__version__
        if env["cuda_available"]:
            env["gpu"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
            env["driver"] = cp.cuda.runtime.driverGetVersion()
            env["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
        try:
            from cupy.cuda import nccl
            env["nccl"] = nccl.get_version() if nccl.available else "not available"
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            env["nccl"] = f"not available ({type(e).__name__})"
    try:
        import torch
        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.cuda.is_available()
    except ImportError:
        env["torch"] = None
    return env


def _pytest(args, timeout):
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider",
           *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(args), "ok": False, "summary": f"timed out ({timeout}s)"}
    lines = [ln.strip("= ") for ln in proc.stdout.splitlines()
             if " in " in ln and any(w in ln for w in ("passed", "failed", "error"))]
    return {"command": " ".join(args), "ok": proc.returncode == 0,
            "summary": lines[-1] if lines else (proc.stdout + proc.stderr)[-300:],
            "seconds": round(time.monotonic() - start, 1)}


def cuda_tests(simulate):
    if simulate:
        return _pytest(["tests/cuda/test_devices.py", "-k", "randperm or rng_state"], 300)
    return _pytest(["-x", "-k", "cuda", "tests/cuda", "tests/tensor", "tests/ops", "tests/autograd",
                    "tests/amp", "tests/nn", "tests/zoo", "tests/utils/test_data_cuda.py"], 240)


def ddp_equivalence(n_gpus):
    if n_gpus < 2:
        return {"ok": None, "summary": "skipped: needs 2 GPUs"}
    return _pytest(["tests/miniddp/test_ranks.py", "-k",
                    "same_as_one_big_batch or clip_norm_same"], 180)


def _sync():
    import mytorch
    mytorch.cuda.synchronize()


def _timed(step, n, sync):
    step()  # warm-up: kernels compiled, pools filled
    step()
    sync()
    start = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - start) / n


def gpt2_mytorch(cfg_over, B, T, steps, fp16):
    import numpy as np

    import mytorch
    from miniddp import Accelerator
    from zoo.gpt2 import GPT2, GPTConfig
    mytorch.manual_seed(0)
    mytorch.cuda.empty_cache()
    acc = Accelerator(mixed_precision="fp16" if fp16 else "no", device="cuda")
    model = GPT2(GPTConfig(**cfg_over))
    model, opt = acc.prepare(model, model.configure_optimizers())
    vocab = model.module.config.vocab_size
    idx = mytorch.tensor(np.random.default_rng(0).integers(0, vocab, (B, T + 1)), device="cuda")

    def step():
        _, loss = model(idx[:, :-1], idx[:, 1:])
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
    seconds = _timed(step, steps, _sync)
    return {"step_ms": 1000 * seconds, "tokens_per_s": B * T / seconds,
            "peak_mb": mytorch.cuda.max_memory_allocated() / 2 ** 20}


def gpt2_torch(cfg_over, B, T, steps, fp16):
    """The same model in torch eager (transformers' GPT-2) on the same GPU."""
    import torch
    if not torch.cuda.is_available():
        return {"skipped": "torch has no CUDA here (install a CUDA build of torch)"}
    from transformers import GPT2Config, GPT2LMHeadModel

    from zoo.gpt2 import GPTConfig
    c = GPTConfig(**cfg_over)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size,
                                       n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head,
                                       resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    idx = torch.randint(0, c.vocab_size, (B, T), device="cuda")
    torch.cuda.reset_peak_memory_stats()

    def step():
        with torch.autocast("cuda", dtype=torch.float16, enabled=fp16):
            loss = model(idx, labels=idx).loss
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    seconds = _timed(step, steps, torch.cuda.synchronize)
    return {"step_ms": 1000 * seconds, "tokens_per_s": B * T / seconds,
            "peak_mb": torch.cuda.max_memory_allocated() / 2 ** 20}


def generation(cfg_over, simulate):
    import mytorch
    from zoo.gpt2 import GPT2, GPTConfig
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(**cfg_over)).to("cuda").eval()
    n = 8 if simulate else 128
    prompt = mytorch.zeros((1, 8), dtype=mytorch.int64, device="cuda")
    seconds = _timed(lambda: model.generate(prompt, n, temperature=0, use_cache=True), 1,
                     _sync)
    return {"new_tokens": n, "tokens_per_s": n / seconds}


def convnet(simulate):
    import numpy as np

    import mytorch
    from zoo.convnet import ConvNet, ConvNetConfig
    mytorch.manual_seed(0)
    model = ConvNet(ConvNetConfig()).to("cuda")
    opt = mytorch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    B = 4 if simulate else 256
    rng = np.random.default_rng(0)
    x = mytorch.tensor(rng.standard_normal((B, 1, 28, 28)).astype(np.float32), device="cuda")
    t = mytorch.tensor(rng.integers(0, 10, B), device="cuda")

    def step():
        loss = mytorch.nn.functional.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = _timed(step, 2 if simulate else 20, _sync)
    return {"batch": B, "step_ms": 1000 * seconds, "samples_per_s": B / seconds}


def _guard(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - one failing stage must not hide the others
        return {"error": f"{type(e).__name__}: {e}"[:500]}


def run(simulate=False, out=OUT):
    """Every stage; writes gpu_check.json and GPU_CHECK.md under `out` and returns the dict."""
    import mytorch
    if not mytorch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA GPU here (GPU_CHECK_SIMULATE=1 runs it on the "
                         "CuPy stand-in)")
    cfg_over, B, T, steps = SIZES["simulate" if simulate else "real"]
    res = {"simulated": simulate, "environment": environment(), "batch": B, "seq_len": T}
    res["cuda_tests"] = cuda_tests(simulate)
    res["ddp_2gpu_equivalence"] = ddp_equivalence(mytorch.cuda.device_count())
    for prec in ("fp32", "fp16"):
        fp16 = prec == "fp16"
        res[f"gpt2_{prec}"] = {"mytorch": _guard(gpt2_mytorch, cfg_over, B, T, steps, fp16),
                               "torch": _guard(gpt2_torch, cfg_over, B, T, steps, fp16)}
    res["generation"] = _guard(generation, cfg_over, simulate)
    res["convnet"] = _guard(convnet, simulate)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "GPU_CHECK.md").write_text(markdown(res))
    return res


def _num(v, fmt="{:.1f}"):
    return fmt.format(v) if isinstance(v, (int, float)) else "—"


def markdown(res):
    """The results as the markdown `make report` shows."""
    env = res["environment"]
    lines = ["## GPU check" + (" (SIMULATED on the CuPy stand-in: numbers mean nothing)"
                               if res["simulated"] else ""), "",
             f"- GPU: {env.get('gpu', '?')} x {env.get('gpus')}, driver {env.get('driver')}, "
             f"CUDA runtime {env.get('cuda_runtime')}, CuPy {env.get('cupy')}, "
             f"NCCL {env.get('nccl')}, torch {env.get('torch')} "
             f"(CUDA: {env.get('torch_cuda')})",
             f"- CUDA tests: {'pass' if res['cuda_tests']['ok'] else 'FAIL'} "
             f"({res['cuda_tests']['summary']})",
             f"- 2 ranks x b == 1 rank x 2b: {res['ddp_2gpu_equivalence']['summary']}", "",
             f"| GPT-2 step, B={res['batch']}, T={res['seq_len']} | mytorch ms | torch ms | "
             "time ratio | mytorch peak MB | torch peak MB | memory ratio |",
             "|---|---|---|---|---|---|---|"]
    for prec in ("fp32", "fp16"):
        m, t = res[f"gpt2_{prec}"]["mytorch"], res[f"gpt2_{prec}"]["torch"]
        ratio = (m["step_ms"] / t["step_ms"]) if "step_ms" in m and "step_ms" in t else None
        mem = (m["peak_mb"] / t["peak_mb"]) if "peak_mb" in m and "peak_mb" in t else None
        lines.append(f"| {prec} | {_num(m.get('step_ms'))} | {_num(t.get('step_ms'))} | "
                     f"{_num(ratio, '{:.2f}x')} | {_num(m.get('peak_mb'), '{:.0f}')} | "
                     f"{_num(t.get('peak_mb'), '{:.0f}')} | {_num(mem, '{:.2f}x')} |")
        for side, r in (("mytorch", m), ("torch", t)):
            if "error" in r or "skipped" in r:
                lines.append(f"|   {prec} {side}: {r.get('error') or r.get('skipped')} "
                             "| | | | | | |")
    g, c = res["generation"], res["convnet"]
    lines += ["", f"- KV-cache generation: {_num(g.get('tokens_per_s'))} tokens/s "
                  f"{g.get('error', '')}",
              f"- ConvNet step (batch {c.get('batch')}): {_num(c.get('step_ms'))} ms, "
              f"{_num(c.get('samples_per_s'))} samples/s {c.get('error', '')}", ""]
    return "\n".join(lines)
