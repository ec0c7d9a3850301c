"""Contracts of the avatar jobs: ``train_avatar`` (a SMPLpix avatar from a video and its motion) and
``render_avatar`` (a motion rendered with a trained avatar)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from . import JobParams, job_contract, require

__all__ = ["ROLE_CHECKPOINT", "ROLE_DATASET", "ROLE_EVAL_JSON", "ROLE_EVAL_PNG", "ROLE_FRAMES", "ROLE_ONNX",
           "RenderAvatarParams", "TrainAvatarParams", "TrainConfig"]

ROLE_CHECKPOINT = "checkpoint"  # checkpoint.pt (weights + plain data; loads with torch weights_only=True)
ROLE_EVAL_JSON = "eval_json"  # held-out metrics (.json)
ROLE_EVAL_PNG = "eval_png"  # held-out contact sheet (.png)
ROLE_ONNX = "onnx"  # avatar.onnx (when exported)
ROLE_DATASET = "dataset"  # the dataset folder trained on
ROLE_FRAMES = "frames"  # folder of RGBA PNGs %05d.png

# The training settings live here, in the bpy-free contract zone, so the job contract below takes exactly these
# fields (``backend.avatar.config`` re-exports the class for the trainer and the CLI).
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """steps: optimiser steps in total (a resumed run continues up to this); batch: images per step; lr: Adam
    learning rate (cosine decay to 5 %); l1/ssim/mask/vgg: loss weights (vgg needs ``vgg_weights``, a local file);
    fg_weight: extra L1 (and mse) weight inside the person mask; mse: weight of a squared-error term weighted as
    the L1 (the error PSNR measures: it favours the mean colour where the fit is unsure, L1 the median);
    person_ssim: the SSIM term over the person region (the true mask dilated by 2 % of the side, as the
    person-region metrics) instead of the whole valid crop; bg_random: probability of a random background colour
    (otherwise black); shift/scale: random affine jitter (fraction of the image / relative zoom) applied to input
    and target together; amp: mixed precision on CUDA; eval_every/ckpt_every: in steps; texture: channels of the
    learnable neural texture on the body surface (0: none), texture_res: its finest side in texels, texture_lr: its
    learning rate as a multiple of lr."""

    steps: int = 2000
    batch: int = 8
    lr: float = 2e-3
    base: int = 32
    depth: int = 4
    l1: float = 1.0
    mse: float = 0.0
    ssim: float = 0.2
    mask: float = 0.1
    vgg: float = 0.0
    vgg_weights: str = ""
    fg_weight: float = 2.0
    person_ssim: bool = False
    bg_random: float = 0.8
    shift: float = 0.04
    scale: float = 0.08
    amp: bool = True
    seed: int = 0
    eval_every: int = 250
    ckpt_every: int = 250
    log_every: int = 25
    texture: int = 0
    texture_res: int = 128
    texture_lr: float = 1.0


@job_contract
class TrainAvatarParams(TrainConfig, JobParams):
    """video + motion (a motion .npz with per-frame camera fitted to the video), or an existing ``dataset`` folder;
    size: square training resolution (px, multiple of 16); mask_source; keypoints: perception cache holding person
    masks; model_dir: SMPL-family model folder; resume_from: a run folder whose checkpoint.pt to continue;
    export_onnx: also write avatar.onnx; and every :class:`TrainConfig` field."""

    KIND: ClassVar[str] = "train_avatar"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_CHECKPOINT, ROLE_EVAL_JSON, ROLE_EVAL_PNG, ROLE_DATASET, ROLE_ONNX)
    video: str | None = None
    motion: str | None = None
    dataset: str | None = None
    size: int = 128
    mask_source: Literal["auto", "keypoints", "mediapipe", "raster"] = "auto"
    keypoints: str | None = None
    model_dir: str | None = None
    resume_from: str | None = None
    export_onnx: bool = True

    def check(self) -> None:
        k = self.KIND
        require(bool(self.dataset) or (bool(self.video) and bool(self.motion)),
                f"{k}: give video and motion (or an existing dataset folder)")
        require(self.size >= 32 and self.size % 16 == 0, f"{k}: size {self.size} must be a multiple of 16, at least 32")
        require(self.steps >= 1 and self.batch >= 1, f"{k}: steps and batch must be positive")
        require(self.lr > 0, f"{k}: lr={self.lr} must be positive")
        require(1 <= self.depth <= 8 and self.base >= 1, f"{k}: depth in 1..8 and base >= 1")
        require(min(self.eval_every, self.ckpt_every, self.log_every) >= 1, f"{k}: *_every must be positive")
        require(0 <= self.bg_random <= 1, f"{k}: bg_random={self.bg_random} must be in [0, 1]")
        require(self.texture >= 0 and self.texture_res >= 4 and self.texture_lr > 0,
                f"{k}: texture >= 0 channels, texture_res >= 4 texels, texture_lr > 0")

    def train_config(self) -> TrainConfig:
        """The training settings of this job."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)})


@job_contract
class RenderAvatarParams(JobParams):
    """checkpoint: avatar checkpoint.pt; motion: motion .npz to render; onnx: run that exported network instead of
    torch; betas: shape override (S,); camera: "track" (the training camera following the body), "motion" (the
    motion's own cameras) or "auto" (the motion's cameras when it has them); frame: "full" (RGBA frames at the source
    video's size, the person where the person was) or "crop" (the network's square crops); frame_scale: scale of the
    full frames (1 = the source size); background: [r, g, b] in [0, 1]; alpha: "predicted" matte or the "raster"
    coverage."""

    KIND: ClassVar[str] = "render_avatar"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_FRAMES,)
    checkpoint: str
    motion: str
    onnx: str | None = None
    betas: tuple[float, ...] | None = None
    camera: Literal["auto", "track", "motion"] = "auto"
    frame: Literal["full", "crop"] = "full"
    frame_scale: float = 1.0
    background: tuple[float, ...] = (0.0, 0.0, 0.0)
    alpha: Literal["predicted", "raster"] = "predicted"
    model_dir: str | None = None

    def check(self) -> None:
        require(len(self.background) == 3 and all(0 <= v <= 1 for v in self.background),
                f"{self.KIND}: background must be [r, g, b] in [0, 1]")
        require(0 < self.frame_scale <= 8, f"{self.KIND}: frame_scale={self.frame_scale}; use a value in (0, 8]")
