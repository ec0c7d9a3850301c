"""Face-only estimate with Anny (no FLAME files needed): the head pose and Anny's ARKit facial actions of a face
close-up, from the 468 MediaPipe face-mesh landmarks.

Steps (:func:`estimate_anny_face`): the rigid landmarks of the face mesh (nose, eye corners, forehead, cheeks:
points the facial actions barely move) -> fixed Anny rest vertices (:data:`ANNY_FACE_VERTICES`, see
docs/correspondences.md) -> a PnP per frame (the head pose in the camera) -> light temporal smoothing -> a fixed
camera in front of the face and the whole body turned about its root and moved so that its head sits there (the
rest of the body follows rigidly; a face avatar rasterizes only the head) -> facial actions measured in the image
(``arkit_from_face_mesh``) -> a Motion marked ``metadata.subject = "face"``.

Anny's default shape is used (a face close-up does not constrain the body's phenotype).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from backend.fitting.correspondences import model_axes
from backend.fitting.expression import arkit_from_face_mesh
from backend.perception.camera_motion import reference_focal
from backend.perception.keypoints import Keypoints
from blender_addon.core.motion import Camera, Motion

log = logging.getLogger(__name__)

SUBJECT = "face"
# MediaPipe face-mesh index -> Anny rest-mesh vertex, for face-mesh points that Anny's facial actions barely move
# (nose, eye corners, forehead, cheeks; no lips, lids, brows or jaw contour). Calibrated once: MediaPipe Face Mesh
# on a frontal 320 px render of Anny's neutral head (backend/avatar/face_synthetic.py's renderer), each landmark
# taken to the camera-facing head vertex nearest to it in the image (median 1.0 px away).
ANNY_FACE_VERTICES = {
    1: 312, 4: 297, 5: 291, 195: 164, 197: 131, 6: 134, 168: 136, 98: 318, 327: 7041, 2: 317,  # nose
    33: 10, 133: 1290, 362: 11477, 263: 7904,  # eye corners (right outer, right inner, left inner, left outer)
    10: 244, 151: 5304, 9: 234, 108: 5249, 337: 11841,  # forehead
    50: 5117, 280: 6978, 101: 5044, 330: 11645, 118: 183, 347: 6943,  # cheeks (not the outer ones: they slide)
}
MIN_POINTS = 8  # confident rigid landmarks a frame needs for its own head pose


def rest_points(model, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rest positions (L, 3) m of ``vertices``, root joint at rest (3,) m) of Anny's default shape, zero pose."""
    J = len(model.joint_names)
    with torch.no_grad():
        out = model(torch.zeros(1, J, 3), torch.zeros(1, 3), torch.zeros(1, model.num_shape), None)
    return (out.vertices[0, torch.as_tensor(vertices)].double().numpy(), out.joints[0, 0].double().numpy())


def head_poses(face: np.ndarray, source: np.ndarray, rest: np.ndarray, K: np.ndarray,
               min_confidence: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame PnP of the rigid landmarks: (R (F, 3, 3) model -> camera, t (F, 3) m, seen (F,) bool). Frames
    without enough landmarks take the nearest seen frame's pose."""
    F = face.shape[0]
    R, t, seen = np.tile(np.eye(3), (F, 1, 1)), np.zeros((F, 3)), np.zeros(F, bool)
    guess = None
    for i in range(F):
        ok = face[i, source, 2] >= min_confidence
        if ok.sum() < MIN_POINTS:
            continue
        obj, img = rest[ok].astype(np.float64), face[i, source[ok], :2].astype(np.float64)
        if guess is None:
            good, rv, tv = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_EPNP)
            good, rv, tv = cv2.solvePnP(obj, img, K, None, rv, tv, True, cv2.SOLVEPNP_ITERATIVE)
        else:  # the previous frame's pose starts the refinement (no flips between frames)
            good, rv, tv = cv2.solvePnP(obj, img, K, None, guess[0].copy(), guess[1].copy(), True,
                                        cv2.SOLVEPNP_ITERATIVE)
        if not good:
            continue
        R[i], t[i], seen[i], guess = cv2.Rodrigues(rv)[0], tv.reshape(3), True, (rv, tv)
    if seen.any():
        near = np.nonzero(seen)[0][np.abs(np.arange(F)[:, None] - np.nonzero(seen)[0][None]).argmin(1)]
        R, t = R[near], t[near]
    return R, t, seen


