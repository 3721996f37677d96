"""The "scale" section of scripts/bench.py: whole training steps and generation at real size.

- GPT-2 124M training step (B=2, T=256, AdamW): mytorch, torch eager and torch.compile, timed
  in one process with their steps interleaved (torch.compile wraps the eager model, so the two
  torch sides share weights; each has its own AdamW); model FLOP utilisation against the fp32
  matmul roof sampled before the first step and after every step (on a shared machine a roof
  measured apart can read 2x off, and an MFU over 100% means the roof was mismeasured).
- torch.compile's compile time is bounded: it first compiles in a child process under a time
  limit, which fills inductor's on-disk cache (kept between runs); the timed process then
  compiles from that cache. A child that runs out of time is reported as "compile timed out".
- Peak memory of each side's step, each in its own fresh process (VmHWM from
  /proc/self/status: ru_maxrss can carry a parent's peak across fork+exec); the two probes run
  side by side, as nothing in them is timed.
- GPT-2 124M greedy generation with a KV cache, tokens/s, against transformers' GPT2LMHeadModel.
- The classic PyTorch MNIST example network's training step (conv 1->32->64 3x3, max-pool,
  dropout, two Linear layers, log-softmax + NLL, Adadelta), batch 64.

Run one memory probe by hand: `python scripts/bench_cases/scale.py rss mytorch 1`; one compile
probe: `python scripts/bench_cases/scale.py compile 1`.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH, SEQ = 2, 256
# The GPT-2 preset the section trains and samples ("gpt2" is the 124M model). bench.py --gpt2
# changes it (the driver's smoke test uses "tiny"); child processes get it on their command line.
PRESET = "gpt2"


def vmhwm_mib():
    """This process's peak resident memory in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("bench scale: no VmHWM line in /proc/self/status")


def matmul_roof_step(n=2048, calls=2):
    """(step, flops): `calls` float32 (n, n) @ (n, n) NumPy matmuls under the current BLAS
    threads, about 0.4 s on one quiet core. Sampled between the training steps, it is the
    roof those steps saw."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)

    def step():
        for _ in range(calls):
            np.matmul(a, a, out=out)
    return step, 2 * n ** 3 * calls


def _gflops(step, flops):
    start = time.perf_counter()
    step()
    return flops / (time.perf_counter() - start) / 1e9


def roof_gflops(step, flops, samples=3):
    """Median GFLOP/s of `samples` calls of a roof step, timed on their own."""
    return float(np.median([_gflops(step, flops) for _ in range(samples)]))


def gpt2_config():
    from zoo.gpt2 import GPTConfig
    return GPTConfig.preset(PRESET, block_size=1024, dropout=0.0)


def step_flops(cfg, n_params):
    """Model FLOPs of one training step: forward and backward, the optimizer not counted.

    Weights: each weight does one multiply-add (2 FLOPs) per token forward and two backward
    (the input's gradient and its own), so 6 * n_params * tokens. n_params leaves out the
    position embedding (a lookup, no matmul) and counts the tied wte / lm_head matrix once (its
    lookup is free, the head is a matmul). Attention: per token and layer, q @ K^T over T keys
    and att @ V cost 2 * T * n_embd FLOPs each forward, 3x that with backward, so
    12 * n_layer * T * n_embd per token, 12 * n_layer * T^2 * n_embd per sequence. The whole
    T x T matrix is counted, as nanoGPT and the PaLM paper's appendix do (a causal kernel may
    skip half); for GPT-2 124M at T=256 attention is 3.7% of the total. Biases, LayerNorm,
    GELU, softmax and the loss are left out (under 1%)."""
    tokens = BATCH * SEQ
    return 6 * n_params * tokens + 12 * cfg.n_layer * SEQ * cfg.n_embd * tokens


def _batch(cfg, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, cfg.vocab_size, (BATCH, SEQ + 1))
    return data[:, :-1], data[:, 1:]


def mytorch_gpt2_step():
    """(model, step) for mytorch's GPT-2; step() runs one AdamW training step."""
    import mytorch
    from zoo.gpt2 import GPT2
    cfg = gpt2_config()
    mytorch.manual_seed(0)
    model = GPT2(cfg)
    opt = model.configure_optimizers(learning_rate=1e-4)
    x, y = (mytorch.tensor(a) for a in _batch(cfg))
    return model, _train_step(model, x, y, opt)


