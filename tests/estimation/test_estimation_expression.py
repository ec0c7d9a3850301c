"""Facial expression weights from face-mesh landmarks (ARKit names, as the Anny model has them)."""

from __future__ import annotations

import numpy as np

from backend.fitting.expression import EYE_L, EYE_R, LOWER_LIP, MOUTH_LEFT, MOUTH_RIGHT, UPPER_LIP, arkit_from_face_mesh

NAMES = ("browInnerUp", "eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft", "mouthSmileRight")


def _faces(F: int = 24) -> np.ndarray:
    face = np.zeros((F, 468, 3), np.float32)
    face[..., 2] = 1.0
    for f in range(F):
        x0 = 300 + 2 * f  # the head drifts; measures are relative
        pts = {EYE_L[0]: (x0 + 20, 200), EYE_L[1]: (x0 + 50, 200), EYE_L[2]: (x0 + 35, 195), EYE_L[3]: (x0 + 35, 205),
               EYE_R[0]: (x0 - 20, 200), EYE_R[1]: (x0 - 50, 200), EYE_R[2]: (x0 - 35, 195), EYE_R[3]: (x0 - 35, 205),
               UPPER_LIP: (x0, 260), LOWER_LIP: (x0, 262), MOUTH_LEFT: (x0 + 25, 261), MOUTH_RIGHT: (x0 - 25, 261)}
        if 10 <= f < 16:  # mouth open
            pts[LOWER_LIP] = (x0, 300)
        if f in (5, 6):  # left eye shut
            pts[EYE_L[2]], pts[EYE_L[3]] = (x0 + 35, 199.5), (x0 + 35, 200.5)
        for i, p in pts.items():
            face[f, i, :2] = p
    return face


def test_jaw_and_blink_follow_the_landmarks():
    face = _faces()
    face[20:, :, 2] = 0.0  # no face detected at the end
    w = arkit_from_face_mesh(face, NAMES, smooth_frames=0)
    jaw, blink_l, blink_r = w[:, NAMES.index("jawOpen")], w[:, NAMES.index("eyeBlinkLeft")], w[:, NAMES.index(
        "eyeBlinkRight")]
    assert np.all(jaw[10:16] > 0.7) and np.all(jaw[:10] < 0.05)
    assert np.all(blink_l[[5, 6]] > 0.8) and np.all(blink_l[[0, 1, 2, 8, 9]] < 0.1)
    assert np.all(blink_r[:20] < 0.1)
    assert np.all(w[20:] == 0) and np.all(w[:, NAMES.index("browInnerUp")] == 0)
    assert np.all((w >= 0) & (w <= 1))


def test_no_face_gives_zeros():
    w = arkit_from_face_mesh(np.zeros((5, 468, 3), np.float32), NAMES)
    assert w.shape == (5, len(NAMES)) and not w.any()
