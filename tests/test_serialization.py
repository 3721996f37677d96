"""Checkpoints: round trips, interchange with PyTorch through safetensors, corruption, atomicity."""
import os
import pickle

import numpy as np
import pytest
import safetensors.torch
import torch
from safetensors.numpy import load_file as np_load_file

import mytorch
from mytorch import nn, optim, serialization
from mytorch.serialization import CheckpointError


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))


def _torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8),
                               torch.nn.Linear(8, 3))


def _train(model, opt, x, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((16, 4)).astype(np.float32)


def test_model_and_optimizer_round_trip(tmp_path):
    model = _mlp()
    opt = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
    x = mytorch.tensor(_x())
    _train(model, opt, x, 3)
    path = tmp_path / "ckpt.safetensors"
    mytorch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3,
                  "tag": "run-1", "hist": [1.5, float("nan"), None], "pair": (1, 2.0)}, path)
    ck = mytorch.load(path)
    assert ck["epoch"] == 3 and ck["tag"] == "run-1" and ck["pair"] == (1, 2.0)
    assert ck["hist"][0] == 1.5 and np.isnan(ck["hist"][1]) and ck["hist"][2] is None
    assert list(ck["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert ck["model"][k].dtype == v.dtype
        np.testing.assert_array_equal(ck["model"][k].numpy(), v.numpy())
    osd = opt.state_dict()
    assert set(ck["optim"]["state"]) == set(osd["state"])  # integer keys survive
    assert ck["optim"]["param_groups"] == osd["param_groups"]  # betas stay a tuple
    for i, s in osd["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(ck["optim"]["state"][i][k].numpy(), v.numpy())

    # Resuming from the checkpoint continues exactly like the uninterrupted run.
    model2 = _mlp()
    opt2 = optim.AdamW(model2.parameters(), lr=0.01, amsgrad=True)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optim"])
    _train(model, opt, x, 4)
    _train(model2, opt2, x, 4)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_mytorch_checkpoint_loads_into_torch(tmp_path):
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train(model, opt, mytorch.tensor(_x()), 2)  # moves BatchNorm's running statistics too
    model.eval()
    path = tmp_path / "mlp.safetensors"
    mytorch.save(model.state_dict(), path)
    sd = safetensors.torch.load_file(str(path))
    assert set(sd) == set(model.state_dict())
    tmodel = _torch_mlp()
    tmodel.load_state_dict(sd)  # strict: same keys, shapes and dtypes as torch's tree
    tmodel.eval()
    x = _x(1)
    np.testing.assert_allclose(model(mytorch.tensor(x)).detach().numpy(),
                               tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_torch_safetensors_loads_into_mytorch(tmp_path):
    tmodel = _torch_mlp()
    with torch.no_grad():
        tmodel[2].running_mean.uniform_(-1, 1)
        tmodel[2].running_var.uniform_(0.5, 2)
    tmodel.eval()
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(tmodel.state_dict(), str(path))
    model = _mlp()
    model.load_state_dict(mytorch.load(path))
    model.eval()
    x = _x(2)
    np.testing.assert_allclose(model(mytorch.tensor(x)).detach().numpy(),
                               tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_file_is_plain_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    mytorch.save({"w": mytorch.tensor(w).t(), "n": mytorch.tensor(7)}, path)  # non-contiguous
    arrays = np_load_file(str(path))
    np.testing.assert_array_equal(arrays["w"], w.T)
    assert arrays["n"].dtype == np.int64 and arrays["n"].shape == ()


def _corrupt(path, offset_from_end=None, offset=None, truncate=None):
    data = bytearray(path.read_bytes())
    if truncate is not None:
        data = data[:truncate]
    else:
        i = offset if offset is not None else len(data) - offset_from_end
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "truncate-header", "flip-data", "flip-structure",
                                 "garbage"])
def test_corrupt_files_raise(tmp_path, how):
    model = _mlp()
    path = tmp_path / "m.safetensors"
    mytorch.save({"model": model.state_dict(), "step": 5}, path)
    size = path.stat().st_size
    if how == "truncate":
        _corrupt(path, truncate=size - 10)
    elif how == "truncate-header":
        _corrupt(path, truncate=40)
    elif how == "flip-data":
        _corrupt(path, offset_from_end=3)
    elif how == "flip-structure":  # a byte of the JSON structure in the header
        header = path.read_bytes()[: 8 + int.from_bytes(path.read_bytes()[:8], "little")]
        _corrupt(path, offset=header.index(b"step") + 1)
    else:
        path.write_bytes(b"not a checkpoint at all")
    before = [p.detach().numpy().copy() for p in model.parameters()]
    with pytest.raises(CheckpointError, match="m.safetensors"):
        model.load_state_dict(mytorch.load(path)["model"])
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.detach().numpy())


def test_missing_file_and_bad_objects(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        mytorch.load(tmp_path / "nope.safetensors")
    with pytest.raises(TypeError, match="cannot store a object at 'a.b'"):
        mytorch.save({"a": {"b": object()}}, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    mytorch.save({"w": mytorch.ones(3)}, path)
    old = path.read_bytes()

    def broken_save_file(arrays, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        mytorch.save({"w": mytorch.zeros(3)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary left behind
    np.testing.assert_array_equal(mytorch.load(path)["w"].numpy(), np.ones(3, np.float32))


def test_failed_load_state_dict_leaves_model_unchanged():
    model = _mlp()
    sd = {k: mytorch.zeros(*v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}
    sd["3.weight"] = mytorch.zeros(4, 8)  # one bad shape, after good entries
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"3.weight.*\(4, 8\).*\(3, 8\)"):
        model.load_state_dict(sd)
    del sd["3.weight"]
    with pytest.raises(RuntimeError, match="missing keys: 3.weight"):
        model.load_state_dict(sd)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_map_location(tmp_path):
    path = tmp_path / "t.safetensors"
    mytorch.save({"a": [mytorch.ones(2)]}, path)
    assert mytorch.load(path, map_location="cpu")["a"][0].device == "cpu"
    assert mytorch.load(path, map_location={"cpu": "cpu"})["a"][0].device == "cpu"
    if mytorch.cuda.is_available():
        t = mytorch.load(path, map_location="cuda")["a"][0]
        assert t.device == "cuda:0"
        np.testing.assert_array_equal(t.cpu().numpy(), np.ones(2, np.float32))
    else:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mytorch.load(path, map_location="cuda")


@pytest.mark.parametrize("bad", ["file.safetensors", None, ["model"], 3])
def test_load_state_dict_rejects_what_is_not_a_mapping_as_torch(bad):
    with pytest.raises(TypeError) as theirs:
        _torch_mlp().load_state_dict(bad)
    with pytest.raises(TypeError) as ours:
        _mlp().load_state_dict(bad)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_state_dict_without_num_batches_tracked_loads_as_in_torch(affine):
    ours = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, affine=affine))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, affine=affine))
    ours(mytorch.randn(6, 4))
    ours(mytorch.randn(6, 4))
    old = {k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()
           if not k.endswith("num_batches_tracked")}  # as torch < 0.4.1 wrote it
    theirs[1].num_batches_tracked.fill_(5)
    fresh = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, affine=affine))
    fresh[1].num_batches_tracked.data[...] = 5
    their_result = theirs.load_state_dict(old, strict=True)
    our_result = fresh.load_state_dict({k: mytorch.tensor(v.numpy()) for k, v in old.items()},
                                       strict=True)
    assert tuple(our_result) == tuple(their_result) == ([], [])
    assert fresh[1].num_batches_tracked.item() == theirs[1].num_batches_tracked.item() == 5
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    assert "1.num_batches_tracked" not in old  # the caller's dict is not changed


def test_batchnorm_missing_count_with_current_layout_metadata_is_missing_as_in_torch(tmp_path):
    # torch's state_dict records layout version 2 for BatchNorm: then the key is really missing
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    sd = theirs.state_dict()
    del sd["1.num_batches_tracked"]
    with pytest.raises(RuntimeError, match="Missing key.*1.num_batches_tracked"):
        theirs.load_state_dict(sd)
    torch.save(sd, tmp_path / "new.pt")
    with pytest.raises(RuntimeError, match="missing keys: 1.num_batches_tracked"):
        _mlp_bn().load_state_dict(mytorch.load(tmp_path / "new.pt"))


def _mlp_bn():
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_state_dict_layout_versions_match_torch(tmp_path):
    ours, theirs = _mlp(), _torch_mlp()
    assert ours.state_dict()._metadata == theirs.state_dict()._metadata
    sd = ours.state_dict()
    del sd["2.num_batches_tracked"]  # a current-layout dict that lost the key: really missing
    with pytest.raises(RuntimeError, match="missing keys: 2.num_batches_tracked"):
        ours.load_state_dict(sd)
    mytorch.save(ours.state_dict(), tmp_path / "m.pt")  # the versions reach torch too
    assert torch.load(tmp_path / "m.pt", weights_only=True)._metadata == \
        theirs.state_dict()._metadata


def test_a_safetensors_header_length_that_starts_like_a_pickle_loads(tmp_path):
    # the header's length is the file's first 8 bytes, little-endian: a length of 0x..80
    # starts with the byte a pickle starts with, and must still load as safetensors
    from safetensors.numpy import save_file
    for n in range(1, 300):
        path = tmp_path / f"f{n}.safetensors"
        save_file({"w" * n: np.arange(3, dtype=np.float32)}, str(path))
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no key length gave a header length ending in 0x80")
    loaded = mytorch.load(path)
    assert loaded["w" * n].tolist() == [0.0, 1.0, 2.0]
    pickled = tmp_path / "plain.pt"
    pickled.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="is a pickle, not a zip"):
        mytorch.load(pickled)
