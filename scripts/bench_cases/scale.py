"""The "scale" section of scripts/bench.py: whole training steps and generation at real size.

- GPT-2 124M training step (B=2, T=256, AdamW): mytorch, torch eager and torch.compile, timed
  in one process with their steps interleaved (torch.compile wraps the eager model, so the two
  torch sides share weights and optimizer); model FLOP utilisation against the fp32 matmul roof
  timed between those steps (on a shared machine a roof measured apart can read 2x off).
- Peak memory of each side's step, each in its own fresh process (VmHWM from
  /proc/self/status: ru_maxrss can carry a parent's peak across fork+exec).
- GPT-2 124M greedy generation with a KV cache, tokens/s, against transformers' GPT2LMHeadModel.
- The classic PyTorch MNIST example network's training step (conv 1->32->64 3x3, max-pool,
  dropout, two Linear layers, log-softmax + NLL, Adadelta), batch 64.

Run one memory probe by hand: `python scripts/bench_cases/scale.py rss mytorch 1`.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH, SEQ = 2, 256


def vmhwm_mib():
    """This process's peak resident memory in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("bench scale: no VmHWM line in /proc/self/status")


def matmul_roof_step(n=2048, calls=4):
    """(step, flops): `calls` float32 (n, n) @ (n, n) NumPy matmuls under the current BLAS
    threads. Timed interleaved with the training steps, it is the roof those steps saw."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)

    def step():
        for _ in range(calls):
            np.matmul(a, a, out=out)
    return step, 2 * n ** 3 * calls


def gpt2_config():
    from zoo.gpt2 import GPTConfig
    return GPTConfig.preset("gpt2", block_size=1024, dropout=0.0)


def step_flops(cfg, n_params):
    """Model FLOPs of one training step: 6 * params * tokens plus attention's
    6 * 2 * n_layer * T * n_embd per token (forward QK^T and AV, backward twice that)."""
    tokens = BATCH * SEQ
    return 6 * n_params * tokens + 12 * cfg.n_layer * SEQ * cfg.n_embd * tokens


def _batch(cfg, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, cfg.vocab_size, (BATCH, SEQ + 1))
    return data[:, :-1], data[:, 1:]


def mytorch_gpt2_step():
    """(model, step) for mytorch's GPT-2 124M; step() runs one AdamW training step."""
    import mytorch
    from zoo.gpt2 import GPT2
    cfg = gpt2_config()
    mytorch.manual_seed(0)
    model = GPT2(cfg)
    opt = model.configure_optimizers(learning_rate=1e-4)
    x, y = (mytorch.tensor(a) for a in _batch(cfg))
    return model, _train_step(model, x, y, opt)


def torch_gpt2_step(compiled=False, model=None):
    """(model, step) for the torch baseline GPT-2 124M (same config), optionally compiled."""
    import torch

    from experiments.gpt2.baseline import GPT
    cfg = gpt2_config()
    if model is None:
        torch.manual_seed(0)
        model = GPT(cfg)
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


def rss_probe(side, threads, steps=2):
    """Peak RSS (MiB) of a fresh process that builds `side`'s GPT-2 124M and runs `steps`
    training steps; prints one JSON line."""
    import torch
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads, user_api="blas")
    torch.set_num_threads(threads)
    base = vmhwm_mib()
    if side == "mytorch":
        _, step = mytorch_gpt2_step()
    else:
        _, step = torch_gpt2_step()
    for _ in range(steps):
        step()
    print(json.dumps({"side": side, "peak_mib": vmhwm_mib(), "import_mib": base}))


def measure_rss(side, threads, timeout=600):
    """Run `rss_probe(side, threads)` in a new interpreter; returns its JSON dict."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    cmd = [sys.executable, os.path.abspath(__file__), "rss", side, str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"bench scale: rss probe for {side} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_steps(steps, rounds):
    """Median seconds per call of each named step, calls interleaved round by round."""
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def gpt2_training(rounds=3, compiled=True):
    """Seconds per GPT-2 124M step: mytorch, torch eager (and torch.compile), and the matmul
    roof ("roof", in GFLOP/s), all interleaved round by round."""
    roof_step, roof_flops = matmul_roof_step()
    m_model, m_step = mytorch_gpt2_step()
    t_model, t_step = torch_gpt2_step()
    steps = {"mytorch": m_step, "torch eager": t_step}
    compile_s = None
    if compiled:
        _, c_step = torch_gpt2_step(compiled=True, model=t_model)
        start = time.perf_counter()
        c_step()  # compiles forward and backward
        compile_s = time.perf_counter() - start
        steps["torch.compile"] = c_step
    for step in steps.values():  # warm-up: optimizer state, numba caches, allocator
        step()
    result = time_steps(dict(steps, roof=roof_step), rounds)
    result["roof"] = roof_flops / result["roof"] / 1e9
    cfg = gpt2_config()
    n_params = m_model.num_parameters()
    del m_model, t_model, steps
    return result, step_flops(cfg, n_params), compile_s


def gpt2_generation(new_tokens=32, prompt=16, rounds=2):
    """Greedy KV-cache generation tokens/s: mytorch vs transformers, same random weights."""
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

    def m_gen():
        m_model.generate(m_ids, new_tokens, temperature=0)

    def t_gen():
        with torch.no_grad():
            hf.generate(t_ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                        do_sample=False, use_cache=True, pad_token_id=0)
    m_gen(), t_gen()
    secs = time_steps({"mytorch": m_gen, "transformers": t_gen}, rounds)
    return {name: new_tokens / s for name, s in secs.items()}


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
    if len(sys.argv) != 4 or sys.argv[1] != "rss" or sys.argv[2] not in ("mytorch", "torch"):
        sys.exit("usage: scale.py rss mytorch|torch THREADS")
    sys.path.insert(0, ROOT)
    rss_probe(sys.argv[2], int(sys.argv[3]))
