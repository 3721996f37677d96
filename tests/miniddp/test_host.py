"""GPU detection from nvidia-smi and the install plan of `make setup GPU=1` (dry runs only)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from miniddp import host
from tests import fake_nvidia_smi

ROOT = Path(__file__).resolve().parents[2]

SMI_570 = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
"""
SMI_580 = "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: 13.0     |\n"
SMI_470 = "| NVIDIA-SMI 470.256.02   Driver Version: 470.256.02   CUDA Version: 11.4     |\n"
SMI_OLD_NO_CUDA = "| NVIDIA-SMI 535.54.03     Driver Version: 535.54.03    |\n"
LIST_2 = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-8e4b7e5a-0000-0000-0000-000000000000)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-8e4b7e5a-0000-0000-0000-000000000001)
"""
LIST_MIG = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5ba0d6-0000-0000-0000-000000000000)
  MIG 3g.20gb     Device  0: (UUID: MIG-0000)
"""


def test_versions_from_the_header():
    assert host.parse_cuda_version(SMI_570) == (12, 8)
    assert host.parse_cuda_version(SMI_580) == (13, 0)
    assert host.parse_cuda_version(SMI_OLD_NO_CUDA) is None
    assert host.parse_driver_version(SMI_570) == "570.86.15"
    assert host.parse_driver_version("NVIDIA-SMI has failed because it couldn't communicate") == ""


def test_gpu_list():
    assert host.parse_gpu_list(LIST_2) == ["NVIDIA H100 80GB HBM3"] * 2
    assert host.parse_gpu_list(LIST_MIG) == ["NVIDIA A100-SXM4-40GB"]  # MIG lines are not GPUs
    assert host.parse_gpu_list("No devices were found\n") == []
    assert host.parse_gpu_list("GPU 0: Tesla V100-SXM2-16GB\n") == ["Tesla V100-SXM2-16GB"]


def test_cuda_from_the_driver_version_alone():
    assert host.cuda_from_driver("580.65.06") == (13, 0)
    assert host.cuda_from_driver("535.54.03") == (12, 0)
    assert host.cuda_from_driver("470.256.02") is None
    assert host.cuda_from_driver("") is None


def test_choose_the_major_from_the_driver_or_the_override():
    gpus = host.HostGPUs(["A"], "570.86.15", (12, 8))
    assert host.choose_cuda_major(gpus) == 12
    assert host.choose_cuda_major(host.HostGPUs(["A"], "580.65.06", (13, 0))) == 13
    assert host.choose_cuda_major(host.HostGPUs(["A"], "999.1", (14, 2))) == 13  # newest known
    assert host.choose_cuda_major(gpus, "13") == 13
    assert host.choose_cuda_major(None, 12) == 12  # preparing a venv for another machine
    with pytest.raises(ValueError, match=r"CUDA=11: use one of 12, 13"):
        host.choose_cuda_major(gpus, "11")
    with pytest.raises(ValueError, match="no NVIDIA GPU found.*CUDA=12 or CUDA=13"):
        host.choose_cuda_major(None)
    with pytest.raises(ValueError, match=r"driver 470.256.02 supports CUDA 11.4.*update"):
        host.choose_cuda_major(host.HostGPUs(["K80"], "470.256.02", (11, 4)))
    with pytest.raises(ValueError, match="cannot tell the CUDA version"):
        host.choose_cuda_major(host.HostGPUs(["A"], "", None))


def test_install_plan():
    assert host.install_plan(12) == ([], ["cupy-cuda12x[ctk]", "nvidia-nccl-cu12",
                                          "numba-cuda[cu12]"])
    assert host.install_plan(13, {"numpy"}) == ([], ["cupy-cuda13x[ctk]", "nvidia-nccl-cu13",
                                                     "numba-cuda[cu13]"])
    # the test extra's cupy-cuda12x on a CUDA 13 host: both CuPy wheels write `cupy/`
    assert host.install_plan(13, {"cupy-cuda12x"})[0] == ["cupy-cuda12x"]
    assert host.install_plan(13, {"cupy-cuda12x", "cupy-cuda13x"})[0] == \
        ["cupy-cuda12x", "cupy-cuda13x"]


def test_probe_reads_a_fake_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_nvidia_smi.write(tmp_path, gpus=2, cuda="12.4"))
    gpus = host.probe()
    assert gpus.count == 2 and gpus.cuda == (12, 4) and gpus.driver == "570.86.15"
    assert host.describe(gpus) == "2 GPU(s) (NVIDIA H100 80GB HBM3), driver 570.86.15, CUDA 12.4"


def test_probe_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert host.probe() is None
    monkeypatch.setenv("PATH", fake_nvidia_smi.write(tmp_path, gpus=0))  # a driver, no GPU
    assert host.probe() is None


def test_probe_falls_back_to_the_driver_version(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_nvidia_smi.write(tmp_path, driver="580.65.06", cuda=None))
    assert host.probe().cuda == (13, 0)


def _setup_gpu(tmp_path, *args, **fake):
    path = fake_nvidia_smi.write(tmp_path, **fake) if fake else str(tmp_path)
    env = dict(os.environ, PATH=path + os.pathsep + os.path.dirname(sys.executable))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "setup_gpu.py"), "--dry-run",
                           *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("cuda, major", [("12.8", 12), ("13.0", 13)])
def test_setup_dry_run_picks_the_driver_major(tmp_path, cuda, major):
    r = _setup_gpu(tmp_path, gpus=2, cuda=cuda)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"setup-gpu: 2 GPU(s) (NVIDIA H100 80GB HBM3), driver 570.86.15, CUDA {cuda}"
    assert f"setup-gpu: CUDA {major} (from the driver)" in lines
    install = [x for x in lines if " install " in x]
    assert len(install) == 1
    assert install[0].endswith(f"-m pip install -q cupy-cuda{major}x[ctk] nvidia-nccl-cu{major} "
                               f"numba-cuda[cu{major}]")
    # this venv has the test extra's cupy-cuda12x: a CUDA 13 install removes it first
    assert any(" uninstall -y -q cupy-cuda12x" in x for x in lines) == (major == 13)


def test_setup_dry_run_override_and_errors(tmp_path):
    r = _setup_gpu(tmp_path, "--cuda", "13")  # no GPU here: the override alone decides
    assert r.returncode == 0, r.stderr
    assert "setup-gpu: CUDA 13 (CUDA= given)" in r.stdout
    r = _setup_gpu(tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == ("setup-gpu: no NVIDIA GPU found (nvidia-smi is missing or lists "
                                "no GPU); pass CUDA=12 or CUDA=13 to install for another machine")
    r = _setup_gpu(tmp_path, gpus=1, driver="470.256.02", cuda="11.4")
    assert r.returncode == 1 and "CuPy needs CUDA >= 12: update the NVIDIA driver" in r.stderr


def test_make_setup_gpu_runs_the_installer_once(tmp_path):
    venv = tmp_path / "venv"
    make = ["make", "-n", "-C", str(ROOT), "setup", f"VENV={venv}"]
    plain = subprocess.run(make, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and "setup_gpu.py" not in plain.stdout
    gpu = subprocess.run(make + ["GPU=1", "CUDA=13"], capture_output=True, text=True, timeout=60)
    assert f"{venv}/bin/python scripts/setup_gpu.py --cuda 13" in gpu.stdout.splitlines()
    assert f"touch {venv}/.installed-gpu13" in gpu.stdout.splitlines()  # not rerun next time
