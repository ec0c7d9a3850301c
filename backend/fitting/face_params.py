"""Jaw rotation and expression coefficients of FLAME / SMPL-X (and FLAME's head pose) from the 468 face-mesh
landmarks (see docs/correspondences.md, "Face parameters").

The models' own landmark embedding (smplx's ``lmk_faces_idx`` / ``lmk_bary_coords``: 51 barycentric points on mesh
faces, iBUG 68-point landmarks 17..67) is matched to MediaPipe face-mesh indices by :data:`MEDIAPIPE_IBUG68`. All
frames are fitted at once (Adam in torch): robust reprojection + small L2 priors on the expression and the jaw +
temporal smoothness. Only the landmark vertices are posed (the same LBS as ``smplx.lbs.lbs``, restricted).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform

from backend.fitting.skeleton import matrix_to_rotvec, rotvec_to_matrix
from backend.runtime import torch_threads

log = logging.getLogger(__name__)

# iBUG 68-point landmark k (0-based; 0-16 jaw contour, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth; the
# person's right side first) -> MediaPipe face-mesh index.
MEDIAPIPE_IBUG68 = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw contour
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows (right, left)
    168, 197, 5, 4, 98, 97, 2, 326, 327,  # nose bridge, nostrils
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes (right, left)
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
)
STATIC_IBUG = tuple(range(17, 68))  # the 51 points of the models' static landmark embedding


@dataclasses.dataclass(frozen=True, eq=False)
class LandmarkEmbedding:
    """L model landmarks: barycentric points on mesh triangles, and the MediaPipe face-mesh index each matches."""

    triangles: np.ndarray  # (L, 3) vertex indices
    bary: np.ndarray  # (L, 3) barycentric weights
    source_index: np.ndarray  # (L,) MediaPipe face-mesh indices
    origin: str = ""  # where the embedding came from

    @classmethod
    def from_faces(cls, faces: np.ndarray, faces_idx: np.ndarray, bary: np.ndarray, origin: str = "",
                   ibug: tuple[int, ...] = STATIC_IBUG) -> "LandmarkEmbedding":
        """smplx's layout: faces_idx (L,) into the mesh faces (Fm, 3), bary (L, 3); ``ibug`` numbers the points."""
        faces_idx = np.asarray(faces_idx).astype(np.int64).reshape(-1)
        if len(faces_idx) != len(ibug):
            raise ValueError(f"{origin}: {len(faces_idx)} landmarks in the embedding, expected {len(ibug)} "
                             "(iBUG points 17..67)")
        return cls(np.asarray(faces)[faces_idx].astype(np.int64), np.asarray(bary, np.float64).reshape(-1, 3),
                   np.array([MEDIAPIPE_IBUG68[k] for k in ibug], np.int64), origin)

    @classmethod
    def from_vertices(cls, vertices: dict[int, int], origin: str = "vertex table") -> "LandmarkEmbedding":
        """Landmarks at chosen mesh vertices: {MediaPipe face-mesh index: vertex index}."""
        src = np.array(sorted(vertices), np.int64)
        v = np.array([vertices[int(s)] for s in src], np.int64)
        bary = np.zeros((len(v), 3))
        bary[:, 0] = 1.0
        return cls(np.repeat(v[:, None], 3, 1), bary, src, origin)


def landmark_embedding(model) -> LandmarkEmbedding | None:
    """The static landmark embedding of an SMPL-X / FLAME model (from its file, or FLAME's
    ``flame_static_embedding.pkl`` / ``landmark_embedding.npy`` next to it), or None when there is none."""
    source = Path(getattr(model, "source", ""))
    faces = model.faces.cpu().numpy()
    from backend.bodymodels.model_files import read_extra_file, read_model_file

    if model.name == "smplx" and source.is_file():
        data = read_extra_file(source, "smplx") if source.suffix == ".npz" else read_model_file(source, "smplx")
        if "lmk_faces_idx" in data and "lmk_bary_coords" in data:
            return LandmarkEmbedding.from_faces(faces, data["lmk_faces_idx"], data["lmk_bary_coords"], str(source))
    if model.name == "flame":
        static = source.parent / "flame_static_embedding.pkl"
        if static.is_file():
            data = read_extra_file(static, "flame")
            return LandmarkEmbedding.from_faces(faces, data["lmk_face_idx"], data["lmk_b_coords"], str(static))
        full = source.parent / "landmark_embedding.npy"  # FLAME 2020 release
        if full.is_file():
            data = read_extra_file(full, "flame")
            return LandmarkEmbedding.from_faces(faces, data["static_lmk_faces_idx"], data["static_lmk_bary_coords"],
                                                str(full))
    return None


