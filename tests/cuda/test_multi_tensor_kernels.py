"""The multi-tensor Adam and SGD kernels (mytorch.optim.cuda_multi_tensor) against their
array-module references, bit for bit, and the references against torch.optim.

Without a GPU the kernels run in numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1) on NumPy arrays, whose addresses go through the kernels' tables as
device addresses would; on a GPU host the same tests launch them with CuPy arrays. Blocks of
8 threads over chunks of 16 elements keep the simulator quick: the sizes (0, 1, 7, 20, 33)
give tensors smaller than a block, than a chunk, across two and three chunks, and empty.
"""
import copy

import numpy as np
import pytest
import torch

from mytorch.optim import cuda_multi_tensor as mt
from tests.cuda.kernel_host import SIMULATED, dev, host  # skips without numba-cuda

SIZES = [1, 7, 33, 0, 20]
THREADS, CHUNK = 8, 16


def tensors(pd, gd, seed=0, sizes=SIZES):
    """Parameters, gradients, fp32 masters (float16 parameters only) and three zeroed state
    lists (Adam's m, v, max v or SGD's buffer), as lists of arrays."""
    rng = np.random.default_rng(seed)
    f = np.float64 if pd == np.float64 else np.float32
    ps = [rng.standard_normal(n).astype(pd) for n in sizes]
    gs = [rng.standard_normal(n).astype(gd) for n in sizes]
    masters = [p.astype(np.float32) for p in ps] if pd == np.float16 else None
    states = [[np.zeros(n, f) for n in sizes] for _ in range(3)]
    return {"params": ps, "grads": gs, "masters": masters, "states": states}


def on_device(t):
    return {k: None if v is None else [dev(a) for a in v] if k != "states"
            else [[dev(a) for a in s] for s in v] for k, v in t.items()}


def assert_same(got, want):
    """Every array of two `tensors` dicts equal to the last bit."""
    for key in ("params", "masters"):
        for a, b in zip(got[key] or [], want[key] or []):
            np.testing.assert_array_equal(host(a), b)
    for s, r in zip(got["states"], want["states"]):
        for a, b in zip(s, r):
            np.testing.assert_array_equal(host(a), b)


def new_grads(t, seed):
    rng = np.random.default_rng(seed)
    t["grads"] = [rng.standard_normal(g.shape).astype(g.dtype) for g in t["grads"]]


ADAM = [dict(weight_decay=0.1, decoupled=True),
        dict(weight_decay=0.05, max_exp_avg_sqs=True),
        dict(beta1=0.3, maximize=True),  # beta1 <= 0.5: torch.lerp's other formula
        dict(weight_decay=0.1, decoupled=True, maximize=True, max_exp_avg_sqs=True)]


@pytest.mark.parametrize("pd, gd", mt.PAIRS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("options", ADAM, ids=lambda o: "-".join(o))
def test_adam_kernel_matches_the_reference_bit_for_bit(pd, gd, options):
    ref = tensors(pd, gd)
    got = on_device(copy.deepcopy(ref))
    options = dict(dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8), **options)
    amsgrad = options.pop("max_exp_avg_sqs", False)
    for step in (1, 2, 3):
        new_grads(ref, step)
        got["grads"] = [dev(g) for g in ref["grads"]]
        steps = [step + k for k in range(len(SIZES))]  # a step count per tensor
        for t, run in ((got, mt.adam), (ref, mt.adam_reference)):
            m, v, vmax = t["states"]
            kw = dict(threads=THREADS, chunk=CHUNK) if run is mt.adam else {}
            run(t["params"], t["grads"], m, v, steps=steps, masters=t["masters"],
                max_exp_avg_sqs=vmax if amsgrad else None, **options, **kw)
    assert_same(got, ref)
    assert not np.array_equal(ref["params"][2], tensors(pd, gd)["params"][2])  # it moved


SGD = [dict(),
       dict(momentum=0.9, nesterov=True, weight_decay=0.01),
       dict(momentum=0.8, dampening=0.25, maximize=True)]


