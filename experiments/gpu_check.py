"""`make gpu-check`: what a GPU host says about mytorch's CUDA path, in one run (< 8 min).

Stages: the environment (GPU, driver, CUDA, CuPy, NCCL, torch); the CUDA tests; with 2 GPUs,
miniddp's 2 ranks x batch b == 1 rank x 2b; GPT-2 124M training steps (B=8, T=1024; time,
peak memory) against torch eager on the same GPU in fp32 and fp16; every fused kernel against
its torch counterpart, with the fused path on and off (KERNELS); KV-cache generation
tokens/s; the ConvNet step. Issue #15's targets (TARGETS, KernelCase.target) are marked met
or missed. Results go to `<out>/gpu_check.json` and `<out>/GPU_CHECK.md` (default
experiments/gpu/), which `make report` shows. `simulate=True` runs every stage at tiny sizes
on the CuPy stand-in (tests/cuda_standin), so CI proves the script end to end; its numbers
mean nothing.
"""
import functools
import gc
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "experiments" / "gpu"
# name -> (GPT-2 config overrides, batch, sequence length, timed steps)
SIZES = {"real": ({}, 8, 1024, 10), "simulate": (
    {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 96, "block_size": 32}, 2, 16, 2)}
# Issue #15's targets for the fp16 GPT-2 step: mytorch / torch eager, at most.
TARGETS = {"time": 1.0, "memory": 0.9}


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
    _free_memory()  # the pool's high-water mark below is this run's, not the fp32 run's
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
    """The same model in torch eager (transformers' GPT-2) on the same GPU. peak_mb is torch's
    peak of memory in live tensors; peak_reserved_mb its caching allocator's peak, the like of
    mytorch's number (the CuPy pool's high-water mark)."""
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
    _free_memory()
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
            "peak_mb": torch.cuda.max_memory_allocated() / 2 ** 20,
            "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2 ** 20}


def gpt2_targets(m, t):
    """The fp16 step's ratios against torch eager and whether each meets TARGETS. The memory
    ratio compares like with like: mytorch's peak is what its CuPy pool holds, so it is set
    against torch's caching allocator's peak (peak_reserved_mb) where torch reported one."""
    out = {}
    for what, key in (("time", "step_ms"), ("memory", "peak_mb")):
        tv = _torch_peak(t) if what == "memory" else t.get(key)
        ratio = m[key] / tv if key in m and tv else None
        out[what] = {"ratio": ratio, "target": TARGETS[what],
                     "met": None if ratio is None else ratio <= TARGETS[what]}
    return out


def _torch_peak(t):
    """torch's peak memory to set against mytorch's pool: reserved where known, else live."""
    return t.get("peak_reserved_mb", t.get("peak_mb"))


def _free_memory():
    """Drop what earlier stages left: unreachable cycles, then both allocators' cached blocks,
    so one stage's peak memory is not another's."""
    import mytorch
    gc.collect()
    mytorch.cuda.empty_cache()
    try:
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


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


# ---------------------------------------------------------------- kernels
# Each fused kernel against its torch counterpart on the same GPU, forward and backward where
# it has one, timed with the fused path on and off (mytorch.ops.cuda_kernels.set_enabled) so
# the table shows what fusion buys. The attention, cross-entropy, embedding, dropout and
# optimizer rows call only mytorch's public API (F.*, optim), so they measure whatever path
# that API takes today.


@dataclass(frozen=True)
class KernelCase:
    """One row of the kernels table.

    setup(shape, dtype, torch_device) builds the inputs once and returns (mytorch_step,
    torch_step, api): two callables that each run the op once on the same values, and what
    the mytorch side calls. `real` is the shape on a GPU host (GPT-2 124M's at B=8, T=1024),
    `tiny` the one GPU_CHECK_SIMULATE=1 uses; `target` the largest mytorch / torch time ratio
    issue #15 accepts.
    """
    name: str
    setup: Callable
    real: tuple
    tiny: tuple
    dtype: str
    target: float = 1.0


def _torch_libs():
    import torch
    import torch.nn.functional as TF

    import mytorch.nn.functional as F
    return torch, TF, F


def _pair(rng, shape, dtype, torch_device, grad=False):
    """A standard-normal array of `shape` as a mytorch CUDA tensor and a torch tensor."""
    import numpy as np

    import mytorch
    torch = _torch_libs()[0]
    a = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    return (mytorch.tensor(a, device="cuda", requires_grad=grad),
            torch.tensor(a, device=torch_device, requires_grad=grad))


