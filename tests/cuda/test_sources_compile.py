"""Every custom CUDA kernel compiles for the architectures we target, without a GPU: CuPy kernel
sources through NVRTC (from the nvidia-cuda-nvrtc wheel), numba-cuda kernels through NVVM."""
from pathlib import Path

import pytest

from tests import cuda_toolchain as tc

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mytorch", "miniddp", "zoo")

pytest.importorskip("nvidia.cuda_nvrtc")

SAXPY = r"""
extern "C" __global__ void saxpy(float a, const float* x, float* y, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
"""


def test_nvrtc_from_the_wheel():
    assert tc.nvrtc_version() >= (12, 0)


@pytest.mark.parametrize("arch", tc.ARCHS)
def test_a_kernel_compiles_for_each_target(arch):
    assert tc.nvrtc_compile(SAXPY, "saxpy.cu", arch) > 1000  # a real cubin, not an empty one


def test_a_broken_source_is_reported_with_the_compilers_message():
    broken = SAXPY.replace("y[i] = a * x[i]", "y[i] = a * undeclared[i]")
    with pytest.raises(tc.CompileError) as e:
        tc.nvrtc_compile(broken, "saxpy.cu", "sm_80")
    msg = str(e.value)
    assert msg.startswith("saxpy.cu for sm_80: NVRTC_ERROR_COMPILATION")
    assert 'saxpy.cu(4): error: identifier "undeclared" is undefined' in msg


def test_an_arch_the_compiler_does_not_know_is_an_error():
    with pytest.raises(tc.CompileError, match="NVRTC_ERROR_INVALID_OPTION"):
        tc.nvrtc_compile(SAXPY, "saxpy.cu", "sm_1")


SAMPLE = '''
import cupy
SQUARE = "y = x * x"
raw = cupy.RawKernel(r"""
extern "C" __global__ void twice(const float* x, float* y) { y[threadIdx.x] = 2 * x[threadIdx.x]; }
""", "twice")
square = cupy.ElementwiseKernel("T x", "T y", SQUARE, "square")
scaled = cupy.ElementwiseKernel("raw T x, float32 s", "T y", "y = x[i] * s", "scaled")
l2 = cupy.ReductionKernel("T x", "T y", "x * x", "a + b", "y = sqrt(a)", "0", "l2norm")
mod = cupy.RawModule(code="""extern "C" __global__ void k(int* p) { p[0] = 1; }""")
'''


def test_the_scan_finds_each_kind_of_kernel_and_compiles_it(tmp_path):
    path = tmp_path / "kernels.py"
    path.write_text(SAMPLE)
    found = tc.find_kernel_sources([path], tmp_path)
    assert [w for w, _ in found] == ["kernels.py:4 RawKernel", "kernels.py:7 ElementwiseKernel",
                                     "kernels.py:8 ElementwiseKernel",
                                     "kernels.py:9 ReductionKernel", "kernels.py:10 RawModule"]
    for where, source in found:
        assert tc.nvrtc_compile(source, where.replace(" ", "_"), "sm_80") > 0


def test_the_scan_reports_a_wrapped_kernel_that_does_not_compile(tmp_path):
    path = tmp_path / "kernels.py"
    path.write_text(SAMPLE.replace("y = x * x", "y = x * scale"))
    where, source = tc.find_kernel_sources([path], tmp_path)[1]
    with pytest.raises(tc.CompileError, match=r"error: identifier \"scale\" is undefined"):
        tc.nvrtc_compile(source, where, "sm_80")


def test_a_source_the_scan_cannot_read_is_an_error(tmp_path):
    path = tmp_path / "kernels.py"
    path.write_text("import cupy\ndef f(src):\n    return cupy.RawKernel(src, 'k')\n")
    with pytest.raises(tc.CompileError, match=r"kernels.py:3 RawKernel: argument 'code' is not"):
        tc.find_kernel_sources([path], tmp_path)


def test_every_cupy_kernel_in_the_packages_compiles():
    paths = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(paths) > 100
    errors = []
    for where, source in tc.find_kernel_sources(paths, ROOT):
        for arch in tc.ARCHS:
            try:
                tc.nvrtc_compile(source, where.split()[0], arch)
            except tc.CompileError as e:
                errors.append(str(e))
    assert not errors, "\n\n".join(errors)


def test_every_numba_cuda_kernel_compiles_for_each_target():
    pytest.importorskip("numba.cuda")
    from mytorch.ops import cuda_kernels
    results = tc.compile_numba_kernels(tc.ARCHS)
    errors = [f"{name} {sig} for {arch}: {err}" for name, sig, arch, _, err, _ in results if err]
    assert not errors, "\n".join(errors)
    # float16/32 kernels accumulate in float32: a float64 instruction is a typing slip that
    # costs 2-64x on a GPU (float32 / int widens to float64 in numba)
    slow = [(name, sig, arch) for name, sig, arch, _, _, f64 in results
            if f64 and "float64" not in sig]
    assert not slow, slow
    n_sigs = sum(len(builds) for builds in cuda_kernels.all_compile_targets().values())
    assert len(results) == n_sigs * len(tc.ARCHS) and n_sigs >= 30  # 10 kernels x 3 dtypes
    assert all(r[3] > 10000 for r in results)  # real PTX, not a stub
