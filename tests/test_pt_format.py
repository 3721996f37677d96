"""PyTorch's .pt format both ways: mytorch.save -> torch.load(weights_only=True) and
torch.save -> mytorch.load, with a restricted unpickler that never runs code."""
import collections
import io
import os
import pickle
import zipfile

import ml_dtypes
import numpy as np
import pytest
import safetensors.torch
import torch

import mytorch
from mytorch.serialization import CheckpointError

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.bool_, ml_dtypes.bfloat16]


def _array(dtype, shape, seed=0):
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape) * 10)
    if np.dtype(dtype).kind == "u":
        a = np.abs(a, out=a)
    return a.astype(np.float32).astype(dtype) if dtype is ml_dtypes.bfloat16 else a.astype(dtype)


def _as_numpy(t):
    """torch tensor -> numpy, bfloat16 through ml_dtypes (numpy has no bfloat16 of its own)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _to_torch(a):
    if a.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 3, 4)])
def test_mytorch_tensors_load_in_torch(tmp_path, suffix, dtype, shape):
    a = _array(dtype, shape)
    path = tmp_path / f"t{suffix}"
    mytorch.save({"x": mytorch.tensor(a), "xs": [mytorch.tensor(a)]}, path)
    got = torch.load(path, weights_only=True)
    assert str(got["x"].dtype) == "torch." + np.dtype(dtype).name
    assert tuple(got["x"].shape) == shape
    np.testing.assert_array_equal(_as_numpy(got["x"]), a)
    np.testing.assert_array_equal(_as_numpy(got["xs"][0]), a)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 3, 4)])
def test_torch_tensors_load_in_mytorch(tmp_path, dtype, shape):
    a = _array(dtype, shape, seed=1)
    path = tmp_path / "t.pt"
    torch.save({"x": _to_torch(a), "t": (_to_torch(a),)}, path)
    got = mytorch.load(path)
    assert isinstance(got["x"], mytorch.Tensor) and got["x"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got["x"].numpy(), a)
    np.testing.assert_array_equal(got["t"][0].numpy(), a)


PLAIN = {"int": 3, "neg": -7, "big": 2 ** 70, "neg_big": -(2 ** 40), "float": 0.1,
         "inf": float("inf"), "str": "héllo", "empty": "", "none": None, "true": True,
         "false": False, "tuple": (1, (2.5, "x")), "list": [1, [2, []], {}],
         "int_keys": {0: "a", 7: "b"}, "tuple_key": {(1, 2): 3},
         "ordered": collections.OrderedDict([("b", 1), ("a", 2)])}


def test_plain_values_cross_both_ways(tmp_path):
    mytorch.save(PLAIN, tmp_path / "m.pt")
    got = torch.load(tmp_path / "m.pt", weights_only=True)
    assert got == PLAIN and type(got["ordered"]) is collections.OrderedDict
    assert type(got["tuple"]) is tuple and type(got["big"]) is int
    torch.save(PLAIN, tmp_path / "t.pt")
    back = mytorch.load(tmp_path / "t.pt")
    assert back == PLAIN and list(back["ordered"]) == ["b", "a"]
    assert type(back["tuple"][1]) is tuple


def test_views_and_shared_storage_both_ways(tmp_path):
    base = mytorch.tensor(np.arange(24, dtype=np.float32))
    grid = base.view(4, 6)
    obj = {"base": base, "grid_t": grid.t(), "slice": base[5:9], "tied_a": grid, "tied_b": grid,
           "strided": grid[:, ::2]}
    mytorch.save(obj, tmp_path / "m.pt")
    got = torch.load(tmp_path / "m.pt", weights_only=True)
    for k, v in obj.items():
        np.testing.assert_array_equal(got[k].numpy(), v.numpy(), err_msg=k)
    # one storage for views of one array, as torch.save writes them
    ptr = got["base"].untyped_storage().data_ptr()
    assert all(got[k].untyped_storage().data_ptr() == ptr for k in obj)
    assert len([n for n in zipfile.ZipFile(tmp_path / "m.pt").namelist() if "/data/" in n]) == 1
    got["base"][6] = 100.0
    assert got["slice"][1].item() == 100.0 and got["tied_b"][1, 0].item() == 100.0

    t = torch.arange(24.0)
    theirs = {"t": t, "view": t.view(4, 6).t(), "slice": t[3:7], "expanded": t[:3].expand(2, 3)}
    torch.save(theirs, tmp_path / "t.pt")
    back = mytorch.load(tmp_path / "t.pt")
    for k, v in theirs.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy(), err_msg=k)
    back["t"].data[4] = -1.0  # one storage on our side too
    assert back["slice"].numpy()[1] == -1.0 and back["view"].numpy()[4, 0] == -1.0


def test_file_is_torch_layout(tmp_path):
    mytorch.save({"w": mytorch.ones(3)}, tmp_path / "ckpt.pt")
    with zipfile.ZipFile(tmp_path / "ckpt.pt") as zf:
        names = zf.namelist()
        assert names[0] == "ckpt/data.pkl" and "ckpt/byteorder" in names
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
    # records are 64-byte aligned, so torch can even memory-map the file
    got = torch.load(tmp_path / "ckpt.pt", weights_only=True, mmap=True)
    np.testing.assert_array_equal(got["w"].numpy(), np.ones(3, np.float32))


def test_module_state_dict_loads_into_torch_module_and_back(tmp_path):
    model = mytorch.nn.Sequential(mytorch.nn.Linear(4, 8), mytorch.nn.BatchNorm1d(8),
                                  mytorch.nn.Linear(8, 2))
    model(mytorch.randn(5, 4))  # running stats and num_batches_tracked move
    mytorch.save(model.state_dict(), tmp_path / "m.pth")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8),
                                 torch.nn.Linear(8, 2))
    theirs.load_state_dict(torch.load(tmp_path / "m.pth", weights_only=True))
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    model.eval(), theirs.eval()
    np.testing.assert_allclose(theirs(torch.tensor(x)).detach().numpy(),
                               model(mytorch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)
    assert theirs[1].num_batches_tracked.item() == 1
    torch.save(theirs.state_dict(), tmp_path / "t.pth")
    fresh = mytorch.nn.Sequential(mytorch.nn.Linear(4, 8), mytorch.nn.BatchNorm1d(8),
                                  mytorch.nn.Linear(8, 2))
    fresh.load_state_dict(mytorch.load(tmp_path / "t.pth"))
    fresh.eval()
    np.testing.assert_array_equal(fresh(mytorch.tensor(x)).detach().numpy(),
                                  model(mytorch.tensor(x)).detach().numpy())


def test_parameter_and_dtype_and_device_objects_from_torch(tmp_path):
    torch.save({"p": torch.nn.Parameter(torch.ones(2)), "dtype": torch.float16,
                "dev": torch.device("cpu"), "size": torch.Size([2, 3]), "bytes": b"\x00\xffab"},
               tmp_path / "t.pt")
    got = mytorch.load(tmp_path / "t.pt")
    assert isinstance(got["p"], mytorch.nn.Parameter) and got["p"].requires_grad
    assert got["dtype"] == mytorch.float16 and got["size"] == (2, 3)
    assert got["dev"] == mytorch.device("cpu") and got["bytes"] == b"\x00\xffab"


# ---- a whole training checkpoint, as nanoGPT-style scripts write it ----

def _char_lm(lib, vocab=11, width=16):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Embedding(vocab, width), lib.nn.LayerNorm(width),
                             lib.nn.Linear(width, width), lib.nn.GELU(),
                             lib.nn.Linear(width, vocab))


def _init_like(ours, theirs):
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})


def _steps(lib, model, opt, batches):
    losses = []
    for x, y in batches:
        logits = model(lib.tensor(x))
        loss = lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               lib.tensor(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _batches(n, seed):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 11, (4, 6)), rng.integers(0, 11, (4, 6))) for _ in range(n)]


def _checkpoint(model, opt, iter_num, val_loss):
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "model_args": {"vocab_size": 11, "n_embd": 16, "bias": True, "dropout": 0.0},
            "iter_num": iter_num, "best_val_loss": val_loss,
            "config": {"learning_rate": 1e-3, "betas": (0.9, 0.95), "compile": False,
                       "init_from": "scratch", "wandb_run_name": None}}


@pytest.mark.parametrize("writer", ["mytorch", "torch"])
def test_training_checkpoint_resumes_on_the_other_side(tmp_path, writer):
    ours, theirs = _char_lm(mytorch), _char_lm(torch)
    _init_like(ours, theirs)
    ours_opt = mytorch.optim.AdamW(ours.parameters(), lr=1e-2, betas=(0.9, 0.95),
                                   weight_decay=0.1)
    theirs_opt = torch.optim.AdamW(theirs.parameters(), lr=1e-2, betas=(0.9, 0.95),
                                   weight_decay=0.1)
    first, then = _batches(3, 0), _batches(3, 1)
    np.testing.assert_allclose(_steps(mytorch, ours, ours_opt, first),
                               _steps(torch, theirs, theirs_opt, first), rtol=1e-5)
    path = tmp_path / "ckpt.pt"
    if writer == "mytorch":
        mytorch.save(_checkpoint(ours, ours_opt, 3, mytorch.tensor(2.5)), path)
        ck = torch.load(path, weights_only=True)
        model, opt, lib = _char_lm(torch), None, torch
        model.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95),
                                weight_decay=0.1)
        reference = _steps(mytorch, ours, ours_opt, then)
    else:
        torch.save(_checkpoint(theirs, theirs_opt, 3, torch.tensor(2.5)), path)
        ck = mytorch.load(path)
        model, lib = _char_lm(mytorch), mytorch
        model.load_state_dict(ck["model"])
        opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95),
                                  weight_decay=0.1)
        reference = _steps(torch, theirs, theirs_opt, then)
    opt.load_state_dict(ck["optimizer"])
    assert ck["iter_num"] == 3 and float(ck["best_val_loss"]) == 2.5
    assert ck["config"]["betas"] == (0.9, 0.95) and ck["config"]["wandb_run_name"] is None
    assert ck["model_args"] == {"vocab_size": 11, "n_embd": 16, "bias": True, "dropout": 0.0}
    np.testing.assert_allclose(_steps(lib, model, opt, then), reference, rtol=1e-5)


# ---- safety and bad files ----

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _zip_with_pickle(path, payload):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", payload)
        zf.writestr("evil/byteorder", "little")


def test_a_pickle_that_would_run_code_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    _zip_with_pickle(path, pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"evil.pt.*'(posix|os)\.system'"):
        mytorch.load(path)
    assert not (tmp_path / "pwned").exists()
    torch.save({"f": collections.Counter(a=1)}, tmp_path / "counter.pt")  # any non-allowed class
    with pytest.raises(pickle.UnpicklingError, match="'collections.Counter'"):
        mytorch.load(tmp_path / "counter.pt")


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    torch.save({"w": torch.arange(4.0)}, tmp_path / "t.pt")
    with zipfile.ZipFile(tmp_path / "t.pt") as zf:
        records = {n: zf.read(n) for n in zf.namelist()}
    pkl = records["t/data.pkl"]
    # the storage's element count (4) is a BININT1 right before BINPERSID; claim 2 instead
    i = pkl.index(b"K\x04tq")
    records["t/data.pkl"] = pkl[:i] + b"K\x02" + pkl[i + 2:]
    with zipfile.ZipFile(tmp_path / "bad.pt", "w") as zf:
        for n, data in records.items():
            zf.writestr(n.replace("t/", "bad/", 1), data)
    with pytest.raises(CheckpointError, match="reaches past its storage"):
        mytorch.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("how", ["truncate", "flip-data", "no-data-pkl"])
def test_corrupt_pt_files_raise(tmp_path, how):
    path = tmp_path / "c.pt"
    mytorch.save({"w": mytorch.ones(1000), "step": 4}, path)
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "flip-data":
        i = data.index(np.ones(4, np.float32).tobytes())
        data[i + 1] ^= 0x5A
        path.write_bytes(bytes(data))
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("c/other", b"x")
        path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="c.pt"):
        mytorch.load(path)


def test_legacy_torch_pickle_is_named_as_such(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="a PyTorch pickle in the legacy"):
        mytorch.load(tmp_path / "old.pt")


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object at 'a.b'"):
        mytorch.save({"a": {"b": object()}}, tmp_path / "x.pt")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        mytorch.save(loop, tmp_path / "x.pt")
    assert not os.listdir(tmp_path)


# ---- bfloat16 in safetensors ----

def test_bfloat16_safetensors_both_ways(tmp_path):
    a = _array(ml_dtypes.bfloat16, (3, 5))
    mytorch.save({"w": mytorch.tensor(a)}, tmp_path / "m.safetensors")
    got = safetensors.torch.load_file(tmp_path / "m.safetensors")
    assert got["w"].dtype == torch.bfloat16
    np.testing.assert_array_equal(_as_numpy(got["w"]), a)
    safetensors.torch.save_file({"w": _to_torch(a)}, tmp_path / "t.safetensors")
    back = mytorch.load(tmp_path / "t.safetensors")
    assert back["w"].dtype == np.dtype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(back["w"].numpy(), a)


def test_tensors_come_back_on_their_device(tmp_path, device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = mytorch.tensor(a, device=device)
    mytorch.save({"w": t, "row": t[1]}, tmp_path / "d.pt")
    got = torch.load(tmp_path / "d.pt", weights_only=True, map_location="cpu")
    np.testing.assert_array_equal(got["w"].numpy(), a)
    np.testing.assert_array_equal(got["row"].numpy(), a[1])
    back = mytorch.load(tmp_path / "d.pt")
    assert back["w"].device == t.device and back["row"].device == t.device
    np.testing.assert_array_equal(back["row"].cpu().numpy(), a[1])
    on_cpu = mytorch.load(tmp_path / "d.pt", map_location="cpu")
    assert on_cpu["w"].device == "cpu"
    np.testing.assert_array_equal(on_cpu["w"].numpy(), a)


def test_a_storage_claiming_more_bytes_than_its_record_is_refused(tmp_path):
    torch.save({"w": torch.arange(4.0)}, tmp_path / "t.pt")
    with zipfile.ZipFile(tmp_path / "t.pt") as zf:
        records = {n: zf.read(n) for n in zf.namelist()}
    pkl = records["t/data.pkl"]
    i = pkl.index(b"K\x04tq")  # the storage's element count: claim 2**40 elements
    records["t/data.pkl"] = pkl[:i] + b"\x8a\x06" + (2 ** 40).to_bytes(6, "little") + pkl[i + 2:]
    with zipfile.ZipFile(tmp_path / "big.pt", "w") as zf:
        for n, data in records.items():
            zf.writestr(n.replace("t/", "big/", 1), data)
    with pytest.raises(CheckpointError, match="holds 16 bytes, its tensors need 4398046511104"):
        mytorch.load(tmp_path / "big.pt")