def _fwd_bwd(fn, inputs, gy=None):
    """A step: y = fn(*inputs), then backward from gy (None: y is a scalar loss). The inputs'
    grads are dropped first, so no step pays for accumulating into the last one's."""
    def step():
        for t in inputs:
            t.grad = None
        fn(*inputs).backward(gy)
    return step


def _rng():
    import numpy as np
    return np.random.default_rng(0)


def _softmax(shape, dtype, dev):
    """Softmax over the last dim of x (rows, N)."""
    torch, TF, F = _torch_libs()
    rng = _rng()
    (x, tx), (gy, tgy) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev)
    return (_fwd_bwd(lambda x: F.softmax(x, -1), [x], gy),
            _fwd_bwd(lambda x: TF.softmax(x, -1), [tx], tgy), "F.softmax")


def _layer_norm(shape, dtype, dev):
    """LayerNorm of x (rows, N) over N with weight and bias, all three differentiated."""
    torch, TF, F = _torch_libs()
    rng, n = _rng(), shape[-1]
    (x, tx), (gy, tgy) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev)
    (w, tw), (b, tb) = _pair(rng, (n,), dtype, dev, True), _pair(rng, (n,), dtype, dev, True)
    return (_fwd_bwd(lambda x, w, b: F.layer_norm(x, (n,), w, b), [x, w, b], gy),
            _fwd_bwd(lambda x, w, b: TF.layer_norm(x, (n,), w, b), [tx, tw, tb], tgy),
            "F.layer_norm")


def _rms_norm(shape, dtype, dev):
    """RMSNorm of x (rows, N) over N with a weight, both differentiated."""
    torch, TF, F = _torch_libs()
    rng, n = _rng(), shape[-1]
    (x, tx), (gy, tgy) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev)
    w, tw = _pair(rng, (n,), dtype, dev, True)
    return (_fwd_bwd(lambda x, w: F.rms_norm(x, (n,), w, eps=1e-5), [x, w], gy),
            _fwd_bwd(lambda x, w: TF.rms_norm(x, (n,), w, eps=1e-5), [tx, tw], tgy),
            "F.rms_norm")


def _gelu(approximate, shape, dtype, dev):
    """GELU of x, elementwise ('none': exact; 'tanh': GPT-2's form)."""
    torch, TF, F = _torch_libs()
    rng = _rng()
    (x, tx), (gy, tgy) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev)
    return (_fwd_bwd(lambda x: F.gelu(x, approximate=approximate), [x], gy),
            _fwd_bwd(lambda x: TF.gelu(x, approximate=approximate), [tx], tgy),
            f"F.gelu(approximate={approximate!r})")


def _bias_gelu(shape, dtype, dev):
    """GELU(x + b), tanh form, x (rows, N), b (N,). No public mytorch op adds a bias inside
    GELU yet, so this side calls mytorch.ops.cuda_kernels on the tensors' arrays: the kernels
    when `fits` (the switch on), their references when off. torch runs gelu(x + b)."""
    from mytorch.ops import cuda_kernels as ck
    torch, TF, F = _torch_libs()
    rng = _rng()
    (x, tx), (gy, tgy) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev)
    b, tb = _pair(rng, shape[-1:], dtype, dev, True)

    def step():
        if ck.fits(x.data, b.data):
            ck.bias_gelu_forward(x.data, b.data, "tanh")
            ck.bias_gelu_backward(x.data, b.data, gy.data, "tanh")
        else:
            ck.bias_gelu_forward_reference(x.data, b.data, "tanh")
            ck.bias_gelu_backward_reference(x.data, b.data, gy.data, "tanh")
    return (step, _fwd_bwd(lambda x, b: TF.gelu(x + b, approximate="tanh"), [tx, tb], tgy),
            "cuda_kernels.bias_gelu_forward/backward")


def _attention(shape, dtype, dev):
    """Causal scaled dot-product attention of q, k, v (B, H, T, D), all three differentiated."""
    torch, TF, F = _torch_libs()
    rng = _rng()
    (q, tq), (k, tk), (v, tv) = (_pair(rng, shape, dtype, dev, True) for _ in range(3))
    gy, tgy = _pair(rng, shape, dtype, dev)
    return (_fwd_bwd(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     [q, k, v], gy),
            _fwd_bwd(lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
                     [tq, tk, tv], tgy), "F.scaled_dot_product_attention(is_causal=True)")


def _cross_entropy(shape, dtype, dev):
    """Mean cross-entropy of logits (rows, V) against random class targets."""
    import mytorch
    torch, TF, F = _torch_libs()
    rng = _rng()
    z, tz = _pair(rng, shape, dtype, dev, True)
    t = rng.integers(0, shape[1], shape[0])
    mt, tt = mytorch.tensor(t, device="cuda"), torch.tensor(t, device=dev)
    return (_fwd_bwd(lambda z: F.cross_entropy(z, mt), [z]),
            _fwd_bwd(lambda z: TF.cross_entropy(z, tt), [tz]), "F.cross_entropy")