@pytest.mark.parametrize("pd, gd", mt.PAIRS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("options", SGD, ids=lambda o: "-".join(o) or "plain")
def test_sgd_kernel_matches_the_reference_bit_for_bit(pd, gd, options):
    ref = tensors(pd, gd)
    got = on_device(copy.deepcopy(ref))
    has_buf = options.get("momentum", 0) != 0
    for step in (1, 2, 3):
        new_grads(ref, step)
        got["grads"] = [dev(g) for g in ref["grads"]]
        first = [step == 1 or k == 3 for k in range(len(SIZES))]  # per tensor
        for t, run in ((got, mt.sgd), (ref, mt.sgd_reference)):
            kw = dict(threads=THREADS, chunk=CHUNK) if run is mt.sgd else {}
            run(t["params"], t["grads"], t["states"][0] if has_buf else None, first=first,
                masters=t["masters"], lr=0.05, **options, **kw)
    assert_same(got, ref)


def test_the_production_block_and_chunk_sizes():
    ref = tensors(np.float32, np.float32, sizes=[1025, 3])
    got = on_device(copy.deepcopy(ref))
    kw = dict(steps=[1, 1], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
              decoupled=True)
    mt.adam(got["params"], got["grads"], *got["states"][:2], **kw)
    mt.adam_reference(ref["params"], ref["grads"], *ref["states"][:2], **kw)
    assert_same(got, ref)


def test_the_chunk_table_covers_every_element_once():
    rows = [mt._row(n, None, None) for n in (0, 1, 16, 17, 33)]
    tensors_, chunks, count = mt._tables(np, rows, 16)
    assert tensors_.shape == (5, 8) and list(tensors_[:, 0]) == [0, 1, 16, 17, 33]
    assert count == 7
    assert chunks.tolist() == [[1, 0, 1], [2, 0, 16], [3, 0, 16], [3, 16, 17], [4, 0, 16],
                               [4, 16, 32], [4, 32, 33]]


# ---------------------------------------------------------------- references vs torch

TORCH_SIZES = [1, 7, 1025, 3]


def torch_run(name, ps, grads_per_step, **kw):
    tp = [torch.nn.Parameter(torch.tensor(p)) for p in ps]
    opt = getattr(torch.optim, name)(tp, **kw)
    for grads in grads_per_step:
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in tp]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", [
    ("AdamW", dict(weight_decay=0.1)), ("Adam", dict(weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(betas=(0.3, 0.9), maximize=True))])
def test_adam_reference_matches_torch(dtype, name, options):
    t = tensors(dtype, dtype, sizes=TORCH_SIZES)
    ps0 = [p.copy() for p in t["params"]]
    beta1, beta2 = options.get("betas", (0.9, 0.999))
    grads_per_step = []
    for step in range(1, 6):
        new_grads(t, step)
        grads_per_step.append([g.copy() for g in t["grads"]])
        m, v, vmax = t["states"]
        mt.adam_reference(t["params"], t["grads"], m, v, steps=[step] * len(TORCH_SIZES),
                          lr=1e-2, beta1=beta1, beta2=beta2, eps=1e-8,
                          weight_decay=options.get("weight_decay", 0.0),
                          decoupled=name == "AdamW", maximize=options.get("maximize", False),
                          max_exp_avg_sqs=vmax if options.get("amsgrad") else None)
    want = torch_run(name, ps0, grads_per_step, lr=1e-2, **options)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for got, w in zip(t["params"], want):
        np.testing.assert_allclose(got, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", SGD[1:] + [dict(momentum=0.5, weight_decay=0.1)],
                         ids=lambda o: "-".join(o))
def test_sgd_reference_matches_torch(dtype, options):
    t = tensors(dtype, dtype, sizes=TORCH_SIZES)
    ps0 = [p.copy() for p in t["params"]]
    grads_per_step = []
    for step in range(5):
        new_grads(t, step)
        grads_per_step.append([g.copy() for g in t["grads"]])
        mt.sgd_reference(t["params"], t["grads"], t["states"][0],
                         first=[step == 0] * len(TORCH_SIZES), lr=0.05, **options)
    want = torch_run("SGD", ps0, grads_per_step, lr=0.05, **options)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for got, w in zip(t["params"], want):
        np.testing.assert_allclose(got, w, rtol=tol, atol=tol)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_the_shapes_and_dtypes():
    t = on_device(tensors(np.float32, np.float32))
    ps, gs, (m, v, _) = t["params"], t["grads"], t["states"]
    kw = dict(steps=[1] * 5, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    with pytest.raises(TypeError, match=r"multi_tensor_adam: expected float16 .* got float32 "
                                        r"parameters with float16 gradients"):
        mt.adam(ps, [g.astype(np.float16) for g in gs], m, v, **kw)
    with pytest.raises(ValueError, match=r"tensor 2: exp_avg_sq is \(34,\) float32, expected "
                                         r"\(33,\) float32 for a \(33,\) float32 parameter"):
        mt.adam(ps, gs, m, v[:2] + [dev(np.zeros(34, np.float32))] + v[3:], **kw)
    with pytest.raises(ValueError, match="5 parameters but 4 grads"):
        mt.adam(ps, gs[:4], m, v, **kw)
    with pytest.raises(ValueError, match="tensor 1: exp_avg .* is not C-contiguous"):
        mt.adam(ps, gs, m[:1] + [dev(np.zeros(14, np.float32))[::2]] + m[2:], v, **kw)
    h = on_device(tensors(np.float16, np.float16))
    with pytest.raises(ValueError, match="float16 parameters need fp32 master copies"):
        mt.sgd(h["params"], h["grads"], first=[True] * 5, lr=0.1)
    with pytest.raises(ValueError, match=r"tensor 0: master is \(1,\) float16, expected "
                                         r"\(1,\) float32"):
        mt.sgd(h["params"], h["grads"], first=[True] * 5, lr=0.1,
               masters=[p.copy() for p in h["params"]])
    if SIMULATED:
        return
    with pytest.raises(TypeError, match="multi_tensor_sgd: expected CUDA arrays, got NumPy"):
        mt.sgd([np.ones(3, np.float32)], [np.ones(3, np.float32)], first=[True], lr=0.1)
