"""What the host's NVIDIA driver offers, read from `nvidia-smi`, and the pip packages that
give CuPy and NCCL for it (no system CUDA toolkit needed: every CUDA library comes as a wheel).

`make setup GPU=1` installs `install_plan(...)`; the experiments ask `probe()` whether GPUs
are present, so that a GPU host without CuPy stops with a clear line instead of running on
CPU ranks.
"""
import dataclasses
import re
import shutil
import subprocess

SUPPORTED_CUDA = (12, 13)  # the CUDA majors CuPy 14 ships wheels for
# The oldest Linux driver of each CUDA major, for a driver whose nvidia-smi prints no
# "CUDA Version" (very old nvidia-smi builds).
DRIVER_FOR_CUDA = ((13, 580), (12, 525))


@dataclasses.dataclass
class HostGPUs:
    """GPUs the driver reports: names (one per GPU), driver version, highest CUDA version."""
    names: list
    driver: str = ""
    cuda: tuple = None  # (major, minor), or None when unknown

    @property
    def count(self):
        return len(self.names)


def parse_cuda_version(smi_text):
    """(major, minor) from the "CUDA Version: 12.8" in nvidia-smi's header, or None."""
    m = re.search(r"CUDA Version\s*:\s*(\d+)\.(\d+)", smi_text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_driver_version(smi_text):
    """"570.86.15" from nvidia-smi's header ("Driver Version: 570.86.15"), or ""."""
    m = re.search(r"Driver Version\s*:\s*([\d.]+)", smi_text)
    return m.group(1) if m else ""


def parse_gpu_list(list_text):
    """GPU names from `nvidia-smi -L` ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)")."""
    return [m.group(1).strip() for m in re.finditer(r"^GPU \d+: (.*?)(?: \(UUID: [^)]*\))?$",
                                                      list_text, re.MULTILINE)]


def cuda_from_driver(driver):
    """The highest CUDA major a Linux driver version supports, or None."""
    m = re.match(r"(\d+)", driver or "")
    if not m:
        return None
    for major, oldest in DRIVER_FOR_CUDA:
        if int(m.group(1)) >= oldest:
            return (major, 0)
    return None


def probe(nvidia_smi="nvidia-smi", timeout=20):
    """The GPUs `nvidia-smi` reports, or None when there is no driver, no GPU or it fails."""
    exe = shutil.which(nvidia_smi)
    if exe is None:
        return None
    try:
        listed = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout)
        header = subprocess.run([exe], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = parse_gpu_list(listed.stdout) if listed.returncode == 0 else []
    if not names:
        return None
    driver = parse_driver_version(header.stdout)
    return HostGPUs(names, driver, parse_cuda_version(header.stdout) or cuda_from_driver(driver))


def choose_cuda_major(gpus, override=None):
    """The CUDA major to install for: `override` ("12" or "13") when given, else the driver's.

    Raises ValueError with the reason and the way out when there is nothing to go by or the
    driver is too old for CuPy's wheels.
    """
    if override not in (None, ""):
        if str(override) not in {str(v) for v in SUPPORTED_CUDA}:
            raise ValueError(f"CUDA={override}: use one of {', '.join(map(str, SUPPORTED_CUDA))}")
        return int(override)
    if gpus is None:
        raise ValueError("no NVIDIA GPU found (nvidia-smi is missing or lists no GPU); "
                         "pass CUDA=12 or CUDA=13 to install for another machine")
    if gpus.cuda is None:
        raise ValueError(f"cannot tell the CUDA version of driver {gpus.driver or '?'} from "
                         "nvidia-smi; pass CUDA=12 or CUDA=13")
    major = gpus.cuda[0]
    if major < SUPPORTED_CUDA[0]:
        raise ValueError(f"driver {gpus.driver} supports CUDA {gpus.cuda[0]}.{gpus.cuda[1]}; "
                         f"CuPy needs CUDA >= {SUPPORTED_CUDA[0]}: update the NVIDIA driver")
    return min(major, SUPPORTED_CUDA[-1])  # a newer driver runs the newest wheels we know


def cupy_package(major):
    return f"cupy-cuda{major}x"


def install_plan(major, installed=()):
    """(packages to uninstall, packages to install) for CUDA `major`.

    CuPy with its `ctk` extra brings NVRTC, cuBLAS, cuRAND, cuSOLVER, cuFFT and cuSPARSE as
    wheels; NCCL is its own wheel; numba-cuda (with NVVM for the major) runs the fused kernels
    of mytorch.ops.cuda_kernels. Another CUDA major's CuPy must go first, and ours with it:
    both write the same `cupy` package, so removing one breaks the other's files.
    """
    others = [cupy_package(m) for m in SUPPORTED_CUDA if m != major]
    remove = [p for p in others if p in set(installed)]
    if remove and cupy_package(major) in set(installed):
        remove.append(cupy_package(major))
    return remove, [f"{cupy_package(major)}[ctk]", f"nvidia-nccl-cu{major}",
                    f"numba-cuda[cu{major}]"]


def describe(gpus):
    """One line about the host's GPUs for logs and reports."""
    if gpus is None:
        return "no NVIDIA GPU (nvidia-smi missing or lists none)"
    cuda = f"CUDA {gpus.cuda[0]}.{gpus.cuda[1]}" if gpus.cuda else "CUDA ?"
    names = sorted(set(gpus.names))
    return f"{gpus.count} GPU(s) ({', '.join(names)}), driver {gpus.driver or '?'}, {cuda}"