def _embedding(shape, dtype, dev):
    """Embedding lookup of indices (B, T) in a weight (V, D); backward is the weight's grad."""
    import mytorch
    torch, TF, F = _torch_libs()
    rng = _rng()
    B, T, V, D = shape
    w, tw = _pair(rng, (V, D), dtype, dev, True)
    gy, tgy = _pair(rng, (B, T, D), dtype, dev)
    idx = rng.integers(0, V, (B, T))
    mi, ti = mytorch.tensor(idx, device="cuda"), torch.tensor(idx, device=dev)
    return (_fwd_bwd(lambda w: F.embedding(mi, w), [w], gy),
            _fwd_bwd(lambda w: TF.embedding(ti, w), [tw], tgy), "F.embedding")


def _dropout_add(shape, dtype, dev):
    """residual + dropout(x, p=0.1) in training, x and residual (rows, N) differentiated: the
    residual branch of a transformer block. torch has no one function for it; mytorch's
    F.dropout_add is its fused form, and until it exists this row runs the two ops."""
    torch, TF, F = _torch_libs()
    rng = _rng()
    (x, tx), (r, tr) = _pair(rng, shape, dtype, dev, True), _pair(rng, shape, dtype, dev, True)
    gy, tgy = _pair(rng, shape, dtype, dev)
    if hasattr(F, "dropout_add"):
        fn, api = (lambda x, r: F.dropout_add(x, r, p=0.1, training=True)), "F.dropout_add"
    else:
        fn, api = (lambda x, r: r + F.dropout(x, 0.1)), "r + F.dropout (no F.dropout_add yet)"
    return (_fwd_bwd(fn, [x, r], gy),
            _fwd_bwd(lambda x, r: r + TF.dropout(x, 0.1), [tx, tr], tgy), api)


def gpt2_param_shapes(n_layer, C, V, T):
    """The shapes of zoo.gpt2's parameters for n_layer blocks of width C, vocabulary V and
    T positions (148 tensors, 124M numbers for GPT-2 124M; the LM head shares wte)."""
    block = [(C,), (C,), (C, 3 * C), (3 * C,), (C, C), (C,),  # ln_1, attn.c_attn, attn.c_proj
             (C,), (C,), (C, 4 * C), (4 * C,), (4 * C, C), (C,)]  # ln_2, mlp.c_fc, mlp.c_proj
    return [(V, C), (T, C)] + block * n_layer + [(C,), (C,)]


def _optimizer(name, shape, dtype, dev):
    """One optimizer step over GPT-2's parameters (shape: n_layer, C, V, T), their grads
    fixed. torch's optimizer runs as it chooses by default (foreach on CUDA)."""
    import mytorch
    torch, TF, F = _torch_libs()
    rng = _rng()
    mine, theirs = [], []
    for s in gpt2_param_shapes(*shape):
        (p, tp), (g, tg) = _pair(rng, s, dtype, dev), _pair(rng, s, dtype, dev)
        p, tp = mytorch.nn.Parameter(p), torch.nn.Parameter(tp)
        p.grad, tp.grad = g, tg
        mine.append(p)
        theirs.append(tp)
    if name == "AdamW":
        args = {"lr": 6e-4, "betas": (0.9, 0.95), "weight_decay": 0.1}
    else:
        args = {"lr": 0.01, "momentum": 0.9}
    opt = getattr(mytorch.optim, name)(mine, **args)
    topt = getattr(torch.optim, name)(theirs, **args)
    numbers = sum(p.numel() for p in mine) / 1e6
    return opt.step, topt.step, f"optim.{name}.step, {len(mine)} tensors, {numbers:.2f}M numbers"


