"""Fixtures of the crafted-file tests: a tiny synthetic avatar dataset (12 frames, 32 px) to resume training on."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synthetic_dataset_small(tmp_path_factory) -> Path:
    from backend.avatar.dataset import SplitSpec, build_dataset
    from backend.avatar.synthetic import write_synthetic_clip

    frames, motion = write_synthetic_clip(tmp_path_factory.mktemp("clip"), frames=12, image_size=(64, 48))
    out = tmp_path_factory.mktemp("dataset")
    build_dataset(frames, motion, out, size=32, mask_source="raster", split=SplitSpec(blocks=2, gap=1))
    return out