class LandmarkLBS(torch.nn.Module):
    """The landmarks of an SMPL-family model under pose/shape/expression, posing only the vertices they use.

    forward(rotmat (B, J, 3, 3), transl (B, 3) m, betas (1, S), expression (B, E)) -> (B, L, 3) metres; equals
    ``vertices2landmarks`` on the full ``model(...)`` output."""

    def __init__(self, model, emb: LandmarkEmbedding) -> None:
        super().__init__()
        sub, inv = np.unique(emb.triangles.reshape(-1), return_inverse=True)
        s = torch.as_tensor(sub)
        dt = torch.float32
        self.S, self.E = model.num_shape, model.num_expression
        P = model.posedirs.shape[0]
        self.register_buffer("vt", model.v_template[s].to(dt))
        self.register_buffer("sd", model.shapedirs[s].to(dt))  # (n, 3, S + E)
        self.register_buffer("pd", model.posedirs.reshape(P, -1, 3)[:, s].reshape(P, -1).to(dt))
        self.register_buffer("w", model.lbs_weights[s].to(dt))
        jreg = model.J_regressor.to(dt)
        self.register_buffer("jt", jreg @ model.v_template.to(dt))
        self.register_buffer("jd", torch.einsum("jv,vck->jck", jreg, model.shapedirs.to(dt)))
        self.register_buffer("parents", model.parents_t.clone())
        self.register_buffer("tri", torch.as_tensor(inv.reshape(-1, 3)))
        self.register_buffer("bary", torch.as_tensor(emb.bary, dtype=dt))

    def rest_root(self, betas: torch.Tensor | None) -> torch.Tensor:
        """(3,) the root joint at rest (with ``betas``)."""
        if betas is None or not self.S:
            return self.jt[0]
        return self.jt[0] + self.jd[0, :, :self.S] @ betas.reshape(-1)

    def forward(self, rotmat: torch.Tensor, transl: torch.Tensor, betas: torch.Tensor | None,
                expression: torch.Tensor | None) -> torch.Tensor:
        B = rotmat.shape[0]
        b = betas.expand(B, -1) if betas is not None else torch.zeros(B, self.S, device=rotmat.device)
        e = expression.expand(B, -1) if expression is not None else torch.zeros(B, self.E, device=rotmat.device)
        k = torch.cat([b, e], 1)
        v = self.vt + torch.einsum("nck,bk->bnc", self.sd, k)
        joints = self.jt + torch.einsum("jck,bk->bjc", self.jd, k)
        feat = (rotmat[:, 1:] - torch.eye(3, device=rotmat.device)).reshape(B, -1)
        v = v + (feat @ self.pd).reshape(B, -1, 3)
        _, A = batch_rigid_transform(rotmat, joints, self.parents)
        T = torch.einsum("nj,bjrc->bnrc", self.w, A)
        v = (T[..., :3, :3] @ v[..., None])[..., 0] + T[..., :3, 3]
        lm = (v[:, self.tri] * self.bary[None, :, :, None]).sum(2)
        return lm + transl[:, None]


@dataclasses.dataclass(frozen=True)
class FaceFitSettings:
    iters_rigid: int = 40  # head pose alone first (FLAME only)
    iters: int = 300
    lr: float = 0.05
    warmup: int = 10
    gmof_sigma: float = 8.0  # robust scale, % of the face's image size
    w_expr: float = 0.05  # L2 on expression coefficients (per coefficient squared)
    w_jaw: float = 20.0  # jaw rotation off its opening axis, and closing past neutral (rad squared)
    w_jaw_open: float = 0.5  # jaw opening (rad squared)
    w_neck: float = 1.0  # FLAME neck rotation (rad squared)
    w_smooth_expr: float = 2.0  # change per frame of the expression coefficients
    w_smooth_rot: float = 50.0  # change per frame of jaw / neck / head rotation (rad)
    w_smooth_transl: float = 500.0  # change per frame of the head's translation (m)
    min_confidence: float = 0.05  # landmarks below this confidence are ignored
    fit_expression: bool = True  # False: jaw and expression stay at zero (head pose only, FLAME)


@dataclasses.dataclass(frozen=True, eq=False)
class FaceFit:
    """Face parameters per frame (F frames) in model axes."""

    rotvec: np.ndarray  # (F, J, 3) the input rotations with jaw (and for FLAME global / neck) replaced, radians
    transl: np.ndarray  # (F, 3) metres (changed for FLAME only)
    expression: np.ndarray  # (F, E) coefficients
    landmarks_uv: np.ndarray  # (F, L, 2) projected model landmarks, pixels
    source_index: np.ndarray  # (L,) MediaPipe face-mesh indices of landmarks_uv
    reproj_px: np.ndarray  # (F,) median landmark reprojection error, pixels (nan without a face)


