"""PyTorch's checkpoint format (what `torch.save` writes), both ways, without importing torch.

A `.pt` file is an uncompressed zip holding `<archive>/data.pkl` (a protocol-2 pickle of the
object in which every tensor is a call to `torch._utils._rebuild_tensor_v2` on a persistent
storage id), one `<archive>/data/<key>` record of raw little-endian bytes per storage, and a few
small version records.

Writing emits the pickle opcodes directly: Python's pickler can only name globals it can import,
and mytorch never imports torch. Reading uses a restricted unpickler that rebuilds tensors and
plain containers only; any other global is refused by name, so a checkpoint can never run code.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from mytorch import backend
from mytorch.tensor import Tensor

ALIGNMENT = 64  # torch aligns every storage record to 64 bytes (so it can mmap them)

# numpy dtype name -> the name of torch's typed storage (and of torch's dtype)
_STORAGES = {
    "float64": ("DoubleStorage", "float64"),
    "float32": ("FloatStorage", "float32"),
    "float16": ("HalfStorage", "float16"),
    "bfloat16": ("BFloat16Storage", "bfloat16"),
    "complex64": ("ComplexFloatStorage", "complex64"),
    "complex128": ("ComplexDoubleStorage", "complex128"),
    "int64": ("LongStorage", "int64"),
    "int32": ("IntStorage", "int32"),
    "int16": ("ShortStorage", "int16"),
    "int8": ("CharStorage", "int8"),
    "uint8": ("ByteStorage", "uint8"),
    "bool": ("BoolStorage", "bool"),
}
_TORCH_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16",
                        "long": "int64", "int": "int32", "short": "int16",
                        "cfloat": "complex64", "cdouble": "complex128"}


def _np_dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


_BY_STORAGE = {storage: dtype for dtype, (storage, _) in _STORAGES.items()}


# ---------------------------------------------------------------- writing

class _Writer:
    """Protocol-2 pickle opcodes for nested containers of tensors and plain values."""

    def __init__(self):
        self.out = io.BytesIO()
        self.storages = {}  # key -> contiguous CPU array holding the storage's bytes
        self._keys = {}  # id(root array) -> storage key
        self._alive = []  # keeps arrays whose id() is a key above alive until the write ends
        self._stack = set()

    def pickle(self, obj):
        self.out.write(pickle.PROTO + b"\x02")
        self._save(obj, "<root>")
        self.out.write(pickle.STOP)
        return self.out.getvalue()

    def _op(self, *parts):
        for p in parts:
            self.out.write(p)

    def _global(self, module, name):
        self._op(pickle.GLOBAL, f"{module}\n{name}\n".encode())

    def _save(self, obj, where):
        if obj is None:
            self._op(pickle.NONE)
        elif isinstance(obj, (bool, np.bool_)):
            self._op(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif isinstance(obj, (int, np.integer)):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            self._op(pickle.BINFLOAT, struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            data = obj.encode("utf-8", "surrogatepass")
            self._op(pickle.BINUNICODE, struct.pack("<I", len(data)), data)
        elif isinstance(obj, Tensor) or backend.is_array(obj):
            self._tensor(obj.data if isinstance(obj, Tensor) else obj, where)
        elif isinstance(obj, np.dtype) and obj.name in _STORAGES:
            self._global("torch", _STORAGES[obj.name][1])
        elif isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._stack:
                raise ValueError(f"mytorch.save: '{where}' contains itself; checkpoints must "
                                 f"be trees")
            self._stack.add(id(obj))
            self._container(obj, where)
            self._stack.discard(id(obj))
        else:
            raise TypeError(f"mytorch.save: cannot store a {type(obj).__name__} at '{where}'; "
                            f"checkpoints hold nested dicts, lists and tuples of tensors, "
                            f"numbers, strings, bools and None")

    def _int(self, v):
        if 0 <= v < 256:
            self._op(pickle.BININT1, bytes([v]))
        elif 0 <= v < 65536:
            self._op(pickle.BININT2, struct.pack("<H", v))
        elif -2 ** 31 <= v < 2 ** 31:
            self._op(pickle.BININT, struct.pack("<i", v))
        else:
            data = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            if len(data) > 255:
                raise ValueError(f"mytorch.save: integer {v} is too large")
            self._op(pickle.LONG1, bytes([len(data)]), data)

    def _container(self, obj, where):
        if isinstance(obj, dict):
            if isinstance(obj, collections.OrderedDict):
                self._global("collections", "OrderedDict")
                self._op(pickle.EMPTY_TUPLE, pickle.REDUCE)
            else:
                self._op(pickle.EMPTY_DICT)
            if obj:
                self._op(pickle.MARK)
                for k, v in obj.items():
                    self._save(k, where)
                    self._save(v, f"{where}.{k}" if where != "<root>" else str(k))
                self._op(pickle.SETITEMS)
            metadata = getattr(obj, "_metadata", None)
            if isinstance(obj, collections.OrderedDict) and metadata is not None:
                # a state dict's layout versions, kept as torch keeps them
                self._op(pickle.EMPTY_DICT)
                self._save("_metadata", where)
                self._save(metadata, where)
                self._op(pickle.SETITEM, pickle.BUILD)
        elif isinstance(obj, list):
            self._op(pickle.EMPTY_LIST)
            if obj:
                self._op(pickle.MARK)
                for i, v in enumerate(obj):
                    self._save(v, f"{where}[{i}]")
                self._op(pickle.APPENDS)
        else:
            self._op(pickle.MARK)
            for i, v in enumerate(obj):
                self._save(v, f"{where}[{i}]")
            self._op(pickle.TUPLE)

    def _tensor(self, arr, where):
        if arr.dtype.name not in _STORAGES:
            raise TypeError(f"mytorch.save: tensor '{where}' has dtype {arr.dtype}, which "
                            f"PyTorch's format has no storage for")
        location = str(backend.device_of(arr))
        key, root, offset = self._storage(arr)
        itemsize = arr.dtype.itemsize
        if root is None:  # its own contiguous storage
            stride = _contiguous_strides(arr.shape)
        else:
            stride = tuple(s // itemsize for s in arr.strides)
        storage_name = _STORAGES[arr.dtype.name][0]
        self._global("torch._utils", "_rebuild_tensor_v2")
        self._op(pickle.MARK, pickle.MARK)
        self._save("storage", where)
        self._global("torch", storage_name)
        self._save(key, where)
        self._save(location, where)
        self._int(self.storages[key].size)
        self._op(pickle.TUPLE, pickle.BINPERSID)
        self._int(offset)
        self._save(tuple(int(n) for n in arr.shape), where)
        self._save(stride, where)
        self._op(pickle.NEWFALSE)
        self._global("collections", "OrderedDict")
        self._op(pickle.EMPTY_TUPLE, pickle.REDUCE, pickle.TUPLE, pickle.REDUCE)

    def _storage(self, arr):
        """(key, root, element offset): a CPU array viewing part of a larger one keeps pointing
        into that one's storage, as torch's views do; anything else gets its own storage."""
        if isinstance(arr, np.ndarray):
            root = arr
            while isinstance(root.base, np.ndarray):
                root = root.base
            shared = (root is not arr and root.dtype == arr.dtype and root.flags.c_contiguous
                      and all(s >= 0 and s % arr.itemsize == 0 for s in arr.strides))
            if shared:
                offset = (arr.__array_interface__["data"][0]
                          - root.__array_interface__["data"][0]) // arr.itemsize
                return self._key(root, root.reshape(-1)), root, offset
        if id(arr) in self._keys:  # the same array twice (tied weights)
            return self._keys[id(arr)], None, 0
        flat = backend.to_device(arr, "cpu")
        flat = (flat if flat.flags.c_contiguous else flat.copy(order="C")).reshape(-1)
        return self._key(arr, flat), None, 0

    def _key(self, owner, flat):
        if id(owner) not in self._keys:
            key = str(len(self.storages))
            self._keys[id(owner)] = key
            self.storages[key] = flat
            self._alive.append(owner)
        return self._keys[id(owner)]


def _contiguous_strides(shape):
    strides, n = [], 1
    for d in reversed(shape):
        strides.append(n)
        n *= int(d)
    return tuple(reversed(strides))


def write(obj, f, archive):
    """Write `obj` to the file `f` (a path or binary file) in torch.save's zip layout, its
    records under `archive/`."""
    writer = _Writer()
    data_pkl = writer.pickle(obj)
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        _record(zf, f"{archive}/data.pkl", data_pkl)
        _record(zf, f"{archive}/.format_version", b"1")
        _record(zf, f"{archive}/.storage_alignment", str(ALIGNMENT).encode())
        _record(zf, f"{archive}/byteorder", b"little")
        for key, flat in writer.storages.items():
            if flat.dtype.byteorder == ">":
                flat = flat.astype(flat.dtype.newbyteorder("<"))
            _record(zf, f"{archive}/data/{key}", memoryview(flat.view(np.uint8)), align=True)
        _record(zf, f"{archive}/version", b"3\n")


def _record(zf, name, data, align=False):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(data)
    info.CRC = info.compress_size = 0  # filled in by zipfile when the record is closed
    if align:
        # pad the local header's extra field so that the record's bytes start aligned
        zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
        start = zf.fp.tell() + len(info.FileHeader(zip64)) + 4
        pad = -start % ALIGNMENT
        info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # "FB", as torch pads
    with zf.open(info, "w") as out:
        chunk = 1 << 24
        for i in range(0, len(data), chunk):
            out.write(data[i:i + chunk])


# ---------------------------------------------------------------- reading

class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    numel = int(np.prod(size)) if size else 1
    if numel == 0:
        arr = storage[:0].reshape(size)
    else:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if storage_offset < 0 or min(stride, default=0) < 0 or last >= storage.size:
            raise ValueError(f"a tensor of size {list(size)}, stride {list(stride)} and offset "
                             f"{storage_offset} reaches past its storage of {storage.size} "
                             f"elements")
        if stride == _contiguous_strides(size):
            arr = storage[storage_offset:storage_offset + numel].reshape(size)
        else:
            xp = backend.array_module(storage)
            arr = xp.lib.stride_tricks.as_strided(
                storage[storage_offset:], size, tuple(s * storage.itemsize for s in stride))
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    from mytorch.nn.parameter import Parameter
    return Parameter(data, requires_grad=requires_grad)


def _encode_latin1(text, encoding):
    # protocol 2 pickles bytes as _codecs.encode(str, 'latin1')
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _torch_device(kind, index=None):
    return backend.device(kind, index) if index is not None else backend.device(kind)


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): tuple,
    ("torch", "device"): _torch_device,
    ("_codecs", "encode"): _encode_latin1,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, load_storage):
        super().__init__(f)
        self._load_storage = load_storage

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == "torch" and name in _BY_STORAGE:
            return _StorageType(_np_dtype(_BY_STORAGE[name]))
        if module == "torch" and name == "UntypedStorage":
            return _StorageType(np.dtype(np.uint8))
        if module == "torch":
            dtype = _TORCH_DTYPE_ALIASES.get(name, name)
            if dtype in _STORAGES:
                return _np_dtype(dtype)
        raise pickle.UnpicklingError(
            f"refusing the global '{module}.{name}': only tensors, numbers, strings and plain "
            f"containers are loaded (a weights-only load, as torch.load(weights_only=True))")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, storage_type, key, location, numel = pid
        return self._load_storage(str(key), storage_type.dtype, int(numel), str(location))


def read(path, place):
    """Load a torch.save zip file; `place(array, saved_location)` puts each storage on its
    device. Raises pickle.UnpicklingError naming any global that is not allowed."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError("no '<archive>/data.pkl' record: a zip file, but not one written "
                             "by torch.save")
        prefix = pkl[0][:-len("data.pkl")]
        if prefix + "byteorder" in names and zf.read(prefix + "byteorder") != b"little":
            raise ValueError("big-endian checkpoints are not supported")
        storages = {}

        def load_storage(key, dtype, numel, location):
            if key not in storages:
                name, need = prefix + "data/" + key, numel * dtype.itemsize
                size = zf.getinfo(name).file_size
                if size < need:  # checked before allocating: the count comes from the pickle
                    raise ValueError(f"storage record data/{key} holds {size} bytes, its "
                                     f"tensors need {need}")
                raw = np.empty(need, dtype=np.uint8)
                with zf.open(name) as rec:
                    got = rec.readinto(memoryview(raw)) if need else 0
                if got != need:
                    raise ValueError(f"storage record data/{key} ended after {got} of {need} "
                                     f"bytes")
                storages[key] = place(raw.view(dtype), location)
            return storages[key]

        with zf.open(pkl[0]) as f:
            return _Unpickler(f, load_storage).load()
