"""Model vertices -> MediaPipe body landmarks (their definition, not the model's joint centres): a linear vertex
regressor per landmark. Anny ships COCO keypoint regressors (``anny/data/keypoints/coco.pth``: per base-mesh vertex
weights summing to 1, read with ``weights_only=True``); COCO's shoulders, elbows, wrists, hips, knees, ankles and
heels are annotated where MediaPipe's are (surface landmarks placed on images), unlike the joint centres (Anny's hip
joints sit several cm wider than MediaPipe's hips)."""

from __future__ import annotations

import functools

import numpy as np

# MediaPipe pose index -> COCO keypoint label of Anny's regressor (the person's own sides).
MEDIAPIPE_FROM_COCO = {
    0: "nose", 2: "left_eye", 5: "right_eye", 7: "left_ear", 8: "right_ear",
    11: "left_shoulder", 12: "right_shoulder", 13: "left_elbow", 14: "right_elbow", 15: "left_wrist",
    16: "right_wrist", 23: "left_hip", 24: "right_hip", 25: "left_knee", 26: "right_knee", 27: "left_ankle",
    28: "right_ankle", 29: "left_heel", 30: "right_heel", 31: "left_big_toe", 32: "right_big_toe",
}


@functools.lru_cache(maxsize=4)
def _anny_coco(num_vertices: int) -> dict[str, np.ndarray]:
    import torch
    from anny.paths import get_anny_root_dir

    data = torch.load(get_anny_root_dir() / "data" / "keypoints" / "coco.pth", weights_only=True, map_location="cpu")
    return {k: v.double().numpy() for k, v in data.items()}


def mediapipe_regressor(model, indices: tuple[int, ...] = tuple(MEDIAPIPE_FROM_COCO)) -> np.ndarray | None:
    """(L, V) vertex weights (rows sum to 1) placing MediaPipe pose landmarks ``indices`` on ``model``'s mesh, or
    None when the model ships no regressor (only Anny does)."""
    a = getattr(model, "anny", None)
    if getattr(model, "name", "") != "anny" or a is None or not hasattr(a, "base_mesh_vertex_indices"):
        return None
    data = _anny_coco(len(a.template_vertices))
    base = a.base_mesh_vertex_indices.cpu().numpy()
    rows = []
    for i in indices:
        if i not in MEDIAPIPE_FROM_COCO:
            raise KeyError(f"no regressor for MediaPipe landmark {i}")
        w = data[MEDIAPIPE_FROM_COCO[i]][base]
        rows.append(w / w.sum())
    return np.stack(rows)