def _gmof(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    return sigma * sigma * sq / (sigma * sigma + sq)


@dataclasses.dataclass(eq=False)
class _FaceProblem:
    """The fixed data and the optimised tensors of one face fit (F frames, L landmarks)."""

    lbs: LandmarkLBS
    betas: torch.Tensor | None
    uv_t: np.ndarray  # (F, L, 2) target pixels (nan-free copy in uv_tt)
    uv_tt: torch.Tensor
    w: np.ndarray  # (F, L) weights
    w_t: torch.Tensor
    scale: torch.Tensor  # (F, 1) px -> % of the face's image size
    seen: np.ndarray  # (F,) bool: a face was detected
    rot0: np.ndarray  # (F, J, 3) initial rotations
    tr0: np.ndarray  # (F, 3) initial translation, m
    base_R: torch.Tensor  # (F, J, 3, 3)
    K_t: torch.Tensor
    R_t: torch.Tensor
    t_t: torch.Tensor
    jaw_j: int
    neck_j: int
    fit_head: bool
    jaw: torch.Tensor  # (F, 3) optimised
    expr: torch.Tensor  # (F, E) optimised
    d_glob: torch.Tensor  # (F, 3) optimised (head)
    transl: torch.Tensor  # (F, 3) optimised (head)
    neck: torch.Tensor  # (F, 3) optimised (head)

    @property
    def F(self) -> int:
        return self.uv_t.shape[0]

    def pose(self) -> torch.Tensor:
        """(F, J, 3, 3) rotations with the fitted jaw (and head / neck)."""
        cols = list(self.base_R.unbind(1))
        cols[self.jaw_j] = rotvec_to_matrix(self.jaw)
        if self.fit_head:
            cols[0] = rotvec_to_matrix(self.d_glob) @ self.base_R[:, 0]
            if self.neck_j >= 0:
                cols[self.neck_j] = rotvec_to_matrix(self.neck)
        return torch.stack(cols, 1)

    def head_transl(self) -> torch.Tensor:
        return self.transl if self.fit_head else torch.as_tensor(self.tr0, dtype=torch.float32)

    def project(self, P: torch.Tensor) -> torch.Tensor:
        """World points (F, L, 3) m -> pixels (F, L, 2)."""
        cam = P @ self.R_t.T + self.t_t
        return cam[..., :2] / cam[..., 2:].clamp_min(0.01) * self.K_t[0, 0] + self.K_t[:2, 2]


def _face_targets(face: np.ndarray, emb: LandmarkEmbedding, s: FaceFitSettings) -> tuple:
    """(uv (F, L, 2) px, weights (F, L), face size (F,) px, seen (F,) bool) of the embedding's landmarks."""
    F = face.shape[0]
    uv_t = face[:, emb.source_index, :2].astype(np.float64)
    w = face[:, emb.source_index, 2].astype(np.float64)
    w = np.where(w >= s.min_confidence, w, 0.0)
    pts = np.where(w[..., None] > 0, uv_t, np.nan)
    seen = (w > 0).sum(1) >= 4
    size = np.ones(F)
    if seen.any():
        ext = np.nanmax(pts[seen], 1) - np.nanmin(pts[seen], 1)
        size[seen] = np.maximum(ext.max(1), 4.0)
    size[~seen] = np.median(size[seen]) if seen.any() else 100.0
    w[~seen] = 0.0
    return uv_t, w, size, seen


def _initial_head(lbs: LandmarkLBS, betas, uv_t, w, rotvec, transl, neck_j, K, cam_R, cam_t) -> tuple:
    """(rot0 (F, J, 3), tr0 (F, 3)): the body fit's, with the head pose from a rigid PnP of the neutral landmarks
    (with the body fit's shape)."""
    from backend.fitting.init import initial_pnp

    J = rotvec.shape[1]
    rot0 = rotvec.astype(np.float64).copy()
    with torch.no_grad():
        rest = lbs(torch.eye(3).expand(1, J, 3, 3), torch.zeros(1, 3), betas, None)[0].double().numpy()
        rest0 = lbs.rest_root(betas).double().numpy()
    R_g, T = initial_pnp(uv_t, w, rest, rest0, cam_R, K)
    rot0[:, 0] = matrix_to_rotvec(torch.as_tensor(R_g)).numpy()
    if neck_j >= 0:
        rot0[:, neck_j] = 0.0
    return rot0, T - cam_R.T @ np.asarray(cam_t, np.float64)


def _prepare_face(model, face, rotvec, transl, shape, K, cam_R, cam_t, s, emb, fit_head) -> _FaceProblem:
    """Targets, initial head pose and the optimised tensors of a face fit."""
    names = list(model.joint_names)
    if "jaw" not in names:
        raise ValueError(f"the {model.name} model has no jaw joint")
    jaw_j = names.index("jaw")
    neck_j = names.index("neck") if "neck" in names else -1
    F = rotvec.shape[0]
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    lbs = LandmarkLBS(model, emb)
    betas = tt(shape).reshape(1, -1) if shape is not None and model.num_shape else None
    uv_t, w, size, seen = _face_targets(face, emb, s)
    rot0, tr0 = rotvec.astype(np.float64).copy(), transl.astype(np.float64).copy()
    if fit_head and seen.any():
        rot0, tr0 = _initial_head(lbs, betas, uv_t, w, rotvec, transl, neck_j, K, cam_R, cam_t)
    base = tt(rot0)
    return _FaceProblem(
        lbs=lbs, betas=betas, uv_t=uv_t, uv_tt=tt(np.nan_to_num(uv_t)), w=w, w_t=tt(w), scale=tt(100.0 / size)[:, None],
        seen=seen, rot0=rot0, tr0=tr0, base_R=rotvec_to_matrix(base), K_t=tt(K), R_t=tt(cam_R), t_t=tt(cam_t),
        jaw_j=jaw_j, neck_j=neck_j, fit_head=fit_head, jaw=base[:, jaw_j].clone().requires_grad_(True),
        expr=torch.zeros(F, model.num_expression, requires_grad=True), d_glob=torch.zeros(F, 3, requires_grad=True),
        transl=tt(tr0).clone().requires_grad_(True),
        neck=(base[:, neck_j] if neck_j >= 0 else torch.zeros(F, 3)).clone().requires_grad_(True))


def _face_loss(fp: _FaceProblem, s: FaceFitSettings, rigid: bool) -> torch.Tensor:
    """Robust reprojection + (unless ``rigid``) expression and jaw priors + neck prior + temporal smoothness."""
    F = fp.F
    P = fp.lbs(fp.pose(), fp.head_transl(), fp.betas, fp.expr)
    res = ((fp.project(P) - fp.uv_tt) * fp.scale[..., None]).pow(2).sum(-1)
    loss = (fp.w_t * _gmof(res, s.gmof_sigma)).sum() / F
    if not rigid:
        loss = loss + s.w_expr * fp.expr.pow(2).sum() / F
        # The jaw opens about the model's left-right (x) axis; other components and closing past neutral are
        # penalised, the opening itself lightly.
        loss = loss + s.w_jaw * (fp.jaw[:, 1:].pow(2).sum() + torch.relu(-fp.jaw[:, 0]).pow(2).sum()) / F
        loss = loss + s.w_jaw_open * fp.jaw[:, 0].pow(2).sum() / F
    if fp.fit_head and fp.neck_j >= 0:
        loss = loss + s.w_neck * fp.neck.pow(2).sum() / F
    if F > 1:
        dt_ = lambda x: (x[1:] - x[:-1]).pow(2).sum() / F  # noqa: E731
        loss = loss + s.w_smooth_expr * dt_(fp.expr) + s.w_smooth_rot * dt_(fp.jaw)
        if fp.fit_head:
            loss = loss + s.w_smooth_rot * (dt_(fp.d_glob) + dt_(fp.neck)) + s.w_smooth_transl * dt_(fp.transl)
    return loss


def _run_face_stage(fp: _FaceProblem, s: FaceFitSettings, params: list, iters: int, rigid: bool, progress,
                    cancelled) -> float:
    """Adam (warm-up, cosine decay) on ``params``; returns the final loss (nan when ``iters`` <= 0)."""
    from backend.fitting.fit import FitCancelled

    if iters <= 0:
        return float("nan")
    opt = torch.optim.Adam(params, lr=s.lr)
    warm = max(0, min(s.warmup, iters // 2))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (k + 1) / (warm + 1) if k < warm else
                                              0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, iters - warm))))
    loss = torch.zeros(())
    name = "fit head" if rigid else "fit face"
    for it in range(iters):
        if cancelled is not None and cancelled():
            raise FitCancelled("fit cancelled")
        if progress is not None and (it % 10 == 0 or it == iters - 1):
            progress(name, it + 1, iters)
        opt.zero_grad(set_to_none=True)
        loss = _face_loss(fp, s, rigid)
        loss.backward()
        opt.step()
        sched.step()
    return float(loss.detach())


