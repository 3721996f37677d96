"""`make train-gpt2 GPUS=N` (device=auto): GPUs that CuPy cannot use stop the run with one line
saying how to install it; no GPU means N CPU ranks, said in one line; the report names the
torch build that ran the baseline. "GPUs present" is a fake nvidia-smi first on PATH."""
import os
import subprocess
import sys
import types

import pytest

from experiments import harness, report
from experiments.harness import ROOT, gpu_count
from tests import fake_nvidia_smi

pytestmark = pytest.mark.skipif(gpu_count() > 0, reason="a usable GPU is here")


def _train_gpt2_gpus2(tmp_path, path, pythonpath, device="auto"):
    # what `make train-gpt2 GPUS=2` runs (DEVICE defaults to auto when GPUS is given)
    env = dict(os.environ, PATH=path, PYTHONPATH=pythonpath)
    cmd = [sys.executable, "-m", "experiments", "gpt2", f"device={device}", "gpus=2",
           f"out={tmp_path / 'run'}", "wandb=disabled"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def _no_cupy(tmp_path):
    # a `cupy` package that fails to import, first on the path: a host without CuPy
    pkg = tmp_path / "nocupy" / "cupy"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('No module named cupy')\n")
    return str(pkg.parent)


def _path_with_gpus(tmp_path, gpus=2):
    fake = tmp_path / "bin"
    fake.mkdir()
    return fake_nvidia_smi.write(fake, gpus=gpus) + os.pathsep + os.environ["PATH"]


@pytest.mark.parametrize("requested", ["auto", "cuda"])  # DEVICE= unset (auto) or cuda
def test_gpus_without_cupy_stop_with_the_install_line(tmp_path, requested):
    proc = _train_gpt2_gpus2(tmp_path, _path_with_gpus(tmp_path),
                             os.pathsep.join([_no_cupy(tmp_path), str(ROOT)]), requested)
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "gpt2: 2 GPU(s) (NVIDIA H100 80GB HBM3), driver 570.86.15, CUDA 12.8 but CuPy is not "
        "installed: run `make setup GPU=1` to install CuPy and NCCL for this driver, or pass "
        "DEVICE=cpu to train on CPU ranks")
    assert proc.stdout == ""  # nothing started: no CPU ranks, no baseline
    assert not (tmp_path / "run").exists()


def test_gpus_with_an_unusable_cupy_stop_too(tmp_path):
    import cupy  # the real wheel imports here, and sees no GPU
    proc = _train_gpt2_gpus2(tmp_path, _path_with_gpus(tmp_path), str(ROOT))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert f"but CuPy {cupy.__version__} cannot use them" in proc.stderr
    assert "make setup GPU=1" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_no_gpu_runs_n_cpu_ranks_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: no GPU on this host
    commands = []

    class Stop(Exception):
        pass

    def stop_at_the_first_side(cmd, env):
        commands.append(cmd)
        raise Stop  # the command is all this test needs; no training

    monkeypatch.setattr(harness, "_run_side_process", stop_at_the_first_side)
    from experiments.mnist_mlp.run import EXPERIMENT
    with pytest.raises(Stop):
        harness.main(EXPERIMENT, ["device=auto", "gpus=2", f"out={tmp_path / 'run'}"])
    out = capsys.readouterr().out.splitlines()
    assert out == ["No GPU requested or none here: running 2 CPU ranks instead of GPUs."]
    cmd = commands[0]
    assert cmd[1:6] == ["-m", "miniddp.launch", "-n", "2", "-m"] and "device=cpu" in cmd


def _fake_torch(version, cuda, has_gpu):
    return types.SimpleNamespace(__version__=version, version=types.SimpleNamespace(cuda=cuda),
                                 cuda=types.SimpleNamespace(is_available=lambda: has_gpu))


def test_the_baseline_uses_a_cuda_torch_when_there_is_one(capsys):
    import torch
    assert harness.torch_build(torch) == ("CPU build" if torch.version.cuda is None
                                          else f"CUDA {torch.version.cuda} build")
    cuda_torch = _fake_torch("2.13.0+cu128", "12.8", True)
    assert harness.torch_build(cuda_torch) == "CUDA 12.8 build"
    assert harness.torch_device_for(cuda_torch, "cuda") == "cuda"
    assert harness.torch_device_for(cuda_torch, "cpu") == "cpu"
    assert capsys.readouterr().out == ""
    cpu_torch = _fake_torch("2.13.0+cpu", None, False)
    assert harness.torch_device_for(cpu_torch, "cuda") == "cpu"
    line = capsys.readouterr().out.strip()
    assert line.startswith("PyTorch baseline: torch 2.13.0+cpu (CPU build) sees no GPU, so the "
                           "baseline runs on the CPU; install a CUDA build of torch")


def test_the_report_says_which_torch_ran():
    env = {"torch": "2.13.0+cu128", "torch_build": "CUDA 12.8 build", "ran_on": "cuda",
           "torch_threads": 8}
    assert report._torch_line({"env": env}) == \
        "torch 2.13.0+cu128 (CUDA 12.8 build) on cuda, 8 threads"
    assert report._torch_line({"env": {"torch": "2.13", "torch_threads": 2}}) == \
        "torch 2.13, 2 threads"  # a log written before the build was recorded
