"""Writing an avatar dataset folder (the layout of ``dataset.py``) from its arrays and metadata: the face and the
multi-view builders share it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


def write_dataset(out_dir: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``data.npz`` (atomically), ``meta.json`` and ``preview/`` PNGs (input | frame | mask) of a dataset
    holding at least inputs, frames and masks (see ``dataset.py``); returns the ``data.npz`` path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "data.npz"
    tmp = out_dir / "data.npz.part"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    inputs, frames, masks = arrays["inputs"], arrays["frames"], arrays["masks"]
    prev = out_dir / "preview"
    prev.mkdir(exist_ok=True)
    n = len(inputs)
    for i in range(0, n, max(1, n // 8)):
        row = np.concatenate([inputs[i, :3].transpose(1, 2, 0), frames[i].transpose(1, 2, 0),
                              np.repeat(masks[i, :1].transpose(1, 2, 0), 3, 2)], 1)
        cv2.imwrite(str(prev / f"{i:05d}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
    log.info("avatar dataset %s (%s): %d frames at %d px (%s)", out_dir, meta.get("subject", "body"), n,
             inputs.shape[-1], meta.get("counts"))
    return path
