"""The face factor: facial expression (and, where a model has them, face-shape) coefficients.

Anny: its 52 ARKit facial actions (weights in [0, 1]). A human draws one of :data:`ANNY_EXPRESSIONS` uniformly and
an intensity ~ Uniform(0.2, 0.8) that scales the preset's weights. Anny has no separate face-shape coefficients (its
face shape follows the phenotypes). SMPL-X / FLAME: expression coefficients ~ N(0, 0.5^2 I) truncated at +-1.0 (the
first 10 PCA components; face shape is part of SMPL-X's betas). SMPL, SMPL-H and MANO have no face coefficients.
"""

from __future__ import annotations

import numpy as np

from backend.generate.prior import truncated_normal

# name -> {ARKit action: weight at intensity 1}
ANNY_EXPRESSIONS = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
    "open_smile": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "jawOpen": 0.35},
    "surprise": {"browInnerUp": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8, "eyeWideLeft": 0.7,
                 "eyeWideRight": 0.7, "jawOpen": 0.4},
    "frown": {"browDownLeft": 0.8, "browDownRight": 0.8, "mouthFrownLeft": 0.8, "mouthFrownRight": 0.8},
    "pucker": {"mouthPucker": 1.0, "cheekPuff": 0.3},
}
INTENSITY_RANGE = (0.2, 0.8)
SMPLX_EXPRESSION_SD, SMPLX_EXPRESSION_LIMIT, SMPLX_EXPRESSIONS = 0.5, 2.0, 10


def sample_face(rng: np.random.Generator, model: str) -> dict:
    """Draw the face factor: Anny {"preset", "intensity"}; SMPL-X/FLAME {"expression": [10 floats]}; else {}."""
    if model == "anny":
        names = sorted(ANNY_EXPRESSIONS)
        return {"preset": names[int(rng.integers(len(names)))], "intensity": float(rng.uniform(*INTENSITY_RANGE))}
    if model in ("smplx", "flame"):
        e = truncated_normal(rng, 0.0, SMPLX_EXPRESSION_SD, SMPLX_EXPRESSION_LIMIT, size=SMPLX_EXPRESSIONS)
        return {"expression": [float(v) for v in e]}
    return {}


def face_coefficients(face: dict, expr_names: tuple[str, ...]) -> np.ndarray:
    """(E,) expression coefficients of a face factor for a rig with ``expr_names``."""
    out = np.zeros(len(expr_names), np.float64)
    if "preset" in face:
        preset = ANNY_EXPRESSIONS.get(face["preset"])
        if preset is None:
            raise ValueError(f"unknown expression preset {face['preset']!r}; choose from {sorted(ANNY_EXPRESSIONS)}")
        for name, w in preset.items():
            if name in expr_names:
                out[expr_names.index(name)] = w * float(face.get("intensity", 1.0))
    elif "expression" in face:
        e = np.asarray(face["expression"], np.float64)[: len(out)]
        out[: len(e)] = e
    return out
