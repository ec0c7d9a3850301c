"""The terms of the sequence fit's objective (see backend/fitting/fit.py), each a named function of the fixed
problem (:class:`FitProblem`), the optimised parameters (:class:`FitParams`) and the annealing state
(:class:`FitSchedule`): robust reprojection, 3D directions, temporal smoothness, pose priors, foot contacts."""

from __future__ import annotations

import dataclasses

import torch

from backend.fitting.priors import hinge_penalty
from backend.fitting.problem import FitProblem
from backend.fitting.skeleton import rotvec_to_matrix


@dataclasses.dataclass(eq=False)
class FitParams:
    """The optimised tensors: d_glob (F, 3) rotation applied to the initial global orientation, transl (F, 3) m,
    pose (F, A - 1, 3) local rotations, radians, shape (1, S) or None; ``low`` is the temporal low-pass."""

    d_glob: torch.Tensor
    transl: torch.Tensor
    pose: torch.Tensor
    shape: torch.Tensor | None
    low: object


@dataclasses.dataclass(eq=False)
class FitSchedule:
    """What changes during a stage: the robust scale (% of the person's height), the temporal ramp, per-frame
    temporal weights (F,) and, in the contact stage, the feet / contacts / floor."""

    sigma: float
    temporal_w: torch.Tensor
    ramp: float = 1.0
    foot_sel: torch.Tensor | None = None  # (2, k) landmark columns of the feet
    contact: torch.Tensor | None = None  # (F, 2) bool
    floor_h: float = 0.0


def gmof(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals."""
    s2 = sigma * sigma
    return s2 * sq / (s2 + sq)


def landmarks(pb: FitProblem, prm: FitParams) -> torch.Tensor:
    """(F, L, 3) model landmarks in world coordinates, metres."""
    low = prm.low
    Rg = rotvec_to_matrix(low(prm.d_glob)) @ pb.R_init
    rot = torch.cat([Rg[:, None], rotvec_to_matrix(low(prm.pose))], 1)
    rest = pb.lrig.rest_linear(prm.shape) if prm.shape is not None else pb.fixed_rest
    Hj, V = pb.lrig(rot, low(prm.transl), rest)
    return torch.cat([Hj, V], 1)[:, pb.gather]


def project(pb: FitProblem, P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (F, L, 3) -> (camera points (F, L, 3), pixels (F, L, 2))."""
    cam = P @ pb.R0_t.T
    z = cam[..., 2:].clamp_min(0.05)
    return cam, cam[..., :2] / z * pb.K_t[0, 0] + pb.K_t[:2, 2]


def reprojection_loss(pb: FitProblem, uv: torch.Tensor, sigma: float) -> torch.Tensor:
    res = ((uv - pb.uv_t) * pb.scale).pow(2).sum(-1)
    return (pb.w_t * gmof(res, sigma)).sum() / pb.F


def direction_loss(pb: FitProblem, cam: torch.Tensor, dir_sigma: float) -> torch.Tensor:
    """1 - cos between model segments and the 3D target directions (camera axes)."""
    d = cam[:, pb.bb] - cam[:, pb.ba]
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    dev_ = 1 - (d * pb.dir_t).sum(-1)  # 0 .. 2
    if dir_sigma > 0:  # robust: a direction MediaPipe got badly wrong pulls less
        dev_ = dev_ * dir_sigma / (dev_ + dir_sigma)
    return (pb.w_dir * dev_).sum() / pb.F


def acceleration_loss(pb: FitProblem, P: torch.Tensor, st: FitSchedule, s) -> torch.Tensor:
    """Accelerations (in g) of the landmarks relative to the body's centre, and of the centre itself, which
    genuinely takes several g on landings and take-offs and so is damped less."""
    F = pb.F
    acc = (P[2:] - 2 * P[1:-1] + P[:-2]) * (pb.fps * pb.fps / 9.81)
    acc_c = acc.mean(1, keepdim=True)
    wa = s.w_accel * st.ramp
    tw = st.temporal_w[1:-1, None]  # per-frame weight (lowered where the smoother fought the detections)
    loss = wa * (tw * gmof((acc - acc_c).pow(2).sum(-1), s.accel_sigma)).sum() / F
    return loss + wa * s.centre_accel * P.shape[1] * (tw * acc_c.pow(2).sum(-1)).sum() / F


def pose_prior_loss(pb: FitProblem, prm: FitParams, st: FitSchedule, s) -> torch.Tensor:
    """Stiffness prior, hinge limits, a global bending limit, rotation velocity and the shape prior."""
    F = pb.F
    sp = prm.low(prm.pose)
    loss = s.w_prior * (pb.stiff[None, :, None] * (sp - pb.pmean).pow(2)).sum() / F
    if len(pb.h_idx):
        loss = loss + s.w_hinge * hinge_penalty(sp, pb.h_idx, pb.h_ax, pb.h_bone) / F
    # No joint turns further than ~140 degrees from rest (legs cannot fold up past the chest).
    loss = loss + s.w_hinge * torch.relu(sp.norm(dim=-1) - 2.45).pow(2).sum() / F
    if F > 1:
        loss = loss + s.w_rot_vel * st.ramp * (st.temporal_w[1:, None, None] * (sp[1:] - sp[:-1]).pow(2)).sum() / F
    if prm.shape is not None:
        loss = loss + s.w_shape * prm.shape.pow(2).sum()
    return loss


def contact_loss(pb: FitProblem, P: torch.Tensor, st: FitSchedule, s) -> torch.Tensor:
    """No foot sliding during detected contacts, nothing below the floor."""
    feet = P[:, st.foot_sel]  # (F, 2, k, 3)
    step = (feet[1:] - feet[:-1]).pow(2).sum(-1)  # (F-1, 2, k)
    both = (st.contact[1:] & st.contact[:-1]).float()[..., None]
    loss = s.w_slide * (step * both).sum() / pb.F
    h = feet @ pb.up_t - st.floor_h
    return loss + s.w_floor * torch.relu(-h).pow(2).sum() / pb.F


def total_loss(pb: FitProblem, prm: FitParams, st: FitSchedule, stage: int, s) -> torch.Tensor:
    """The objective of ``stage`` (1: global, 2: + priors, 3: + contacts) under settings ``s`` (FitSettings)."""
    P = landmarks(pb, prm)
    cam, uv = project(pb, P)
    loss = s.w_2d * reprojection_loss(pb, uv, st.sigma)
    loss = loss + s.w_3d * direction_loss(pb, cam, s.dir_sigma)
    if pb.F > 2:
        loss = loss + acceleration_loss(pb, P, st, s)
    if stage >= 2:
        loss = loss + pose_prior_loss(pb, prm, st, s)
    if stage >= 3 and st.foot_sel is not None:
        loss = loss + contact_loss(pb, P, st, s)
    return loss
