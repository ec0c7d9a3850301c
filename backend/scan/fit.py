"""Fit a body model's pose and shape to a scan: units, global alignment, then a coarse-to-fine robust Chamfer +
point-to-plane fit in torch with the pose prior and joint limits.

    scan = read_scan("person.ply")
    fit = fit_scan(scan, load_body_model("anny"))
    fit.vertices        # (V, 3) metres, the fitted body in the scan's axes, model vertex order

The fit poses a subset of the model's vertices with :class:`~backend.fitting.skeleton.LandmarkRig` (body joints;
fingers, toes and eyes follow their parents, except for MANO where the fingers are the point); closest points
are found with k-d trees every step, both ways (model -> scan, scan -> model), under a Geman-McClure kernel so
holes, missing parts and clutter pull little.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree

from backend.bodymodels.base import BodyModel
from backend.bodymodels.detail import vertex_normals
from backend.fitting.priors import hinge_axes, hinge_penalty, stiffness
from backend.fitting.skeleton import build_landmark_rig, matrix_to_rotvec, rotvec_to_matrix
from backend.scan.align import Alignment, align_global
from backend.scan.limits import joint_limits, limit_penalty
from backend.scan.reader import Scan, ScanError, detect_units
from backend.scan.surface import sample_scan
from blender_addon.core.rigspec import RigSpec

log = logging.getLogger(__name__)

# joints that follow their parent in a body fit (a scan rarely resolves them)
FOLLOWERS = ("finger", "metacarpal", "thumb", "index", "middle", "ring", "pinky", "toe", "eye", "jaw", "tongue")
Progress = Callable[[str, int, int], None]
COARSE_STAGES = 2
SHAPE_LR_BETAS = 5.0


@dataclasses.dataclass(frozen=True)
class Stage:
    iterations: int
    sigma_cm: float  # robust kernel width
    prior: float  # pose-prior weight
    lr: float
    shape: bool = True


@dataclasses.dataclass(frozen=True)
class ScanFitSettings:
    scan_points: int = 4000
    model_points: int = 2000
    starts: int = 6  # global alignments carried into the coarse stages; the lowest loss after them goes on
    arm_starts: int = 2  # of the best global starts, each also tried with either arm raised above the shoulder
    arm_margin: float = 0.1  # a raised-arm start goes on only if its coarse loss is this much lower (relative)
    screen_points: int = 1500  # scan samples the coarse stages of every start see
    stages: tuple[Stage, ...] = (Stage(30, 30.0, 1.0, 0.04), Stage(30, 10.0, 0.1, 0.03), Stage(90, 4.0, 0.02, 0.03),
                                 Stage(120, 1.5, 0.003, 0.015))
    relinearise_every: int = 30  # steps between re-linearisations of the shape -> rest map
    limits: bool = True  # joint limits at a fixed weight (backend/scan/limits.py)
    fit_pose: bool = True  # False: rigid alignment + shape only (the benchmark's baseline)
    not_human_chamfer_mm: float = 60.0  # a fit worse than this: "does not look like a <model>"
    seed: int = 0
    device: str = "cpu"

    def quick(self) -> "ScanFitSettings":
        """A preview: one start (no raised-arm ones), a quarter of the steps, fewer points."""
        stages = tuple(dataclasses.replace(s, iterations=max(5, s.iterations // 4)) for s in self.stages)
        return dataclasses.replace(self, starts=1, arm_starts=0, stages=stages, scan_points=2500, model_points=1200)


@dataclasses.dataclass(frozen=True, eq=False)
class ScanFit:
    model: str
    rotvec: np.ndarray  # (J, 3) radians, local joint rotations (root: model axes -> scan axes)
    transl: np.ndarray  # (3,) metres
    shape: np.ndarray  # (S,) shape coefficients (Anny: phenotype offsets)
    vertices: np.ndarray  # (V, 3) metres, scan axes
    scale: float  # metres per scan-file unit
    unit: str  # "m" | "cm" | "mm"
    chamfer_mm: float  # symmetric mean closest-point distance, fitted body <-> scan samples
    seconds: float
    notes: tuple[str, ...] = ()


def fit_scan(scan: Scan, model: BodyModel, settings: ScanFitSettings = ScanFitSettings(),
             progress: Progress | None = None) -> ScanFit:
    """Fit ``model`` to ``scan``. ``progress(stage, done, total)`` is called between steps (it may raise to
    cancel). Raises :class:`ScanError` when the scan does not look like the model (a cube, a chair)."""
    t0 = time.perf_counter()
    report = progress or (lambda *a: None)
    torch.manual_seed(settings.seed)
    problem = _Problem(model, settings)
    scale, unit = detect_units(scan.vertices, problem.size)
    notes = list(scan.notes)
    if unit != "m":
        notes.append(f"units look like {unit} (largest extent {np.ptp(scan.vertices, axis=0).max():.4g}): "
                     f"scaled by {scale}")
        log.info("%s: %s", scan.path, notes[-1])
    pts, nrm = sample_scan(scan, scale, settings.scan_points, settings.seed)
    report("align", 0, 1)
    starts = align_global(problem.rest_points, pts, keep=settings.starts, seed=settings.seed)
    report("align", 1, 1)
    target = _Target(pts, nrm)
    stages = settings.stages if settings.fit_pose else tuple(dataclasses.replace(s, prior=1e6) for s in
                                                             settings.stages)
    coarse = stages[:COARSE_STAGES]  # run from every start; the lowest loss after them goes on
    arm_starts = starts[:settings.arm_starts] if settings.fit_pose else []
    extra = len(arm_starts) * len(problem.arm_raises) + len(starts) - 1
    total = sum(s.iterations for s in stages) + sum(s.iterations for s in coarse) * extra
    done = [0]

    def tick(name: str) -> None:
        done[0] += 1
        report(name, done[0], total)

    states = [problem.initial_state(a) for a in starts]
    states += [problem.raise_arm(problem.initial_state(a), k) for a in arm_starts
               for k in range(len(problem.arm_raises))]
    screen = _Target(*_subsample(pts, nrm, settings.screen_points, settings.seed))
    losses = [[problem.run(st, screen, stage, lambda: tick("coarse")) for stage in coarse][-1] for st in states]
    losses[len(starts):] = [v * (1 + settings.arm_margin) for v in losses[len(starts):]]  # rarer: must win clearly
    state = states[int(np.argmin(losses))]
    log.debug("coarse losses per start: %s", ", ".join(f"{v:.3f}" for v in losses))
    for i, stage in enumerate(stages[COARSE_STAGES:], start=COARSE_STAGES + 1):
        problem.run(state, target, stage, lambda i=i: tick(f"stage {i}"))
    fit = problem.result(state, scale, unit)
    chamfer = symmetric_chamfer(fit.vertices, pts)
    if chamfer * 1000 > settings.not_human_chamfer_mm:
        raise ScanError(f"{scan.path}: this does not look like a {model.name} body (best fit is {chamfer * 1000:.0f}"
                        f" mm off on average); check the file, or pick the right --model (mano for a hand)")
    return dataclasses.replace(fit, chamfer_mm=chamfer * 1000, seconds=time.perf_counter() - t0,
                               notes=tuple(notes))


def model_rig(model: BodyModel) -> RigSpec:
    """The model's RigSpec (Anny's default body from the on-disk cache: exporting it takes a while)."""
    if model.name == "anny" and bool(torch.all(model.base_phenotype == 0.5)):
        from backend.bodymodels.rig_cache import cached_anny_rig

        return RigSpec.load(cached_anny_rig(model=model))
    return model.rig_spec()


def symmetric_chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of the two mean closest-point distances between point sets a (N, 3) and b (M, 3), in their units."""
    return 0.5 * float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


