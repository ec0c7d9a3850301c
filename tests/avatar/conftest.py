"""Avatar fixtures: a small synthetic clip (procedural body, known texture) and its 64 px dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory) -> tuple[Path, Path]:
    from backend.avatar.synthetic import write_synthetic_clip

    return write_synthetic_clip(tmp_path_factory.mktemp("clip"), frames=60, image_size=(160, 120), period=12.0)


@pytest.fixture(scope="session")
def synthetic_dataset(synthetic_clip, tmp_path_factory) -> Path:
    from backend.avatar.dataset import SplitSpec, build_dataset

    frames, motion = synthetic_clip
    out = tmp_path_factory.mktemp("dataset")
    build_dataset(frames, motion, out, size=64, mask_source="raster", split=SplitSpec(blocks=2, gap=2))
    return out


@pytest.fixture(scope="session")
def short_run(synthetic_dataset, tmp_path_factory) -> Path:
    """Checkpoint of a 20-step training run on the synthetic dataset (shared by the ONNX/render/eval tests)."""
    from backend.avatar.config import TrainConfig
    from backend.avatar.train import train

    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(steps=20, batch=4, base=16, depth=3, eval_every=1000, ckpt_every=1000, log_every=10)
    return train(synthetic_dataset, out, cfg, device="cpu")
