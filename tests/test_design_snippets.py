"""The design document's own snippets, run as a user would paste them (tests/design_snippets/:
verbatim, plus the lines marked `# glue:`), with `numpy` in place of `cupy` without a GPU."""
import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import mytorch
from mytorch import nn, optim
from tests.design_snippets import _run

SNIPPETS = Path(__file__).resolve().parent / "design_snippets"
ROOT = SNIPPETS.parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
GPU = _run.gpu_available()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def _run_script(name, ranks=1, timeout=240):
    """Run a snippet in a fresh interpreter (or `ranks` MPI ranks); return its stdout."""
    cmd = [sys.executable, str(SNIPPETS / "_run.py"), str(SNIPPETS / name)]
    if ranks > 1:
        cmd = [str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "mpi4py"] + cmd[1:]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def mnist_on_disk():
    """The snippets read MNIST from "../../data" (the repository's data/): fetch it once."""
    from zoo.data.download import DATA_ROOT
    from zoo.data.mnist import MNIST
    if DATA_ROOT.resolve() != (ROOT / "data").resolve():
        pytest.skip("MYTORCH_DATA points elsewhere; the snippets read ../../data")
    try:
        MNIST(DATA_ROOT, train=True, download=True)
    except RuntimeError as e:
        pytest.skip(f"MNIST unavailable: {e}")


# ---- "MyTorch is a Fully Autograd Based System" ----

def test_autograd_example(capsys):
    scope = _run.run(SNIPPETS / "autograd.py")
    printed_c, printed_grad = capsys.readouterr().out.splitlines()
    # The document's outputs: "[9.], grad_fn=<PowBackward>, device=cuda:0" and "[6.]".
    assert "[9.]" in printed_c and "grad_fn=<PowBackward>" in printed_c
    assert printed_grad.startswith("tensor([6.]")
    assert ("cuda:0" in printed_c) == GPU
    np.testing.assert_array_equal(scope["a"].grad.numpy(), [6.0])
    np.testing.assert_array_equal(scope["c"].detach().numpy(), [9.0])
    # Beyond the document's shorthand, the print follows PyTorch's format.
    a = torch.tensor(np.ones((1,)), requires_grad=True)
    c = (a + 2) ** 2
    c.backward()
    want_c = str(c).replace("torch.", "mytorch.").replace("PowBackward0", "PowBackward")
    want_grad = str(a.grad).replace("torch.", "mytorch.")
    if not GPU:
        assert (printed_c, printed_grad) == (want_c, want_grad)