_ROWS, _HIDDEN, _VOCAB = 8 * 1024, 768, 50257  # GPT-2 124M at B=8, T=1024
_GPT2 = (12, _HIDDEN, _VOCAB, 1024)  # n_layer, C, V, T
_GPT2_TINY = (2, 32, 96, 32)  # SIZES["simulate"]'s model
KERNELS = [
    KernelCase("softmax", _softmax, (8 * 12 * 1024, 1024), (3, 40), "float16"),
    KernelCase("layer_norm", _layer_norm, (_ROWS, _HIDDEN), (3, 24), "float16"),
    KernelCase("layer_norm", _layer_norm, (_ROWS, _HIDDEN), (3, 24), "float32"),
    KernelCase("rms_norm", _rms_norm, (_ROWS, _HIDDEN), (3, 24), "float16"),
    KernelCase("rms_norm", _rms_norm, (_ROWS, _HIDDEN), (3, 24), "float32"),
    KernelCase("gelu_tanh", functools.partial(_gelu, "tanh"), (_ROWS, 4 * _HIDDEN), (3, 40),
               "float16"),
    KernelCase("gelu_tanh", functools.partial(_gelu, "tanh"), (_ROWS, 4 * _HIDDEN), (3, 40),
               "float32"),
    KernelCase("gelu_exact", functools.partial(_gelu, "none"), (_ROWS, 4 * _HIDDEN), (3, 40),
               "float16"),
    KernelCase("gelu_exact", functools.partial(_gelu, "none"), (_ROWS, 4 * _HIDDEN), (3, 40),
               "float32"),
    KernelCase("bias_gelu_tanh", _bias_gelu, (_ROWS, 4 * _HIDDEN), (3, 40), "float16"),
    KernelCase("flash_attention", _attention, (8, 12, 1024, 64), (1, 2, 8, 4), "float16",
               target=1.5),
    KernelCase("cross_entropy", _cross_entropy, (_ROWS, _VOCAB), (3, 37), "float16"),
    KernelCase("cross_entropy", _cross_entropy, (_ROWS, _VOCAB), (3, 37), "float32"),
    KernelCase("embedding_backward", _embedding, (8, 1024, _VOCAB, _HIDDEN), (2, 5, 37, 8),
               "float32"),
    KernelCase("dropout_add", _dropout_add, (_ROWS, _HIDDEN), (3, 24), "float16"),
    KernelCase("adamw_step", functools.partial(_optimizer, "AdamW"), _GPT2, _GPT2_TINY,
               "float32"),
    KernelCase("sgd_step", functools.partial(_optimizer, "SGD"), _GPT2, _GPT2_TINY, "float32"),
]


def kernel_row(case, simulate, torch_device, reps):
    """Time one KernelCase: mytorch with the fused path on, then off, then torch (skipped
    when torch_device is None). Ratios are mytorch ms / torch ms; `met` compares the fused
    one with the case's target."""
    from mytorch.ops import cuda_kernels as ck
    shape = case.tiny if simulate else case.real
    row = {"name": case.name, "dtype": case.dtype, "shape": list(shape), "target": case.target}
    mytorch_step, torch_step, row["api"] = case.setup(shape, case.dtype, torch_device or "cpu")
    previous = ck.enabled()
    try:
        for key, fused in (("mytorch_ms", True), ("unfused_ms", False)):
            ck.set_enabled(fused)
            row[key] = 1000 * _timed(mytorch_step, reps, _sync)
    finally:
        ck.set_enabled(previous)
    if torch_device is None:
        row["torch"] = "skipped: torch has no CUDA here (install a CUDA build of torch)"
        return row
    torch = _torch_libs()[0]
    sync = torch.cuda.synchronize if torch_device == "cuda" else (lambda: None)
    row["torch_ms"] = 1000 * _timed(torch_step, reps, sync)
    row["ratio"] = row["mytorch_ms"] / row["torch_ms"]
    row["unfused_ratio"] = row["unfused_ms"] / row["torch_ms"]
    row["met"] = row["ratio"] <= case.target
    return row


def kernels(simulate):
    """Every KernelCase timed against torch: {"fused_available", "torch_device", "rows",
    "seconds"} (the stage's wall time).

    On a GPU host torch runs on the same GPU (and is skipped if its build has no CUDA); in a
    simulated run on the CPU, so that every row computes its ratios. Simulated, the fused
    kernels run in numba's CUDA simulator with 8-thread blocks, so each stays seconds.
    """
    import torch

    from mytorch.ops import cuda_kernels as ck
    if simulate:
        torch_device = "cpu"
    else:
        torch_device = "cuda" if torch.cuda.is_available() else None
    from mytorch.ops import cuda_cross_entropy, cuda_flash_attention
    from mytorch.optim import cuda_multi_tensor
    # each module reads these at each launch: small blocks and tiles for the simulator
    small = {ck: {"THREADS": 8}, cuda_cross_entropy: {"THREADS": 8},
             cuda_flash_attention: {"THREADS": 8, "TILE": 4},
             cuda_multi_tensor: {"THREADS": 8}} if simulate else {}
    saved = {m: {k: getattr(m, k) for k in kv} for m, kv in small.items()}
    start = time.monotonic()
    for m, kv in small.items():
        for k, v in kv.items():
            setattr(m, k, v)
    rows = []
    try:
        for case in KERNELS:
            rows.append(_guard(kernel_row, case, simulate, torch_device, 1 if simulate else 20))
            rows[-1].setdefault("name", case.name)
            rows[-1].setdefault("dtype", case.dtype)
            _free_memory()
    finally:
        for m, kv in saved.items():
            for k, v in kv.items():
                setattr(m, k, v)
    return {"fused_available": ck.available(), "torch_device": torch_device, "rows": rows,
            "seconds": round(time.monotonic() - start, 1)}


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
    res["gpt2_fp16"]["targets"] = gpt2_targets(res["gpt2_fp16"]["mytorch"],
                                               res["gpt2_fp16"]["torch"])
    res["kernels"] = _guard(kernels, simulate)
    res["generation"] = _guard(generation, cfg_over, simulate)
    res["convnet"] = _guard(convnet, simulate)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "GPU_CHECK.md").write_text(markdown(res))
    return res