def smooth_poses(R: np.ndarray, t: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian smoothing over frames (``sigma`` frames) of the rotations (as rotation vectors relative to their
    mean, so no wrap-around) and the translations."""
    if sigma <= 0 or len(R) < 3:
        return R, t
    mean = Rotation.from_matrix(R).mean()
    rel = (mean.inv() * Rotation.from_matrix(R)).as_rotvec()
    rel = gaussian_filter1d(rel, sigma, axis=0, mode="nearest")
    return (mean * Rotation.from_rotvec(rel)).as_matrix(), gaussian_filter1d(t, sigma, axis=0, mode="nearest")


def front_camera(model, image_size: tuple[int, int], focal: float | None, t_cam: np.ndarray) -> tuple:
    """(K (3, 3), R (3, 3) world -> camera, t (3,) m): a camera facing Anny's rest face (image down = the model's
    down), with the median fitted head distance ``t_cam`` (F, 3)."""
    W, H = image_size
    f = reference_focal(image_size, focal)
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float64)
    _, up, fwd = model_axes(model.rig_spec())
    z = -fwd  # looks at the face
    y = -up
    R = np.stack([np.cross(y, z), y, z])
    return K, R, np.median(t_cam, 0)


def body_placement(R_cm: np.ndarray, t_cm: np.ndarray, cam_R: np.ndarray, cam_t: np.ndarray,
                   root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root rotation vectors (F, 3) and translations (F, 3) m that move the rest model by the fitted head pose
    (R_cm, t_cm: model -> camera) seen through the fixed camera: world R_w = cam_R^T R_cm, t_w = cam_R^T (t_cm -
    cam_t); Anny turns about its root joint, so transl = t_w + R_w root - root."""
    R_w = cam_R.T[None] @ R_cm
    t_w = (t_cm - cam_t) @ cam_R
    return Rotation.from_matrix(R_w).as_rotvec(), t_w + R_w @ root - root


def landmark_errors(face: np.ndarray, source: np.ndarray, rest: np.ndarray, R_cm: np.ndarray, t_cm: np.ndarray,
                    K: np.ndarray, min_confidence: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(projected rigid landmarks (F, L, 2) px, median distance to the detections per frame (F,) px, nan unseen)."""
    cam = np.einsum("fij,lj->fli", R_cm, rest) + t_cm[:, None]
    uv = cam[..., :2] / np.maximum(cam[..., 2:], 1e-3) * K[0, 0] + K[:2, 2]
    err = np.linalg.norm(uv - face[:, source, :2], axis=-1)
    ok = face[:, source, 2] >= min_confidence
    return uv, np.array([np.median(e[m]) if m.sum() >= MIN_POINTS else np.nan for e, m in zip(err, ok)])


def estimate_anny_face(kp: Keypoints, model, focal: float | None = None, source: str = "",
                       smooth_frames: float = 1.0) -> Motion:
    """The face-only motion of ``kp`` (face-mode detections: kp.face (F, 468, 3) pixels + confidence) with Anny:
    per-frame head pose (root rotation + translation, the rest of the pose at zero), the ARKit facial actions as
    ``expression`` (F, E) in [0, 1], a static camera; ``metadata.subject`` is "face"."""
    if model.name != "anny":
        raise ValueError(f"the Anny face-only estimate needs the anny model, not {model.name!r}")
    src = np.array(sorted(ANNY_FACE_VERTICES), np.int64)
    rest, root = rest_points(model, np.array([ANNY_FACE_VERTICES[int(s)] for s in src], np.int64))
    f = reference_focal(kp.image_size, focal)
    K0 = np.array([[f, 0, kp.image_size[0] / 2], [0, f, kp.image_size[1] / 2], [0, 0, 1]], np.float64)
    R_cm, t_cm, seen = head_poses(kp.face, src, rest, K0)
    if not seen.any():
        raise ValueError(f"{source or 'input'}: no frame shows a face with {MIN_POINTS} or more face-mesh "
                         "landmarks; use a face close-up")
    R_cm, t_cm = smooth_poses(R_cm, t_cm, smooth_frames)
    K, cam_R, cam_t = front_camera(model, kp.image_size, focal, t_cm[seen])
    root_rv, transl = body_placement(R_cm, t_cm, cam_R, cam_t, root)
    _, err = landmark_errors(kp.face, src, rest, R_cm, t_cm, K)
    names = tuple(model.expression_names)
    expression = arkit_from_face_mesh(kp.face, names)
    F, J = kp.num_frames, len(model.joint_names)
    rotvec = np.zeros((F, J, 3))
    rotvec[:, 0] = root_rv
    stride = int(np.median(np.diff(kp.frame_indices))) if F > 1 else 1
    px = float(np.nanmedian(err))
    metrics = {"part": SUBJECT, "face_landmarks_median_px": px, "reprojection_median_px": px,
               "face_frames_found": int(seen.sum()), "frames": F}
    log.info("Anny face-only estimate: %d of %d frames with a face, rigid landmarks %.2f px (median)",
             int(seen.sum()), F, px)
    camera = Camera(K=np.repeat(K[None], F, 0), R=np.repeat(cam_R[None], F, 0), t=np.repeat(cam_t[None], F, 0),
                    image_size=tuple(int(v) for v in kp.image_size))
    meta = {"subject": SUBJECT, "metrics": metrics, "camera_motion": "static", "shape_kind": "anny phenotype offsets",
            "expression": "ARKit facial actions from face-mesh landmarks (jaw, blinks, smiles)",
            "head_pose": "PnP of rigid face-mesh landmarks on fixed Anny vertices (backend/fitting/face_only.py)"}
    return Motion(model=model.name, fps=float(kp.fps) / max(1, stride), joint_names=tuple(model.joint_names),
                  rotvec=rotvec, transl=transl, betas=np.zeros(0, np.float32), expression=expression,
                  confidence=seen.astype(np.float32), camera=camera, up_axis=model.up_axis, source_video=source,
                  metadata=meta, frame_start=int(kp.frame_indices[0]) if F else 0, frame_stride=stride,
                  source_fps=float(kp.fps))