def test_basic_usage_matches_torch():
    # cp.array([1,2,3]) holds integers; like PyTorch, mytorch refuses gradients on them.
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor(np.array([1, 2, 3]), requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        _run.run(SNIPPETS / "basic_usage.py")
    t = mytorch.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    assert t.requires_grad and t.shape == (3,)


# ---- the MNIST model with its training and eval loop ----

def test_mnist_training_and_eval_loop(mnist_on_disk):
    out = _run_script("mnist.py")
    assert "(fc1): Linear(in_features=784, out_features=128, bias=True)" in out
    assert "(activation): Sigmoid()" in out
    history = [ast.literal_eval(line) for line in out.splitlines() if line.startswith("{")]
    assert len(history) == 2 and "Training Epoch 1" in out
    assert history[1]["train_loss"] < history[0]["train_loss"] - 0.2
    assert history[1]["eval_loss"] < math.log(10) - 0.3
    assert history[1]["eval_acc"] > 0.4  # chance is 0.1


# ---- the ConvNet ----

def _convnet_classes():
    src = (SNIPPETS / "convnet.py").read_text()
    ours = _run.run(SNIPPETS / "convnet.py")["ConvNet"]
    twin_src = (src.replace("import mytorch  # glue", "import torch as mytorch  # glue")
                .replace("import mytorch.nn as nn  # glue", "import torch.nn as nn  # glue"))
    assert twin_src.count("torch") >= 2
    scope = {"__name__": "convnet_torch"}
    exec(compile(twin_src, "convnet_torch", "exec"), scope)  # noqa: S102
    return ours, scope["ConvNet"]


def _np(t):
    return t.detach().cpu().numpy()


def _copy_weights(ours, theirs):
    theirs.load_state_dict({k: torch.from_numpy(np.array(_np(v)))
                            for k, v in ours.state_dict().items()})


def test_convnet_same_modules_as_torch():
    Ours, Theirs = _convnet_classes()
    ours, theirs = Ours(), Theirs()
    # conv1/bn1/drop1 assigned twice: registered once, in first-assignment order, as in torch.
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert tuple(p.shape) == tuple(q.shape), name
    assert "(conv1): Conv2d(3, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))" in repr(ours)
    assert "(drop1): Dropout(p=0.1, inplace=False)" in repr(ours)


def test_convnet_forward_backward_match_torch(device):
    Ours, Theirs = _convnet_classes()
    ours, theirs = Ours(), Theirs().double()
    ours = ours.double()
    _copy_weights(ours, theirs)
    ours = ours.to(device)
    x = np.random.randn(4, 3, 12, 12)
    for mode in ("train", "eval"):
        for m in (ours, theirs):
            getattr(m, mode)()
            m.drop1.p = m.drop2.p = 0.0  # dropout draws differ between libraries
        xo = mytorch.tensor(x, device=device, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        np.testing.assert_allclose(_np(yo), _np(yt), rtol=1e-6,
                                   atol=1e-8)
        (yo * yo).sum().backward()
        (yt * yt).sum().backward()
        np.testing.assert_allclose(_np(xo.grad), _np(xt.grad), rtol=1e-6, atol=1e-8)
        grads_t = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(_np(p.grad), _np(grads_t[name].grad), rtol=1e-6,
                                       atol=1e-8, err_msg=f"{mode} {name}")
            p.grad = grads_t[name].grad = None
    np.testing.assert_allclose(_np(ours.bn1.running_mean), _np(theirs.bn1.running_mean),
                               rtol=1e-6, atol=1e-10)


def test_convnet_chaining_conv1_into_conv2_fails_clearly():
    # The document's conv2 takes 3 channels, conv1 gives 32: torch raises too.
    Ours, Theirs = _convnet_classes()
    ours, theirs = Ours(), Theirs()
    with pytest.raises(RuntimeError):
        theirs.conv2(theirs.conv1(torch.zeros(2, 3, 8, 8)))
    with pytest.raises(RuntimeError, match=r"Conv2d.*3 channels.*\(2, 32, 4, 4\)"):
        ours.conv2(ours.conv1(mytorch.zeros(2, 3, 8, 8)))


@pytest.fixture
def torch_one_thread():
    # torch's thread pool crawls on a busy 2-core machine; one thread is enough here.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_convnet_trains_like_torch(mnist_on_disk, torch_one_thread):
    # 12 Adam steps on 64 digits (grey repeated to 3 channels): the same losses as the torch twin
    # from the same weights (dropout off since the draws differ), and falling.
    from zoo.data.mnist import MNIST
    train = MNIST(ROOT / "data", train=True)
    x = np.repeat(train.data[:64, None] / np.float32(255), 3, axis=1)  # (64, 3, 28, 28)
    y = train.targets[:64]
    Ours, Theirs = _convnet_classes()
    ours, theirs = Ours(), Theirs()
    _copy_weights(ours, theirs)
    runs = []
    for model, lib, opt_cls, loss_cls in ((ours, mytorch, optim.Adam, nn.CrossEntropyLoss),
                                          (theirs, torch, torch.optim.Adam,
                                           torch.nn.CrossEntropyLoss)):
        model.drop1.p = model.drop2.p = 0.0
        opt, loss_fn, losses = opt_cls(model.parameters(), lr=1e-2), loss_cls(), []
        for _ in range(12):
            loss = loss_fn(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
        runs.append(losses)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)
    assert runs[0][-1] < 0.9 * runs[0][0], runs[0]


# ---- the Attention module ----

def _attention_reference(model, x, mask):
    """The same weights through torch's scaled_dot_product_attention."""
    w = {k: torch.tensor(_np(v), requires_grad=True) for k, v in model.state_dict().items()}
    B, T, C = x.shape
    H = model.num_heads

    def heads(name):  # (B, H, T, D)
        return TF.linear(x, w[f"{name}.weight"], w[f"{name}.bias"]).reshape(
            B, T, H, C // H).transpose(1, 2)

    y = TF.scaled_dot_product_attention(heads("q_proj"), heads("k_proj"), heads("v_proj"),
                                        attn_mask=mask)
    y = TF.linear(y.transpose(1, 2).reshape(B, T, C), w["out_proj.weight"], w["out_proj.bias"])
    return y, w


@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding"])
@pytest.mark.parametrize("mode", ["eval", "train_p0"])
def test_attention_matches_torch_sdpa(mask_kind, mode, device):
    Attention = _run.run(SNIPPETS / "attention.py")["Attention"]
    B, T, C, H = 2, 5, 16, 4
    model = Attention(C, H) if mode == "eval" else Attention(C, H, attn_dropout_p=0.0)
    model = model.double()
    model.eval() if mode == "eval" else model.train()
    x = np.random.randn(B, T, C)
    mask = None
    if mask_kind == "causal":
        mask = np.triu(np.full((T, T), -np.inf), 1)
    elif mask_kind == "padding":  # the second sequence's last two tokens are padding
        mask = np.zeros((B, 1, T, T))
        mask[1, :, :, 3:] = -1e9
    xo = mytorch.tensor(x, device=device, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo = model.to(device)(xo, None if mask is None else mytorch.tensor(mask, device=device))
    yt, wt = _attention_reference(model, xt, None if mask is None else torch.tensor(mask))
    np.testing.assert_allclose(_np(yo), _np(yt), rtol=1e-7, atol=1e-9)
    g = np.random.randn(B, T, C)
    yo.backward(mytorch.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(xo.grad), _np(xt.grad), rtol=1e-7, atol=1e-9)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(_np(p.grad), _np(wt[name].grad), rtol=1e-7, atol=1e-9,
                                   err_msg=name)


def test_attention_dropout_only_in_training():
    Attention = _run.run(SNIPPETS / "attention.py")["Attention"]
    model = Attention(16, 4)  # the document's default attn_dropout_p=0.1
    assert model.attn_drop.p == 0.1 and model.proj_drop.p == 0.1
    x = mytorch.randn(2, 5, 16)
    model.eval()
    with mytorch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
        model.train()
        assert not np.array_equal(model(x).numpy(), model.eval()(x).numpy())


def test_attention_mask_shape_from_the_comment_fails_as_in_torch():
    # The document's comment says the mask is (B, T, T); added to (B, H, T, T) scores it does not
    # broadcast unless B == 1 (PyTorch refuses it too). (B, 1, T, T) and (T, T) masks work.
    Attention = _run.run(SNIPPETS / "attention.py")["Attention"]
    model = Attention(16, 4).eval()
    x = mytorch.randn(2, 5, 16)
    with pytest.raises(RuntimeError):
        torch.zeros(2, 4, 5, 5).add_(torch.zeros(2, 5, 5))
    with pytest.raises(RuntimeError, match=re.escape("(2, 4, 5, 5) and (2, 5, 5)")):
        model(x, mytorch.zeros(2, 5, 5))
    assert model(x[:1], mytorch.zeros(1, 5, 5)).shape == (1, 5, 16)


# ---- the Accelerator loop ----

def _accelerator_result(out):
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def _check_accelerator_run(out, world):
    r = _accelerator_result(out)
    assert out.count("MyTorchMNIST(") == 1  # accelerator.print: main rank only
    assert r["world"] == world and r["gathered"] == world  # gather_for_metrics(loss): one a rank
    assert r["steps"] == 2 * math.ceil(512 / (16 * world))  # each rank takes its shard
    assert r["seen"] == 128  # eval: every test sample once, gathered over ranks
    assert r["weight_spread"] == 0  # the ranks hold one model
    assert r["last"] < r["first"] - 0.2
    assert r["acc"] > 0.2  # chance is 0.1


def test_accelerator_loop_one_process(mnist_on_disk):
    _check_accelerator_run(_run_script("accelerator.py"), world=1)


@pytest.mark.mpi
def test_accelerator_loop_two_ranks(mnist_on_disk):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec not installed (pip install 'mytorch[dist]')")
    pytest.importorskip("mpi4py")
    _check_accelerator_run(_run_script("accelerator.py", ranks=2), world=2)


def test_is_main_process_reads_as_property_and_call():
    # HF Accelerate's property and the document's `accelerator.is_main_process()` both work.
    from miniddp.accelerate import Accelerator
    acc = Accelerator(device="cpu")
    assert acc.is_main_process and acc.is_main_process() is True
    assert acc.is_main_process == True
    assert acc.is_local_main_process and acc.is_local_main_process() is True


def test_prepared_loader_moves_collated_numpy_arrays_to_the_device():
    # The document's collate_fn returns numpy arrays; prepare() puts batches on the device.
    from miniddp.accelerate import Accelerator
    from mytorch.utils.data import DataLoader
    device = "cuda" if GPU else "cpu"
    acc = Accelerator(device=device)
    loader = acc.prepare(DataLoader(list(range(6)), batch_size=4,
                                    collate_fn=lambda b: (np.array(b, np.float32), np.array(b))))
    images, labels = next(iter(loader))
    assert mytorch.Tensor(images).device == device and mytorch.Tensor(labels).device == device
    np.testing.assert_array_equal(mytorch.Tensor(labels).cpu().numpy(), [0, 1, 2, 3])