def torch_gpt2_step(compiled=False, model=None, weights=None):
    """(model, step) for the torch baseline GPT-2 (same config), optionally compiled.

    `weights`: a mytorch state_dict to start from (the timed run passes mytorch's, so both
    sides train the same model on the same batch). Without it the baseline keeps torch's
    default init (N(0, 1) embeddings): its logits start in the hundreds, the softmax saturates
    and within 3-4 steps AdamW's state fills with subnormal floats that make every later torch
    step 2-4x slower on x86 (measured). Only the memory and compile probes, which time
    nothing, build it that way."""
    import torch

    from experiments.gpt2.baseline import GPT
    cfg = gpt2_config()
    if model is None:
        torch.manual_seed(0)
        model = GPT(cfg)
        if weights is not None:
            model.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                                   for k, v in weights.items()})
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    fwd = torch.compile(model) if compiled else model
    x, y = (torch.from_numpy(a) for a in _batch(cfg))
    return model, _train_step(fwd, x, y, opt)


def _train_step(forward, x, y, opt):
    """step(): one training step of `forward` (returning (logits, loss)) on the batch x, y."""
    def step():
        _, loss = forward(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def _set_threads(threads, side="torch"):
    """Limit BLAS (and, on the torch side, torch's own pool) to `threads`. The mytorch side
    never imports torch: its import alone is about 200 MiB of resident memory, which the RSS
    probe would otherwise charge to mytorch."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads, user_api="blas")
    if side == "torch":
        import torch
        torch.set_num_threads(threads)


def rss_probe(side, threads, steps=2):
    """Peak RSS (MiB) of a fresh process that builds `side`'s GPT-2 and runs `steps` training
    steps (the second one holds AdamW's state and the activations at once); prints one JSON
    line. The mytorch probe must not import torch (asserted: a stray import is ~200 MiB)."""
    _set_threads(threads, side)
    base = vmhwm_mib()
    if side == "mytorch":
        _, step = mytorch_gpt2_step()
    else:
        _, step = torch_gpt2_step()
    for _ in range(steps):
        step()
    if side == "mytorch" and "torch" in sys.modules:
        raise RuntimeError("bench scale: the mytorch RSS probe imported torch")
    print(json.dumps({"side": side, "peak_mib": vmhwm_mib(), "import_mib": base}))


def compile_probe(threads):
    """Compile the torch GPT-2's training step (its first call) in this process; prints one JSON
    line with the seconds it took. Run as a child of the bench, it fills inductor's on-disk
    cache for the timed process."""
    _set_threads(threads)
    _, step = torch_gpt2_step(compiled=True)
    start = time.perf_counter()
    step()
    print(json.dumps({"compile_s": time.perf_counter() - start}))


def _start_child(*args):
    """`python scale.py *args` in a new interpreter and its own process group (so a time-out
    can end inductor's compile workers too); stdout and stderr are captured."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    cmd = [sys.executable, os.path.abspath(__file__), *map(str, args), PRESET]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_child(proc, timeout, what):
    """The JSON line a child printed last, or None when it ran past `timeout` seconds (it is
    then killed with its whole process group). A child that fails raises RuntimeError."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"bench scale: {what} failed (exit {proc.returncode}):\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def measure_rss(threads, timeout=900):
    """{side: peak MiB} for mytorch and torch, each probe (`rss_probe`) in its own interpreter;
    the two run at the same time, since nothing in them is timed."""
    procs = {side: _start_child("rss", side, threads) for side in ("mytorch", "torch")}
    peaks = {}
    for side, proc in procs.items():
        probe = _wait_child(proc, timeout, f"rss probe for {side}")
        if probe is None:
            raise RuntimeError(f"bench scale: rss probe for {side} ran past {timeout} s")
        peaks[side] = probe["peak_mib"]
    return peaks


def warm_compile_cache(threads, timeout):
    """Seconds a child process took to compile the torch GPT-2 step (`compile_probe`), or None
    if it ran past `timeout` seconds and was killed. Inductor's cache directory is taken from
    TORCHINDUCTOR_CACHE_DIR, which the child inherits."""
    probe = _wait_child(_start_child("compile", threads), timeout, "torch.compile probe")
    return None if probe is None else probe["compile_s"]


def time_interleaved(steps, roof_step, roof_flops, flops, rounds):
    """Time each named training step `rounds` times, round by round, with a roof sample before
    the first step and after every step, so the roof samples are spread evenly over the
    stretch of time the steps ran in.

    Returns {name: {"s_per_step": median seconds, "mfu": (flops / s_per_step) / roof}} with
    roof the median of all the samples, and the samples (GFLOP/s). Pairing each step with only
    the two samples around it was tried: a 0.4 s sample is a snapshot of the load while a
    10 s step averages it, so the paired MFUs of two sides disagreed with their time ratio by
    up to 25% at load 4-8; one roof for all sides keeps MFU ratios equal to time ratios."""
    secs = {name: [] for name in steps}
    roofs = []
    for _ in range(rounds):
        roofs.append(_gflops(roof_step, roof_flops))
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            secs[name].append(time.perf_counter() - start)
            roofs.append(_gflops(roof_step, roof_flops))
    roof = float(np.median(roofs))
    sides = {}
    for name, s in secs.items():
        s_per_step = float(np.median(s))
        sides[name] = {"s_per_step": s_per_step, "mfu": flops / s_per_step / 1e9 / roof}
    return sides, roofs


def gpt2_training(rounds=3, compiled=True, threads=1, compile_timeout=300):
    """GPT-2 training steps: mytorch, torch eager and (with `compiled`) torch.compile, timed
    interleaved with the matmul roof. Returns the JSON dict of bench.py's "gpt2_step":
    "sides" ({name: s_per_step, mfu}), "flops_per_step", "roof_gflops" (before the steps, median
    of the interleaved samples, after), "compile" (status, child_s, in_run_s) and "model"."""
    compile_info = {"status": "not run (--quick)"}
    if compiled:
        try:
            child_s = warm_compile_cache(threads, compile_timeout)
        except RuntimeError as e:  # e.g. no C++ compiler: the other sides still run
            child_s, error = None, "compile failed: " + str(e).strip().splitlines()[-1]
        else:
            error = f"compile timed out after {compile_timeout:.0f} s (raise --compile-timeout)"
        if child_s is None:
            compiled = False
            compile_info = {"status": error}
        else:
            compile_info = {"status": "ok", "child_s": child_s}
    roof_step, roof_flops = matmul_roof_step()
    roof_before = roof_gflops(roof_step, roof_flops)
    m_model, m_step = mytorch_gpt2_step()
    t_model, t_step = torch_gpt2_step(weights=m_model.state_dict())  # before any step
    steps = {"mytorch": m_step, "torch eager": t_step}
    for step in steps.values():  # warm-up: optimizer state, numba caches, allocator
        step()
    if compiled:
        _, c_step = torch_gpt2_step(compiled=True, model=t_model)
        start = time.perf_counter()
        c_step()  # compiles from the child's cache; also its warm-up
        compile_info["in_run_s"] = time.perf_counter() - start
        steps["torch.compile"] = c_step
    cfg = gpt2_config()
    n_params = m_model.num_parameters()
    flops = step_flops(cfg, n_params)
    sides, roofs = time_interleaved(steps, roof_step, roof_flops, flops, rounds)
    roof_after = roof_gflops(roof_step, roof_flops)
    del m_model, t_model, steps
    model = f"GPT-2 {n_params / 1e6:.0f}M" + ("" if PRESET == "gpt2" else f" ({PRESET} preset)")
    return {"model": model, "batch": BATCH, "seq": SEQ, "sides": sides,
            "flops_per_step": flops, "compile": compile_info,
            "roof_gflops": {"before": roof_before, "interleaved": float(np.median(roofs)),
                            "after": roof_after, "samples": roofs}}


def gpt2_generation(new_tokens=24, prompt=16, rounds=2):
    """Greedy KV-cache generation tokens/s: mytorch vs transformers, same random weights. A
    two-token warm-up first (caches, lazy imports); then `rounds` timed calls per side,
    alternating, and the median."""
    import torch
    import transformers

    import mytorch
    from zoo.gpt2 import GPT2
    cfg = gpt2_config()
    mytorch.manual_seed(0)
    m_model = GPT2(cfg).eval()
    hf_cfg = transformers.GPT2Config(n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
                                     vocab_size=cfg.vocab_size, n_positions=cfg.block_size)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    ids = np.random.default_rng(0).integers(0, cfg.vocab_size, (1, prompt))
    m_ids, t_ids = mytorch.tensor(ids), torch.from_numpy(ids)

    def m_gen(n):
        m_model.generate(m_ids, n, temperature=0)

    def t_gen(n):
        with torch.no_grad():
            hf.generate(t_ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                        use_cache=True, pad_token_id=0)
    gens = {"mytorch": m_gen, "transformers": t_gen}
    for gen in gens.values():
        gen(2)
    secs = {name: [] for name in gens}
    for _ in range(rounds):
        for name, gen in gens.items():
            start = time.perf_counter()
            gen(new_tokens)
            secs[name].append(time.perf_counter() - start)
    return {name: new_tokens / float(np.median(s)) for name, s in secs.items()}


def mnist_example_nets():
    """PyTorch's examples/mnist network in mytorch and in torch, with the same weights."""
    import torch

    import mytorch

    def build(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(1, 32, 3, 1), lib.nn.ReLU(), lib.nn.Conv2d(32, 64, 3, 1), lib.nn.ReLU(),
            lib.nn.MaxPool2d(2), lib.nn.Dropout(0.25), lib.nn.Flatten(),
            lib.nn.Linear(9216, 128), lib.nn.ReLU(), lib.nn.Dropout(0.5), lib.nn.Linear(128, 10),
            lib.nn.LogSoftmax(dim=1))

    m, t = build(mytorch), build(torch)
    with torch.no_grad():
        for p, tp in zip(m.parameters(), t.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy()))
    return m, t


def mnist_example_pair(nets=None):
    """(mytorch_step, torch_step): one training step of the MNIST example network on the same
    batch (64 x 1 x 28 x 28), nll_loss of its log-probabilities, Adadelta(lr=1)."""
    import torch

    import mytorch
    import mytorch.nn.functional as F
    m, t = nets or mnist_example_nets()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    mx, my, tx, ty = mytorch.tensor(x), mytorch.tensor(y), torch.from_numpy(x), torch.from_numpy(y)
    m_opt, t_opt = mytorch.optim.Adadelta(m.parameters(), lr=1.0), \
        torch.optim.Adadelta(t.parameters(), lr=1.0)

    def m_step():
        m_opt.zero_grad()
        F.nll_loss(m(mx), my).backward()
        m_opt.step()

    def t_step():
        t_opt.zero_grad()
        torch.nn.functional.nll_loss(t(tx), ty).backward()
        t_opt.step()
    return m_step, t_step


if __name__ == "__main__":
    usage = "usage: scale.py rss mytorch|torch THREADS [PRESET] | scale.py compile THREADS [PRESET]"
    args = sys.argv[1:]
    if args[:1] == ["rss"] and len(args) in (3, 4) and args[1] in ("mytorch", "torch"):
        job, args = "rss", args[1:]
    elif args[:1] == ["compile"] and len(args) in (2, 3):
        job, args = "compile", ["torch"] + args[1:]
    else:
        sys.exit(usage)
    sys.path.insert(0, ROOT)
    PRESET = args[2] if len(args) == 3 else PRESET
    if job == "rss":
        rss_probe(args[0], int(args[1]))
    else:
        compile_probe(int(args[1]))
        # the cache is on disk by now; skip the interpreter's teardown (shutting inductor's
        # compile workers down took 4 s on a loaded 2-core machine)
        sys.stdout.flush()
        os._exit(0)