def _face_result(fp: _FaceProblem, emb: LandmarkEmbedding, final: float) -> FaceFit:
    with torch.no_grad():
        rv = fp.rot0.copy()
        rv[:, fp.jaw_j] = fp.jaw.double().numpy()
        if fp.fit_head:
            rv[:, 0] = matrix_to_rotvec(rotvec_to_matrix(fp.d_glob) @ fp.base_R[:, 0]).double().numpy()
            if fp.neck_j >= 0:
                rv[:, fp.neck_j] = fp.neck.double().numpy()
        tr = fp.head_transl().double().numpy()
        uv = fp.project(fp.lbs(fp.pose(), torch.as_tensor(tr, dtype=torch.float32), fp.betas, fp.expr)).double().numpy()
    err = np.linalg.norm(uv - np.nan_to_num(fp.uv_t), axis=-1)
    reproj = np.array([np.median(e[m > 0]) if (m > 0).any() else np.nan for e, m in zip(err, fp.w)])
    log.info("face parameters for %d frames (%s): loss %.3f, median landmark error %.2f px", fp.F, emb.origin or
             "embedding", final, float(np.nanmedian(reproj)) if fp.seen.any() else float("nan"))
    return FaceFit(rotvec=rv, transl=tr, expression=fp.expr.detach().double().numpy(), landmarks_uv=uv,
                   source_index=emb.source_index, reproj_px=reproj)


