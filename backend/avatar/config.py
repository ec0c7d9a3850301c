"""Training settings of the avatar (torch-free, so the CLI can list them without importing torch)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """steps: optimiser steps in total (a resumed run continues up to this); batch: images per step; lr: Adam
    learning rate (cosine decay to 5 %); l1/ssim/mask/vgg: loss weights (vgg needs ``vgg_weights``, a local file);
    fg_weight: extra L1 weight inside the person mask; bg_random: probability of a random background colour
    (otherwise black); shift/scale: random affine jitter (fraction of the image / relative zoom) applied to input
    and target together; amp: mixed precision on CUDA; eval_every/ckpt_every: in steps."""

    steps: int = 2000
    batch: int = 8
    lr: float = 2e-3
    base: int = 32
    depth: int = 4
    l1: float = 1.0
    ssim: float = 0.2
    mask: float = 0.1
    vgg: float = 0.0
    vgg_weights: str = ""
    fg_weight: float = 2.0
    bg_random: float = 0.8
    shift: float = 0.04
    scale: float = 0.08
    amp: bool = True
    seed: int = 0
    eval_every: int = 250
    ckpt_every: int = 250
    log_every: int = 25