def _num(v, fmt="{:.1f}"):
    return fmt.format(v) if isinstance(v, (int, float)) else "—"


def _verdict(met):
    return "—" if met is None else ("met" if met else "MISSED")


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
             "time ratio | mytorch peak MB | torch peak MB | memory ratio | target |",
             "|---|---|---|---|---|---|---|---|"]
    for prec in ("fp32", "fp16"):
        m, t = res[f"gpt2_{prec}"]["mytorch"], res[f"gpt2_{prec}"]["torch"]
        ratio = (m["step_ms"] / t["step_ms"]) if "step_ms" in m and "step_ms" in t else None
        mem = (m["peak_mb"] / _torch_peak(t)) if "peak_mb" in m and _torch_peak(t) else None
        targets = res[f"gpt2_{prec}"].get("targets")
        target = "; ".join(f"{what} <= {v['target']:.1f}x {_verdict(v['met'])}"
                           for what, v in targets.items()) if targets else "—"
        lines.append(f"| {prec} | {_num(m.get('step_ms'))} | {_num(t.get('step_ms'))} | "
                     f"{_num(ratio, '{:.2f}x')} | {_num(m.get('peak_mb'), '{:.0f}')} | "
                     f"{_num(_torch_peak(t), '{:.0f}')} | {_num(mem, '{:.2f}x')} | "
                     f"{target} |")
        for side, r in (("mytorch", m), ("torch", t)):
            if "error" in r or "skipped" in r:
                lines.append(f"|   {prec} {side}: {r.get('error') or r.get('skipped')} "
                             "| | | | | | | |")
    lines += ["", "Peak memory is what each side's allocator holds at most: mytorch's CuPy pool "
              "against torch's caching allocator (max_memory_reserved; its peak of live tensors "
              "is in gpu_check.json)."]
    lines += kernels_markdown(res.get("kernels"))
    g, c = res["generation"], res["convnet"]
    lines += ["", f"- KV-cache generation: {_num(g.get('tokens_per_s'))} tokens/s "
                  f"{g.get('error', '')}",
              f"- ConvNet step (batch {c.get('batch')}): {_num(c.get('step_ms'))} ms, "
              f"{_num(c.get('samples_per_s'))} samples/s {c.get('error', '')}", ""]
    return "\n".join(lines)


def kernels_markdown(k):
    """The kernels table: one row per KernelCase, ratios against torch with fusion on and off."""
    if k is None:
        return []
    if "error" in k:
        return ["", f"- Fused kernels: {k['error']}"]
    lines = ["", f"Fused kernels vs torch on {k['torch_device'] or 'no CUDA torch'}, forward + "
             "backward (optimizers: one step over GPT-2's parameters); numba can launch the "
             f"fused path here: {k['fused_available']}; {_num(k.get('seconds'))} s.", "",
             "| kernel | dtype | shape | mytorch calls | mytorch ms | torch ms | ratio | "
             "fused off ms | fused off ratio | target |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in k["rows"]:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['dtype']} | | {r['error']} | | | | | | |")
            continue
        shape = "x".join(map(str, r["shape"]))
        lines.append(f"| {r['name']} | {r['dtype']} | {shape} | {r['api']} | "
                     f"{_num(r['mytorch_ms'], '{:.3f}')} | {_num(r.get('torch_ms'), '{:.3f}')} "
                     f"| {_num(r.get('ratio'), '{:.2f}x')} | {_num(r['unfused_ms'], '{:.3f}')} "
                     f"| {_num(r.get('unfused_ratio'), '{:.2f}x')} | <= {r['target']:.1f}x "
                     f"{_verdict(r.get('met'))} |")
    return lines
