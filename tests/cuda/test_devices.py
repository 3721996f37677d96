"""GPU semantics as PyTorch's: the current device, device indices, random streams. They run
on a real GPU or on the CuPy stand-in (`make test-cuda-standin`: 2 stand-in GPUs)."""
import numpy as np
import pytest

import mytorch
from mytorch import nn

needs_cuda = pytest.mark.skipif(not mytorch.cuda.is_available(), reason="no CUDA GPU")
needs_2 = pytest.mark.skipif(mytorch.cuda.device_count() < 2, reason="needs 2 GPUs")


@pytest.fixture(autouse=True)
def _current_device_back():
    before = mytorch.cuda.current_device()
    yield
    if before is not None:
        mytorch.cuda.set_device(before)


@needs_2
def test_bare_cuda_means_the_current_device():
    assert mytorch.zeros(2, device="cuda").device == mytorch.device("cuda:0")
    mytorch.cuda.set_device(1)
    assert mytorch.cuda.current_device() == 1
    x = mytorch.ones(2, device="cuda")
    assert x.device == mytorch.device("cuda:1") and str(x.device) == "cuda:1"
    assert x.device == mytorch.device("cuda")  # "cuda" is the current device
    mytorch.cuda.set_device(0)
    with mytorch.cuda.device(1):
        assert mytorch.randn(3, device="cuda").device == mytorch.device("cuda:1")
        assert mytorch.tensor([1.0], device="cuda").device == mytorch.device("cuda:1")
    assert mytorch.cuda.current_device() == 0
    assert mytorch.zeros(1).cuda().device == mytorch.device("cuda:0")
    assert mytorch.zeros(1).cuda(1).device == mytorch.device("cuda:1")


@needs_2
@pytest.mark.parametrize("make", [
    lambda d: mytorch.zeros(2, 3, device=d), lambda d: mytorch.ones(4, device=d),
    lambda d: mytorch.full((2,), 3.0, device=d), lambda d: mytorch.empty(2, device=d),
    lambda d: mytorch.arange(5, device=d), lambda d: mytorch.linspace(0, 1, 4, device=d),
    lambda d: mytorch.eye(3, device=d), lambda d: mytorch.logspace(0, 1, 3, device=d),
    lambda d: mytorch.randn(2, device=d), lambda d: mytorch.rand(2, device=d),
    lambda d: mytorch.randint(0, 5, (3,), device=d), lambda d: mytorch.randperm(6, device=d),
    lambda d: mytorch.normal(0.0, 1.0, size=(3,), device=d),
    lambda d: mytorch.tensor([1, 2], device=d),
    lambda d: mytorch.zeros_like(mytorch.zeros(2, device=d)),
    lambda d: mytorch.bernoulli(mytorch.full((3,), 0.5, device=d)),
])
def test_factories_and_draws_honour_the_device_index(make):
    assert make("cuda:1").device == mytorch.device("cuda:1")  # while cuda:0 is current
    assert make("cuda:0").device == mytorch.device("cuda:0")


@needs_2
def test_ops_and_backward_run_on_their_inputs_device():
    x = mytorch.randn(3, 4, device="cuda:1", requires_grad=True)
    w = mytorch.randn(4, 2, device="cuda:1", requires_grad=True)
    y = ((x @ w).relu() * 2).sum()
    y.backward()
    assert y.device == mytorch.device("cuda:1")
    assert x.grad.device == mytorch.device("cuda:1") and w.grad.device == x.grad.device
    ref = np.ones((3, 2), np.float32) * 2 * (x.detach().cpu().numpy() @
                                             w.detach().cpu().numpy() > 0)
    np.testing.assert_allclose(w.grad.cpu().numpy(), x.detach().cpu().numpy().T @ ref,
                               rtol=1e-5)
    with pytest.raises(RuntimeError, match="same device"):
        x + mytorch.ones(4, device="cuda:0")
    z = x.to("cuda:0")  # a copy between GPUs carries the gradient back
    z.sum().backward()
    assert x.grad.device == mytorch.device("cuda:1")


@needs_2
def test_a_model_moved_to_cuda1_trains_like_on_the_cpu():
    def run(device):
        mytorch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 3))
        model.to(device)
        opt = mytorch.optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(0)
        x = mytorch.tensor(rng.standard_normal((16, 4)).astype(np.float32), device=device)
        t = mytorch.tensor(rng.integers(0, 3, 16), device=device)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), t)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        assert all(p.device == mytorch.device(device) for p in model.parameters())
        return losses, [p.detach().cpu().numpy() for p in model.parameters()]
    cpu_losses, cpu_params = run("cpu")
    gpu_losses, gpu_params = run("cuda:1")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    assert gpu_losses[-1] < gpu_losses[0]
    for a, b in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@needs_cuda
def test_randperm_on_cuda_is_a_permutation():
    for n in (0, 1, 7, 100):
        p = mytorch.randperm(n, device="cuda")
        assert p.device.type == "cuda" and p.dtype == mytorch.int64
        assert sorted(p.cpu().numpy().tolist()) == list(range(n))
    mytorch.manual_seed(3)
    a = mytorch.randperm(50, device="cuda").cpu().numpy()
    mytorch.manual_seed(3)
    np.testing.assert_array_equal(mytorch.randperm(50, device="cuda").cpu().numpy(), a)


@needs_2
def test_lazily_made_cuda_generators_agree_with_manual_seed():
    mytorch.random._cuda_generators.clear()
    mytorch.manual_seed(7)
    lazy = [mytorch.randn(4, device=f"cuda:{i}").cpu().numpy() for i in range(2)]
    mytorch.manual_seed(7)  # now both generators exist and are reseeded
    seeded = [mytorch.randn(4, device=f"cuda:{i}").cpu().numpy() for i in range(2)]
    for a, b in zip(lazy, seeded):
        np.testing.assert_array_equal(a, b)
    mytorch.cuda.manual_seed_all(11)
    c = mytorch.rand(3, device="cuda:1").cpu().numpy()
    mytorch.cuda.manual_seed_all(11)
    np.testing.assert_array_equal(mytorch.rand(3, device="cuda:1").cpu().numpy(), c)


@needs_cuda
def test_cuda_rng_state_round_trips():
    mytorch.manual_seed(1)
    mytorch.randn(5, device="cuda")
    state = mytorch.cuda.get_rng_state()
    drop = nn.Dropout(0.5)
    x = mytorch.ones(64, device="cuda")
    a = (mytorch.rand(3, device="cuda").cpu().numpy(), drop(x).cpu().numpy())
    mytorch.cuda.set_rng_state(state)
    b = (mytorch.rand(3, device="cuda").cpu().numpy(), drop(x).cpu().numpy())
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], mytorch.rand(3, device="cuda").cpu().numpy())
    states = mytorch.cuda.get_rng_state_all()
    assert len(states) == mytorch.cuda.device_count()
    mytorch.cuda.set_rng_state_all(states)


@needs_cuda
def test_generator_on_another_device_is_refused():
    g = mytorch.Generator("cpu").manual_seed(0)
    with pytest.raises(RuntimeError, match="generator on cpu"):
        mytorch.randn(2, device="cuda", generator=g)
    g = mytorch.Generator("cuda").manual_seed(0)
    assert mytorch.randn(2, generator=g).device.type == "cuda"


@needs_cuda
def test_bad_device_index_is_a_clear_error():
    n = mytorch.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"cuda:{n}: invalid device index"):
        mytorch.zeros(2, device=f"cuda:{n}")
    with pytest.raises(RuntimeError, match="invalid device index"):
        mytorch.cuda.set_device(n)