def fit_face_params(model, face: np.ndarray, rotvec: np.ndarray, transl: np.ndarray, shape: np.ndarray | None,
                    K: np.ndarray, cam_R: np.ndarray, cam_t: np.ndarray, settings: FaceFitSettings = FaceFitSettings(),
                    embedding: LandmarkEmbedding | None = None, fit_head: bool | None = None,
                    progress: Callable[[str, int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> FaceFit:
    """Fit jaw + expression (and, with ``fit_head`` - default for FLAME - global orientation, translation, neck).

    face (F, 468, 3): face-mesh pixels + confidence. rotvec (F, J, 3), transl (F, 3), shape (S,): the body fit,
    kept except for the fitted parameters. K (3, 3), cam_R (3, 3) world -> camera, cam_t (3,) metres: the camera.
    ``embedding``: default :func:`landmark_embedding` (ValueError if the model has none)."""
    emb = embedding if embedding is not None else landmark_embedding(model)
    if emb is None:
        raise ValueError(f"the {model.name} model has no landmark embedding (lmk_faces_idx / flame_static_embedding."
                         "pkl next to the model file); put the embedding file from the model's download there")
    fit_head = model.name == "flame" if fit_head is None else fit_head
    s = settings
    fp = _prepare_face(model, face, rotvec, transl, shape, K, cam_R, cam_t, s, emb, fit_head)
    run = functools.partial(_run_face_stage, fp, s, progress=progress, cancelled=cancelled)
    head = [fp.d_glob, fp.transl, fp.neck]
    if not s.fit_expression:
        with torch.no_grad():
            fp.jaw.zero_()
    final = float("nan")
    if fit_head:
        final = run(head, s.iters_rigid, True)
    if s.fit_expression:
        final = run([fp.jaw, fp.expr] + (head if fit_head else []), s.iters, False)
    elif fit_head:
        final = run(head, s.iters, True)
    return _face_result(fp, emb, final)


def apply_face_fit(fit, kp, model, settings: FaceFitSettings = FaceFitSettings(),
                   progress: Callable[[str, int, int], None] | None = None,
                   cancelled: Callable[[], bool] | None = None):
    """The body fit ``fit`` (FitResult) of ``kp`` (Keypoints) with jaw/expression (FLAME: and head pose) fitted to
    the face mesh: (FitResult, expression (F, E) or None, FaceFit or None). Unchanged (None) for models without a
    jaw and expression space, a landmark embedding, or a detected face."""
    if model.name not in ("smplx", "flame") or not model.num_expression or not (kp.face[..., 2] > 0).any():
        return fit, None, None
    emb = landmark_embedding(model)
    if emb is None:
        log.warning("%s: no landmark embedding next to the model file; jaw and expression are not fitted",
                    model.name)
        return fit, None, None
    with torch_threads(1):  # small ops: faster single-threaded, and the CPU is shared
        face = fit_face_params(model, kp.face, fit.rotvec, fit.transl, fit.shape, fit.K, fit.cam_R, fit.cam_t,
                               settings, emb, progress=progress, cancelled=cancelled)
    return dataclasses.replace(fit, rotvec=face.rotvec, transl=face.transl), face.expression, face
