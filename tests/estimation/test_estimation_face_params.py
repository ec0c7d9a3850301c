"""Jaw and expression coefficients of (synthetic) FLAME and SMPL-X fitted to face-mesh landmarks.

A known head pose / jaw / expression is projected by a known camera into the MediaPipe 468-point layout (the
mapped indices filled, the others marked low-confidence), then fitted."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from backend.bodymodels import load_body_model
from backend.fitting.face_params import (MEDIAPIPE_IBUG68, FaceFitSettings, LandmarkEmbedding, LandmarkLBS,
                                         fit_face_params, landmark_embedding)
from backend.fitting.skeleton import rotvec_to_matrix

SIZE = (640, 480)


@pytest.fixture(scope="module")
def flame(synthetic_model_dir):
    return load_body_model("flame", model_dir=synthetic_model_dir)


@pytest.fixture(scope="module")
def smplx_model(synthetic_model_dir):
    return load_body_model("smplx", model_dir=synthetic_model_dir)


@pytest.fixture(scope="module")
def flame_local(synthetic_model_dir):
    """Synthetic FLAME with local expression bumps (see :func:`localise_expression_basis`)."""
    model = load_body_model("flame", model_dir=synthetic_model_dir)
    localise_expression_basis(model, landmark_embedding(model))
    return model


def _camera(distance: float):
    f = 0.9 * max(SIZE)
    K = np.array([[f, 0, SIZE[0] / 2], [0, f, SIZE[1] / 2], [0, 0, 1.0]])
    R = np.diag([1.0, -1.0, -1.0])  # looks at the model's front (+Z) with Y up in the image
    return K, R, np.array([0.0, 0.0, distance])


def _true_landmarks(model, emb, rotvec, transl, expression):
    """Model landmarks (F, L, 3) from the full mesh (smplx's vertices2landmarks on model(...))."""
    with torch.no_grad():
        v = model(torch.as_tensor(rotvec, dtype=torch.float32), torch.as_tensor(transl, dtype=torch.float32),
                  expression=torch.as_tensor(expression, dtype=torch.float32)).vertices.double().numpy()
    return (v[:, emb.triangles] * emb.bary[None, :, :, None]).sum(2)


def _face_detections(emb, pts, K, R, t, seed=0):
    """(F, 468, 3) face-mesh detections: the mapped indices at the projected landmarks, the others at random
    places with a low confidence."""
    rng = np.random.default_rng(seed)
    F = pts.shape[0]
    face = np.zeros((F, 468, 3), np.float32)
    face[..., 0] = rng.uniform(0, SIZE[0], (F, 468))
    face[..., 1] = rng.uniform(0, SIZE[1], (F, 468))
    face[..., 2] = 0.01
    cam = pts @ R.T + t
    face[:, emb.source_index, :2] = cam[..., :2] / cam[..., 2:] * K[0, 0] + K[:2, 2]
    face[:, emb.source_index, 2] = 1.0
    return face


def _known_face(F, J, E, jaw_j, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, F)
    rotvec = np.zeros((F, J, 3))
    rotvec[:, jaw_j, 0] = 0.05 + 0.25 * np.sin(np.pi * t) ** 2  # the mouth opens and closes
    phases = rng.uniform(0, 2 * np.pi, E)
    amps = rng.uniform(0.8, 2.0, E)
    expr = amps * np.sin(2 * np.pi * t[:, None] * rng.uniform(0.5, 1.5, E) + phases)
    return rotvec, expr


def _err_px(model, emb, fit, pts_true, K, R, t):
    pts = _true_landmarks(model, emb, fit.rotvec, fit.transl, fit.expression)
    proj = lambda p: (p @ R.T + t)[..., :2] / (p @ R.T + t)[..., 2:] * K[0, 0] + K[:2, 2]  # noqa: E731
    return float(np.median(np.linalg.norm(proj(pts) - proj(pts_true), axis=-1)))


def _corr(a, b):
    return np.array([np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(a.shape[1])])


def test_embedding_files_and_landmark_lbs(flame, smplx_model, synthetic_model_dir):
    emb = landmark_embedding(flame)
    with open(synthetic_model_dir / "flame_static_embedding.pkl", "rb") as fh:
        raw = pickle.load(fh, encoding="latin1")
    faces = flame.faces.numpy()
    assert np.array_equal(emb.triangles, faces[raw["lmk_face_idx"].astype(np.int64)])
    assert np.allclose(emb.bary, raw["lmk_b_coords"])
    assert emb.source_index.tolist() == list(MEDIAPIPE_IBUG68[17:])  # iBUG 17..67 in the MediaPipe layout
    assert len(set(MEDIAPIPE_IBUG68)) == 68 and max(MEDIAPIPE_IBUG68) < 468
    with np.load(synthetic_model_dir / "SMPLX_NEUTRAL.npz") as d:
        fi, bc = d["lmk_faces_idx"], d["lmk_bary_coords"]
    emb_x = landmark_embedding(smplx_model)
    assert np.array_equal(emb_x.triangles, smplx_model.faces.numpy()[fi]) and np.allclose(emb_x.bary, bc)

    # The restricted LBS equals the full model + barycentric interpolation.
    rng = np.random.default_rng(3)
    for model, e in ((flame, emb), (smplx_model, emb_x)):
        rv = rng.normal(scale=0.3, size=(3, model.num_joints, 3))
        tr = rng.normal(scale=0.1, size=(3, 3))
        ex = rng.normal(size=(3, model.num_expression))
        betas = rng.normal(size=(1, model.num_shape))
        with torch.no_grad():
            v = model(torch.as_tensor(rv, dtype=torch.float32), torch.as_tensor(tr, dtype=torch.float32),
                      shape=torch.as_tensor(betas, dtype=torch.float32),
                      expression=torch.as_tensor(ex, dtype=torch.float32)).vertices.double().numpy()
            got = LandmarkLBS(model, e)(rotvec_to_matrix(torch.as_tensor(rv, dtype=torch.float32)),
                                        torch.as_tensor(tr, dtype=torch.float32),
                                        torch.as_tensor(betas, dtype=torch.float32),
                                        torch.as_tensor(ex, dtype=torch.float32)).double().numpy()
        want = (v[:, e.triangles] * e.bary[None, :, :, None]).sum(2)
        assert np.abs(got - want).max() < 1e-4


def test_flame_face_only_recovers_head_jaw_and_expression(flame_local):
    flame = flame_local
    emb = landmark_embedding(flame)
    F, J, E = 12, flame.num_joints, flame.num_expression
    jaw_j = list(flame.joint_names).index("jaw")
    rotvec, expr = _known_face(F, J, E, jaw_j)
    t = np.linspace(0, 1, F)
    rotvec[:, 0, 1] = 0.3 * t - 0.1  # the head turns and nods
    rotvec[:, 0, 0] = 0.1 * np.sin(2 * np.pi * t)
    rotvec[:, 1, 0] = 0.05
    transl = np.stack([0.02 * t, 0.01 * t, 0 * t], 1)
    K, R, cam_t = _camera(distance=0.5)
    pts = _true_landmarks(flame, emb, rotvec, transl, expr)
    face = _face_detections(emb, pts, K, R, cam_t)
    face[6, :, 2] = 0.0  # no face found in one frame: the temporal terms fill it in

    zero = np.zeros((F, J, 3))
    fit = fit_face_params(flame, face, zero, np.zeros((F, 3)), None, K, R, cam_t)  # head pose from a PnP
    rigid = fit_face_params(flame, face, zero, np.zeros((F, 3)), None, K, R, cam_t,
                            FaceFitSettings(fit_expression=False))
    err, err_rigid = _err_px(flame, emb, fit, pts, K, R, cam_t), _err_px(flame, emb, rigid, pts, K, R, cam_t)
    assert err < 0.15 * err_rigid and err < 0.5, (err, err_rigid)
    assert np.nanmedian(fit.reproj_px) < 0.5
    assert np.isnan(fit.reproj_px[6]) and np.isfinite(fit.reproj_px[np.arange(F) != 6]).all()
    assert np.all(rigid.expression == 0) and np.all(rigid.rotvec[:, jaw_j] == 0)
    corr = _corr(fit.expression, expr)
    assert np.median(corr) > 0.9, corr
    assert np.abs(fit.rotvec[:, jaw_j, 0] - rotvec[:, jaw_j, 0]).max() < 0.08
    assert np.corrcoef(fit.rotvec[:, jaw_j, 0], rotvec[:, jaw_j, 0])[0, 1] > 0.9


def _head_embedding(model, n_jaw=20, n=51, seed=0):
    """A landmark embedding on the (synthetic) head: faces whose vertices follow the head or jaw joints."""
    rng = np.random.default_rng(seed)
    names = list(model.joint_names)
    owner = model.lbs_weights.argmax(1).numpy()
    faces = model.faces.numpy()
    fo = owner[faces]
    jaw = np.nonzero((fo == names.index("jaw")).all(1))[0]
    head = np.nonzero((fo == names.index("head")).all(1))[0]
    fi = np.concatenate([rng.choice(jaw, n_jaw, replace=False), rng.choice(head, n - n_jaw, replace=False)])
    return LandmarkEmbedding.from_faces(faces, fi, rng.dirichlet(np.ones(3), n), "synthetic head")


def test_smplx_jaw_and_expression_on_a_fixed_body(synthetic_model_dir):
    smplx_model = load_body_model("smplx", model_dir=synthetic_model_dir)
    emb = _head_embedding(smplx_model)
    localise_expression_basis(smplx_model, emb)
    F, J, E = 10, smplx_model.num_joints, smplx_model.num_expression
    jaw_j = list(smplx_model.joint_names).index("jaw")
    rotvec, expr = _known_face(F, J, E, jaw_j, seed=1)
    rng = np.random.default_rng(2)
    rotvec[:, :22] += rng.normal(scale=0.1, size=(1, 22, 3))  # some body pose, known to the face fit
    transl = np.zeros((F, 3))
    K, R, cam_t = _camera(distance=0.8)
    cam_t = cam_t - R @ np.array([0.0, 0.6, 0.0])  # the head in the middle of the image
    pts = _true_landmarks(smplx_model, emb, rotvec, transl, expr)
    face = _face_detections(emb, pts, K, R, cam_t)
    body = rotvec.copy()
    body[:, jaw_j] = 0.0
    fit = fit_face_params(smplx_model, face, body, transl, None, K, R, cam_t, embedding=emb)
    rigid = fit_face_params(smplx_model, face, body, transl, None, K, R, cam_t, FaceFitSettings(fit_expression=False),
                            embedding=emb)
    mask = np.ones(J, bool)
    mask[jaw_j] = False
    assert np.array_equal(fit.rotvec[:, mask], body[:, mask]) and np.array_equal(fit.transl, transl)
    err, err_rigid = _err_px(smplx_model, emb, fit, pts, K, R, cam_t), _err_px(smplx_model, emb, rigid, pts, K, R,
                                                                                cam_t)
    assert err < 0.15 * err_rigid and err < 0.5, (err, err_rigid)
    assert np.median(_corr(fit.expression, expr)) > 0.9
    assert np.abs(fit.rotvec[:, jaw_j, 0] - rotvec[:, jaw_j, 0]).max() < 0.08


def test_missing_embedding_and_face_are_reported(flame, tmp_path):
    import shutil

    for name in ("FLAME_NEUTRAL.pkl",):
        shutil.copy(flame.source, tmp_path / name)
    bare = load_body_model("flame", model_dir=tmp_path)
    assert landmark_embedding(bare) is None
    # FLAME 2020's landmark_embedding.npy (a pickled dict) is read too.
    fi, bc = np.arange(51) * 7, np.full((51, 3), 1 / 3)
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, np.array({"static_lmk_faces_idx": fi, "static_lmk_bary_coords": bc}, dtype=object),
            allow_pickle=True)
    emb = landmark_embedding(bare)
    assert np.array_equal(emb.triangles, bare.faces.numpy()[fi]) and np.allclose(emb.bary, 1 / 3)
    path.unlink()
    K, R, t = _camera(1.0)
    with pytest.raises(ValueError, match="landmark embedding"):
        fit_face_params(bare, np.zeros((2, 468, 3)), np.zeros((2, 5, 3)), np.zeros((2, 3)), None, K, R, t)
    # No face detected in any frame: the input pose is returned with zero expression.
    out = fit_face_params(flame, np.zeros((3, 468, 3)), np.zeros((3, 5, 3)), np.zeros((3, 3)), None, K, R, t,
                          FaceFitSettings(iters=5, iters_rigid=0))
    assert np.all(np.isnan(out.reproj_px)) and np.abs(out.expression).max() < 1e-6


