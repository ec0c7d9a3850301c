"""Atomic .npz writing: the file appears complete under its name or not at all (no half-written outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """Write ``arrays`` to ``path`` via ``<name>.part`` and a rename; creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