class _Target:
    """The scan samples (N, 3) metres with normals and a k-d tree."""

    def __init__(self, points: np.ndarray, normals: np.ndarray):
        self.tree = cKDTree(points)
        self.points = torch.as_tensor(points, dtype=torch.float32)
        self.normals = torch.as_tensor(normals, dtype=torch.float32)


@dataclasses.dataclass
class _State:
    R0: torch.Tensor  # (3, 3) root rotation the global correction applies to
    d_glob: torch.Tensor  # (3,)
    transl: torch.Tensor  # (3,)
    pose: torch.Tensor  # (A - 1, 3)
    shape: torch.Tensor | None  # (1, S)


class _Problem:
    """The model side of the fit: the posing rig, sampled surface points, priors."""

    def __init__(self, model: BodyModel, settings: ScanFitSettings):
        self.model, self.settings = model, settings
        rig = model_rig(model)
        self.rig = rig
        names = rig.joint_names
        active = np.array([model.name == "mano" or not any(f in n.lower() for f in FOLLOWERS) for n in names])
        rest_v = rig.template.astype(np.float64)
        self.size = float(np.ptp(rest_v, axis=0).max())
        self.rest_points = rest_v
        self.vert_index = _area_sample(rest_v, rig.faces, settings.model_points, settings.seed)
        self.lrig = build_landmark_rig(model, rig, active, self.vert_index)
        self.rest_normals = torch.as_tensor(model_normals(rest_v, rig.faces, model.name)[self.vert_index],
                                            dtype=torch.float32)
        A = self.lrig.num_active
        self.dense_weights = torch.zeros(len(self.vert_index), A).scatter_(1, self.lrig.vert_joint,
                                                                           self.lrig.vert_weight)
        act = self.lrig.active_index
        self.stiff = torch.as_tensor(stiffness(tuple(names[j] for j in act))[1:])
        pos = {int(j): i for i, j in enumerate(act)}
        hinges = [(pos[j] - 1, ax, bone) for j, ax, bone in hinge_axes(rig) if j in pos]
        self.h_idx = torch.as_tensor([h[0] for h in hinges], dtype=torch.long)
        self.h_ax = torch.as_tensor(np.array([h[1] for h in hinges]).reshape(-1, 3), dtype=torch.float32)
        self.h_bone = torch.as_tensor(np.array([h[2] for h in hinges]).reshape(-1, 3), dtype=torch.float32)
        self.num_active = A
        self.limits = joint_limits(rig, act) if settings.limits else None
        self.arm_raises = _arm_raises(rig, act)
        self.fit_shape = model.num_shape > 0
        self.anny = model.name == "anny"
        self.fixed_rest = self.lrig.rest(None)

    def initial_state(self, a: Alignment) -> _State:
        rj0 = self.fixed_rest[0][0].double().numpy()
        # x_scan = R (x - rj0) + rj0 + transl  ==  s R x + t  at s = 1 (shape takes the size)
        centre = self.rest_points.mean(0)
        t = a.t + (a.scale - 1) * a.R @ centre  # keep the model centroid where the similarity put it
        transl = t + a.R @ rj0 - rj0
        S = self.model.num_shape
        shape = torch.zeros(1, S, requires_grad=True) if self.fit_shape else None
        return _State(torch.as_tensor(a.R, dtype=torch.float32), torch.zeros(3, requires_grad=True),
                      torch.as_tensor(transl, dtype=torch.float32).requires_grad_(True),
                      torch.zeros(self.num_active - 1, 3, requires_grad=True), shape)

    def pose_points(self, st: _State) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed sample vertices (Vs, 3) metres and their unit normals (Vs, 3), scan axes."""
        if st.shape is not None:
            rest = self.lrig.rest_linear(st.shape)
        else:
            rest = self.fixed_rest
        root = rotvec_to_matrix(st.d_glob) @ st.R0
        rotmat = torch.cat([root[None], rotvec_to_matrix(st.pose)], 0)[None]
        return _skin_with_normals(self.lrig, self.dense_weights, rotmat, st.transl[None], rest, self.rest_normals)

    def raise_arm(self, st: _State, k: int) -> _State:
        """``st`` with arm ``k`` of :attr:`arm_raises` raised above the shoulder (in place; returned)."""
        row, rotvec = self.arm_raises[k]
        with torch.no_grad():
            st.pose[row] = rotvec
        return st

    def run(self, st: _State, target: _Target, stage: Stage, tick: Callable[[], None]) -> float:
        """One stage of Adam steps on ``st`` (in place). Returns the final data loss."""
        fit_shape = st.shape is not None and stage.shape
        if st.shape is not None:
            self.lrig.linearise(st.shape.detach())
        params = [st.d_glob, st.transl] + ([st.pose] if stage.prior < 1e5 else []) + ([st.shape] if fit_shape
                                                                                      else [])
        groups = [{"params": [p for p in params if p is not st.shape]}]
        if fit_shape:  # SMPL-family betas are unit-variance: larger steps than Anny's [0, 1] phenotypes
            groups.append({"params": [st.shape], "lr": stage.lr * (1.0 if self.anny else SHAPE_LR_BETAS)})
        opt = torch.optim.Adam(groups, lr=stage.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, stage.iterations), eta_min=stage.lr * 0.1)
        data = torch.zeros(())
        for it in range(stage.iterations):
            if fit_shape and it and it % self.settings.relinearise_every == 0:
                self.lrig.linearise(st.shape.detach())
            opt.zero_grad()
            verts, normals = self.pose_points(st)
            data = _data_term(verts, normals, target, stage.sigma_cm)
            loss = data + self._priors(st, stage, fit_shape)
            loss.backward()
            opt.step()
            sched.step()
            tick()
        return float(data.detach())

    def _priors(self, st: _State, stage: Stage, fit_shape: bool) -> torch.Tensor:
        out = stage.prior * (self.stiff[:, None] * st.pose ** 2).sum() / max(1, len(self.stiff))
        if len(self.h_idx):
            out = out + stage.prior * hinge_penalty(st.pose[None], self.h_idx, self.h_ax, self.h_bone)
        if self.limits is not None:
            out = out + limit_penalty(st.pose, *self.limits)
        if fit_shape:
            if self.anny:  # phenotypes live in [0, 1] around the 0.5 base
                out = out + 100 * (torch.relu(st.shape.abs() - 0.5) ** 2).sum() + 0.01 * (st.shape ** 2).sum()
            else:
                out = out + 0.001 * (st.shape ** 2).sum()
        return out

    @torch.no_grad()
    def result(self, st: _State, scale: float, unit: str) -> ScanFit:
        J = self.rig.num_joints
        rotvec = torch.zeros(J, 3)
        root = rotvec_to_matrix(st.d_glob) @ st.R0
        rotvec[0] = matrix_to_rotvec(root[None])[0]
        rotvec[self.lrig.active_index[1:]] = st.pose.detach()
        shape = st.shape.detach() if st.shape is not None else None
        out = self.model(rotvec[None], st.transl.detach()[None], shape=shape)
        return ScanFit(self.model.name, rotvec.numpy().astype(np.float64), st.transl.detach().numpy().astype(
            np.float64), (shape[0].numpy() if shape is not None else np.zeros(0)).astype(np.float64),
            out.vertices[0].double().numpy(), scale, unit, 0.0, 0.0)


def model_normals(vertices: np.ndarray, faces: np.ndarray, name: str = "") -> np.ndarray:
    """Unit vertex normals (V, 3) of the model's rest mesh from its faces, or from the vertices' neighbourhoods
    where the faces do not form a surface (most face normals far from the local point spread's normal)."""
    from backend.scan.surface import cloud_normals

    n_faces = vertex_normals(vertices, faces)
    n_cloud = cloud_normals(vertices)
    agree = np.abs((n_faces * n_cloud).sum(1)) > 0.7
    if agree.mean() >= 0.5:
        return n_faces
    log.info("%s: the mesh's faces do not form a surface (%.0f%% of normals agree with the vertex "
             "neighbourhoods); fitting with neighbourhood normals", name or "model", 100 * agree.mean())
    return n_cloud


def _arm_raises(rig: RigSpec, active_index: np.ndarray, up_angle: float = 1.3) -> list[tuple[int, torch.Tensor]]:
    """(row in the fitted joints but the root, rotation vector) per upper arm that turns it from rest up towards
    the model's up axis by ``up_angle`` radians: closest points alone rarely lift an arm that starts along the body
    onto scan points above the shoulder."""
    from backend.fitting.correspondences import model_axes

    _, up, _ = model_axes(rig)
    names = [rig.joint_names[j] for j in active_index[1:]]
    out = []
    for i, n in enumerate(names):
        if not ("upperarm01" in n or n.endswith("_shoulder")):
            continue
        j = active_index[1:][i]
        child = [c for c in range(rig.num_joints) if rig.parents[c] == j]
        tail = rig.rest_joints[child[0]] if child else rig.bone_tails[j]
        bone = (tail - rig.rest_joints[j]) / np.linalg.norm(tail - rig.rest_joints[j])
        axis = np.cross(bone, up)
        if np.linalg.norm(axis) < 1e-6:
            continue
        out.append((i, torch.as_tensor(axis / np.linalg.norm(axis) * up_angle, dtype=torch.float32)))
    return out


def _data_term(verts: torch.Tensor, normals: torch.Tensor, target: _Target, sigma_cm: float) -> torch.Tensor:
    """Robust point-to-plane + 0.2 point-to-point, both directions, in cm^2 (about the squared residual when small).
    verts, normals (Vs, 3) metres / unit, scan axes."""
    with torch.no_grad():
        _, m2s = target.tree.query(verts.detach().numpy())
        _, s2m = cKDTree(verts.detach().numpy()).query(target.points.numpy())
    m2s, s2m = torch.as_tensor(m2s), torch.as_tensor(s2m)
    r1 = (verts - target.points[m2s]) * 100
    e1 = (r1 * target.normals[m2s]).sum(-1) ** 2 + 0.2 * (r1 ** 2).sum(-1)
    r2 = (target.points - verts[s2m]) * 100
    e2 = (r2 * normals[s2m]).sum(-1) ** 2 + 0.2 * (r2 ** 2).sum(-1)
    s2 = sigma_cm ** 2
    return (s2 * e1 / (e1 + s2)).mean() + (s2 * e2 / (e2 + s2)).mean()


def _skin_with_normals(lrig, dense_weights: torch.Tensor, rotmat: torch.Tensor, transl: torch.Tensor, rest,
                       rest_normals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LandmarkRig posing (one pose) that also turns the sample normals with the blended joint rotations: one
    (Vs, A) x (A, 12) product. rotmat (1, A, 3, 3), transl (1, 3); returns vertices and unit normals (Vs, 3)."""
    rest_j, rest_v = rest
    rj = rest_j[lrig.joint_index]
    offs = rj - rj[lrig.parent_index]
    G_all, H_all = rotmat[:, :1], (rj[0] + transl)[:, None]
    for idx, par in lrig.levels:
        where = lrig._where[par]
        Gp, Hp = G_all[:, where], H_all[:, where]
        G_all = torch.cat([G_all, Gp @ rotmat[:, idx]], 1)
        H_all = torch.cat([H_all, Hp + (Gp @ offs[idx][None, :, :, None])[..., 0]], 1)
    G, H = G_all[0, lrig._where], H_all[0, lrig._where]  # (A, 3, 3), (A, 3)
    T = torch.cat([G.reshape(-1, 9), H - (G @ rj[..., None])[..., 0]], 1)  # (A, 12): x -> G x + (H - G rest)
    blend = dense_weights @ T  # (Vs, 12)
    Ab, b = blend[:, :9].reshape(-1, 3, 3), blend[:, 9:]
    verts = (Ab @ rest_v[..., None])[..., 0] + b
    n = (Ab @ rest_normals[..., None])[..., 0]
    return verts, n / n.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _subsample(points: np.ndarray, normals: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``count`` of the rows of points / normals (N, 3), drawn without replacement."""
    keep = np.random.default_rng(seed + 1).choice(len(points), min(count, len(points)), replace=False)
    return points[keep], normals[keep]


def _area_sample(verts: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` vertex indices drawn without replacement, by the surface area around each vertex."""
    tri = verts[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    va = np.zeros(len(verts))
    for k in range(3):
        np.add.at(va, faces[:, k], area / 3)
    count = min(count, int((va > 0).sum()))
    return np.sort(np.random.default_rng(seed).choice(len(verts), count, replace=False, p=va / va.sum()))