def localise_expression_basis(model, emb, radius: float = 0.03, amplitude: float = 0.01, seed: int = 0) -> None:
    """Replace the model's expression directions (in place) with local bumps around landmark points, as real
    expression bases have. The synthetic files' bases are smooth fields that are nearly affine over a head, which
    a rigid head motion absorbs: they cannot be told apart in an image."""
    rng = np.random.default_rng(seed)
    v = model.v_template.double().numpy()
    centres_pool = np.unique(emb.triangles.reshape(-1))
    S, E = model.num_shape, model.num_expression
    with torch.no_grad():
        for k in range(E):
            field = np.zeros_like(v)
            for c in rng.choice(centres_pool, 3, replace=False):
                d = rng.normal(size=3)
                field += amplitude * d / np.linalg.norm(d) * np.exp(-((v - v[c]) ** 2).sum(1, keepdims=True)
                                                                     / (2 * radius ** 2))
            model.shapedirs[:, :, S + k] = torch.as_tensor(field, dtype=model.shapedirs.dtype)


def test_flame_fit_then_face_params_write_expression_and_jaw_into_the_motion(flame_local, tmp_path):
    from backend.fitting.estimate import to_motion
    from backend.fitting.face_params import apply_face_fit
    from backend.fitting.fit import FitSettings, fit_keypoints
    from backend.perception.keypoints import Keypoints, empty_keypoints
    from blender_addon.core.motion import Motion

    flame = flame_local
    emb = landmark_embedding(flame)
    F, J, E = 8, flame.num_joints, flame.num_expression
    jaw_j = list(flame.joint_names).index("jaw")
    rotvec, expr = _known_face(F, J, E, jaw_j, seed=4)
    rotvec[:, 0, 1] = np.linspace(-0.2, 0.2, F)
    K, R, cam_t = _camera(distance=0.5)
    pts = _true_landmarks(flame, emb, rotvec, np.zeros((F, 3)), expr)
    arr = empty_keypoints(F, 30.0, SIZE, (0, 0))
    arr["frame_indices"] = np.arange(F)
    arr["found"][:] = True
    arr["face"] = _face_detections(emb, pts, K, R, cam_t)
    good = arr["face"][:, emb.source_index, :2]
    arr["bbox"] = np.concatenate([good.min(1), good.max(1)], 1)
    kp = Keypoints(fps=30.0, image_size=SIZE, source="synthetic", **arr)
    body = fit_keypoints(kp, flame, FitSettings(iters_global=10, iters_body=10, iters_contact=0))
    fit, expression, face = apply_face_fit(body, kp, flame)
    assert expression.shape == (F, E) and np.median(_corr(expression, expr)) > 0.9
    assert np.nanmedian(face.reproj_px) < 1.0
    motion = to_motion(fit, kp, flame, "synthetic", None, expression)
    back = Motion.load(motion.save(tmp_path / "m.npz"))
    assert back.expression.shape == (F, E) and np.allclose(back.expression, expression)
    assert np.allclose(back.rotvec[:, jaw_j], fit.rotvec[:, jaw_j])
    assert np.abs(back.rotvec[:, jaw_j, 0] - rotvec[:, jaw_j, 0]).max() < 0.08
    # Models without an expression space are passed through unchanged.
    same, none, _ = apply_face_fit(body, kp, type("NoFace", (), {"name": "mano", "num_expression": 0})())
    assert same is body and none is None


