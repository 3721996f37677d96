"""Stand-in `cupy.testing`: NumPy's assertions on device or host arrays."""
import numpy as np


def asnumpy(a):
    import cupy  # this module is imported while cupy itself is
    return cupy.asnumpy(a)


def assert_allclose(actual, desired, rtol=1e-7, atol=0, err_msg="", verbose=True):
    np.testing.assert_allclose(asnumpy(actual), asnumpy(desired), rtol=rtol, atol=atol,
                               err_msg=err_msg, verbose=verbose)


def assert_array_equal(x, y, err_msg="", verbose=True, strict=False):
    np.testing.assert_array_equal(asnumpy(x), asnumpy(y), err_msg=err_msg, verbose=verbose,
                                  strict=strict)
