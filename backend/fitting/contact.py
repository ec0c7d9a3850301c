"""Foot contact from fitted foot points: slow (no sliding) and at the lowest height nearby (on a support)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, minimum_filter1d


def detect_contact(feet: np.ndarray, up: np.ndarray, fps: float, max_speed: float = 0.6, max_height: float = 0.08,
                   window_s: float = 1.0, view_dir: np.ndarray | None = None, depth_weight: float = 0.25
                   ) -> np.ndarray:
    """feet (F, 2, P, 3) world points of the left/right foot (heel, toe, ...), metres; up (3,) unit.
    Returns (F, 2) bool contact: the lowest foot point moves slower than ``max_speed`` m/s and is within
    ``max_height`` m of the lowest that foot gets within ``window_s`` seconds (the floor or a support).
    ``view_dir`` (3,): the camera's viewing direction in the world; motion along it (where a monocular fit is least
    certain) counts only ``depth_weight`` as much."""
    F = feet.shape[0]
    low = (feet @ up).min(axis=2)  # (F, 2) height of the lowest point
    speed = np.zeros((F, 2))
    if F > 1:
        step = np.diff(feet, axis=0)
        if view_dir is not None:
            d = view_dir / np.linalg.norm(view_dir)
            along = step @ d
            step = step - along[..., None] * (1 - depth_weight) * d
        v = np.linalg.norm(step, axis=-1).max(axis=2) * fps  # (F-1, 2) fastest foot point
        speed[1:] = v
        speed[0] = v[0]
        speed[1:-1] = np.minimum(v[:-1], v[1:])  # a frame is slow if either neighbour step is slow
    size = max(3, int(round(window_s * fps)) | 1)
    floor = minimum_filter1d(low, size=size, axis=0, mode="nearest")
    contact = (speed < max_speed) & (low - floor < max_height)
    for k in range(2):  # fill 1-frame gaps, drop 1-frame blips; edges padded so they are not eroded
        padded = np.pad(contact[:, k], 3, mode="edge")
        contact[:, k] = binary_opening(binary_closing(padded, np.ones(3)), np.ones(2))[3:-3]
    return contact


def floor_height(feet: np.ndarray, contact: np.ndarray, up: np.ndarray) -> float:
    """Height (along ``up``) of the lowest support the feet stand on: a low percentile of contact heights."""
    low = (feet @ up).min(axis=2)
    h = low[contact] if contact.any() else low.reshape(-1)
    return float(np.percentile(h, 10))