def test_table_follows_mediapipes_own_face_regions():
    """Each iBUG group maps into the matching face-mesh region of MediaPipe's own connection sets (person's right
    eye/brow -> MediaPipe's RIGHT sets)."""
    from mediapipe.python.solutions import face_mesh_connections as c

    def region(conns):
        return {i for edge in conns for i in edge}

    m = MEDIAPIPE_IBUG68
    assert set(m[0:17]) <= region(c.FACEMESH_FACE_OVAL)
    assert set(m[17:22]) <= region(c.FACEMESH_RIGHT_EYEBROW) and set(m[22:27]) <= region(c.FACEMESH_LEFT_EYEBROW)
    assert set(m[27:36]) <= region(c.FACEMESH_NOSE)
    assert set(m[36:42]) <= region(c.FACEMESH_RIGHT_EYE) and set(m[42:48]) <= region(c.FACEMESH_LEFT_EYE)
    assert set(m[48:68]) <= region(c.FACEMESH_LIPS)
    # The indices expression.py measures (lip gap, mouth corners, eye corners) are the same points.
    from backend.fitting.expression import EYE_L, EYE_R, LOWER_LIP, MOUTH_LEFT, MOUTH_RIGHT, UPPER_LIP

    assert (m[62], m[66], m[54], m[48]) == (UPPER_LIP, LOWER_LIP, MOUTH_LEFT, MOUTH_RIGHT)
    assert (m[42], m[45], m[39], m[36]) == (EYE_L[0], EYE_L[1], EYE_R[0], EYE_R[1])
