"""Facial expression weights (ARKit facial actions, as Anny has them) from the 468 face-mesh landmarks.

Measured in the image, relative to the eye distance and to the sequence's own neutral (a low/high percentile), so
they need no calibration: jaw opening, eye blinks and smiles. Other actions stay 0.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

# MediaPipe face-mesh indices (person's left = image right when facing the camera).
UPPER_LIP, LOWER_LIP = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 291, 61
EYE_L = (362, 263, 386, 374)  # corners, upper lid, lower lid
EYE_R = (133, 33, 159, 145)


def _dist(face: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(face[:, a, :2] - face[:, b, :2], axis=-1)


def arkit_from_face_mesh(face: np.ndarray, names: tuple[str, ...], smooth_frames: float = 1.0) -> np.ndarray:
    """face (F, 468, 3) pixels + confidence -> (F, len(names)) weights in [0, 1] (0 where no face was found)."""
    F = face.shape[0]
    out = np.zeros((F, len(names)), np.float32)
    seen = face[:, 0, 2] > 0
    if seen.sum() < 1:
        return out
    f = face[seen]
    eyes = np.maximum(_dist(f, EYE_L[1], EYE_R[1]), 1e-6)  # outer eye corners
    gap = _dist(f, UPPER_LIP, LOWER_LIP) / eyes
    width = _dist(f, MOUTH_LEFT, MOUTH_RIGHT) / eyes
    ear_l = _dist(f, EYE_L[2], EYE_L[3]) / np.maximum(_dist(f, EYE_L[0], EYE_L[1]), 1e-6)
    ear_r = _dist(f, EYE_R[2], EYE_R[3]) / np.maximum(_dist(f, EYE_R[0], EYE_R[1]), 1e-6)
    values = {
        "jawOpen": (gap - np.percentile(gap, 10)) / 0.45,
        "eyeBlinkLeft": (np.percentile(ear_l, 80) - ear_l) / (0.8 * np.percentile(ear_l, 80) + 1e-6),
        "eyeBlinkRight": (np.percentile(ear_r, 80) - ear_r) / (0.8 * np.percentile(ear_r, 80) + 1e-6),
        "mouthSmileLeft": (width - np.percentile(width, 20)) / 0.25,
        "mouthSmileRight": (width - np.percentile(width, 20)) / 0.25,
    }
    for name, v in values.items():
        if name in names:
            col = np.zeros(F, np.float32)
            col[seen] = np.clip(v, 0.0, 1.0)
            if smooth_frames > 0 and F > 2:
                col = gaussian_filter1d(col, smooth_frames, mode="nearest")
            out[:, names.index(name)] = col
    return out
