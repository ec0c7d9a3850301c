"""Reading SMPL-family model files (.npz / .pkl, with or without chumpy objects) into plain numpy dicts, with
every loader failure turned into a :class:`blender_addon.core.model_registry.ModelFileError` that names the file and the fix.

No file runs code: ``.pkl`` files and object members of ``.npz`` files go through the allow-list unpickler of
:mod:`blender_addon.core.safe_pickle`, which here also admits scipy's sparse matrices and stand-ins for chumpy's
classes, nothing else. The arrays are then handed to ``smplx.lbs`` (``smplx``'s own constructors unpickle with plain
pickle and are never called on user files). :func:`read_extra_file` reads the side files (FLAME's
``flame_static_embedding.pkl``, ``landmark_embedding.npy``) the same way.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse

from blender_addon.core import safe_pickle
from blender_addon.core.model_registry import ModelFileError, how_to_get

# Keys each model needs, and the shapes they must have: V vertices, J joints, F faces; -1 = any.
REQUIRED_KEYS = {
    "smplx": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
    "smplh": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
    "smpl": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
    "flame": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
    "mano": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
}
# Expected (vertices, joints) of the released models.
EXPECTED_SIZES = {"smplx": (10475, 55), "smplh": (6890, 52), "smpl": (6890, 24), "flame": (5023, 5),
                  "mano": (778, 16)}


class _ChumpyStub:
    """Stands in for chumpy classes while unpickling, so released .pkl files load without chumpy installed."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


_SPARSE = frozenset({"csc_matrix", "csr_matrix", "coo_matrix", "bsr_matrix", "dia_matrix", "lil_matrix", "dok_matrix"})


def _resolve_model_global(module: str, name: str):
    """chumpy classes -> a stub; scipy sparse matrix classes (any of their module spellings) -> the class."""
    if module == "chumpy" or module.startswith("chumpy."):
        return _ChumpyStub
    if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE:
        return getattr(scipy.sparse, name)
    return None


def load_model_pickle(path: Path) -> object:
    """Unpickle an SMPL-family ``.pkl`` with the model allow-list (numpy, scipy sparse, chumpy stubs)."""
    return safe_pickle.load_pickle(path, resolve=_resolve_model_global)


def read_extra_file(path: Path, model: str) -> dict:
    """A model's side file (``.pkl`` pickle, ``.npy`` holding a dict, or ``.npz``) as a dict, read with the model
    allow-list; raises ModelFileError naming the file."""
    path = Path(path)
    try:
        if path.suffix == ".pkl":
            data = load_model_pickle(path)
        elif path.suffix == ".npy":
            data = safe_pickle.load_npy(path, resolve=_resolve_model_global)
            data = data.item() if data.dtype.hasobject and data.shape == () else data
        else:
            data = safe_pickle.load_npz(path, resolve=_resolve_model_global)
        if not isinstance(data, dict):
            raise ValueError(f"expected a dict, found {type(data).__name__}")
        return {k: _plain(v) for k, v in data.items()}
    except (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError, KeyError, TypeError,
            AttributeError, ImportError, IndexError) as exc:
        raise ModelFileError(f"{path}: cannot read this {model.upper()} file ({type(exc).__name__}: {exc}); it is "
                             f"damaged or not what the {model.upper()} release ships. Download it again. "
                             + how_to_get(model)) from exc


def _plain(value):
    """Chumpy stubs -> numpy arrays (their ``x``); sparse matrices -> dense arrays."""
    if isinstance(value, _ChumpyStub):
        x = value.__dict__.get("x")
        return None if x is None else np.asarray(x)  # None: a chumpy expression; fine unless a required key
    if scipy.sparse.issparse(value):
        return np.asarray(value.todense())
    return value


def read_model_file(path: Path, model: str) -> dict:
    """The arrays of a model file as a dict of numpy arrays (and plain values); raises ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file. {how_to_get(model)}")
    try:
        if path.suffix == ".npz":
            data = safe_pickle.load_npz(path, resolve=_resolve_model_global)
        elif path.suffix == ".pkl":
            data = load_model_pickle(path)
            if not isinstance(data, dict):
                raise ValueError(f"expected a dict, found {type(data).__name__}")
        else:
            raise ValueError(f"unknown extension {path.suffix!r} (expected .npz or .pkl)")
        data = {k: _plain(v) for k, v in data.items()}
    except ModelFileError:
        raise
    except (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError, KeyError, TypeError,
            AttributeError, ImportError, IndexError) as exc:
        raise ModelFileError(f"{path}: cannot read this {model.upper()} model file ({type(exc).__name__}: {exc}); "
                             f"it is truncated, damaged or not a {model.upper()} model. Download it again. "
                             + how_to_get(model)) from exc
    check_model_data(data, path, model)
    return data


def check_model_data(data: dict, path: Path, model: str) -> None:
    """Raise ModelFileError if keys are missing or array shapes disagree."""
    missing = [k for k in REQUIRED_KEYS[model] if data.get(k) is None]
    if missing:
        raise ModelFileError(f"{path}: not a {model.upper()} model file (missing {', '.join(missing)}). "
                             + how_to_get(model))

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: wrong content for a {model.upper()} model: {what}. Download it again. "
                              + how_to_get(model))

    try:
        v = np.asarray(data["v_template"])
        V = v.shape[0]
        J = np.asarray(data["kintree_table"]).shape[1]
        checks = [
            (v.ndim == 2 and v.shape[1] == 3, f"v_template has shape {v.shape}, expected (V, 3)"),
            (np.asarray(data["f"]).ndim == 2 and np.asarray(data["f"]).shape[1] == 3, "f must be (F, 3)"),
            (np.asarray(data["J_regressor"]).shape == (J, V), f"J_regressor has shape "
             f"{np.asarray(data['J_regressor']).shape}, expected {(J, V)}"),
            (np.asarray(data["weights"]).shape == (V, J), f"weights has shape {np.asarray(data['weights']).shape}, "
             f"expected {(V, J)}"),
            (np.asarray(data["shapedirs"]).shape[:2] == (V, 3), f"shapedirs has shape "
             f"{np.asarray(data['shapedirs']).shape}, expected ({V}, 3, K)"),
            (np.asarray(data["posedirs"]).shape == (V, 3, 9 * (J - 1)), f"posedirs has shape "
             f"{np.asarray(data['posedirs']).shape}, expected {(V, 3, 9 * (J - 1))}"),
            (int(np.asarray(data["f"]).max()) < V, "faces index past the last vertex"),
        ]
        expected = EXPECTED_SIZES[model]
        checks.append(((V, J) == expected, f"{V} vertices and {J} joints, expected {expected[0]} and {expected[1]}"))
    except (IndexError, ValueError, TypeError) as exc:
        raise bad(f"{type(exc).__name__}: {exc}") from exc
    for ok, what in checks:
        if not ok:
            raise bad(what)
