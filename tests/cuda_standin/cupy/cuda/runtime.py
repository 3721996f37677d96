"""Stand-in `cupy.cuda.runtime`: device count and properties of the pretend GPUs."""
from cupy import _core


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount():
    return _core.device_count()


def getDevice():
    return _core.current_device()


def setDevice(device):
    _core.set_current_device(device)


def deviceSynchronize():
    _core.count_sync()


def getDeviceProperties(device):
    if not 0 <= device < getDeviceCount():
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"CuPy stand-in (NumPy)", "totalGlobalMem": 80 * 2 ** 30,
            "major": 9, "minor": 0, "multiProcessorCount": 1}


def driverGetVersion():
    return 12080


def runtimeGetVersion():
    return 12080
