"""Reading pickles and object ``.npy``/``.npz`` members from files a user opens, without running code (numpy only).

Pickle can call any importable function while it loads, so a crafted file would run code. Here an allow-list
unpickler resolves only the globals that plain data needs: numpy array/dtype/scalar reconstruction and builtin
containers and numbers. A caller may allow more classes by name (the SMPL-family model loader adds scipy's sparse
matrices and stand-ins for chumpy's classes). Any other global raises :class:`UnsafePickleError` (a
``pickle.UnpicklingError``) naming it, before anything is called.

    load_pickle(path)                      -> the unpickled object (numpy arrays, dicts, lists, ...)
    load_npy(path)                         -> a numpy array, object arrays read through the same unpickler
    load_npz(path)                         -> {key: array} of an .npz archive, ditto
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["NUMPY_GLOBALS", "UnsafePickleError", "load_npy", "load_npz", "load_pickle", "unpickle"]

# (module, name) globals that plain numpy data and builtin containers need, in numpy 1.x and 2.x spellings.
NUMPY_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"), ("collections", "OrderedDict"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "float"), ("builtins", "int"), ("builtins", "str"),
    ("builtins", "bytes"), ("builtins", "bool"), ("builtins", "complex"), ("builtins", "object"),
    ("_codecs", "encode"), ("copyreg", "_reconstructor"),
})


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (it could run code); nothing was called."""


Resolver = Callable[[str, str], object]


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, fh, extra: Mapping[tuple[str, str], object] | None, resolve: Resolver | None) -> None:
        super().__init__(fh, encoding="latin1")
        self._extra = extra or {}
        self._resolve = resolve

    def find_class(self, module: str, name: str):
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 spellings (``__builtin__``, ``copy_reg``)
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) in self._extra:
            return self._extra[(module, name)]
        if self._resolve is not None and (found := self._resolve(module, name)) is not None:
            return found
        if (module, name) in NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(f"global {module}.{name} is not allowed (only numpy arrays and plain data are)")

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


def unpickle(data: bytes | io.BufferedIOBase, extra: Mapping[tuple[str, str], object] | None = None,
             resolve: Resolver | None = None) -> object:
    """Unpickle bytes or a binary file with the allow-list; ``extra`` maps more (module, name) globals to objects,
    ``resolve(module, name)`` may return one (or None). Raises :class:`UnsafePickleError` for anything else."""
    fh = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    return _AllowListUnpickler(fh, extra, resolve).load()


def load_pickle(path: str | Path, extra: Mapping[tuple[str, str], object] | None = None,
                resolve: Resolver | None = None) -> object:
    """Unpickle the file ``path`` with the allow-list (see :func:`unpickle`)."""
    with open(path, "rb") as fh:
        return unpickle(fh, extra, resolve)


def _read_npy(fh, extra, resolve) -> np.ndarray:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if not dtype.hasobject:
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)
    array = unpickle(fh.read(), extra, resolve)  # numpy writes object arrays as one pickled ndarray
    if not isinstance(array, np.ndarray):
        raise UnsafePickleError(f"an object array member holds a {type(array).__name__}, not an array")
    return array


def load_npy(path: str | Path, extra: Mapping[tuple[str, str], object] | None = None,
             resolve: Resolver | None = None) -> np.ndarray:
    """One ``.npy`` array; an object array's contents go through the allow-list unpickler."""
    with open(path, "rb") as fh:
        return _read_npy(fh, extra, resolve)


def load_npz(path: str | Path, extra: Mapping[tuple[str, str], object] | None = None,
             resolve: Resolver | None = None) -> dict[str, np.ndarray]:
    """All members of an ``.npz`` archive as {key: array}; object arrays go through the allow-list unpickler."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            key = member[:-4] if member.endswith(".npy") else member
            with zf.open(member) as fh:
                out[key] = _read_npy(io.BytesIO(fh.read()), extra, resolve)
    return out
