"""Dataset building: time-block split without leakage, crop cameras, aligned rasters, frames and masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from backend.avatar.dataset import SplitSpec, crop_boxes, crop_intrinsics, load_dataset, split_time_blocks
from backend.avatar.raster import project


@pytest.mark.parametrize("n,blocks,gap", [(60, 2, 2), (230, 3, 3), (100, 1, 1), (97, 4, 2)])
def test_split_keeps_test_frames_away_from_training_frames(n, blocks, gap):
    labels = split_time_blocks(n, SplitSpec(blocks=blocks, gap=gap))
    train = np.nonzero(labels == 0)[0]
    for split in (1, 2):
        held = np.nonzero(labels == split)[0]
        assert len(held) >= blocks
        # distance from every held-out frame to the nearest training frame exceeds the gap
        assert np.abs(held[:, None] - train[None, :]).min() > gap
    assert (labels == 0).sum() > 0.5 * n
    test = np.nonzero(labels == 2)[0]
    assert len(np.split(test, np.nonzero(np.diff(test) > 1)[0] + 1)) == blocks  # one contiguous block per segment


def test_split_refuses_too_short_clips():
    with pytest.raises(ValueError, match="too few"):
        split_time_blocks(10, SplitSpec(blocks=3, gap=3))


def test_crop_intrinsics_project_like_cropping_the_full_image():
    rng = np.random.default_rng(0)
    K = np.array([[[800.0, 0, 640.3], [0, 810.0, 360.7], [0, 0, 1]]] * 3)
    boxes = np.array([[100, 50, 400], [-30, 200, 333], [900, 600, 128]])
    size = 96
    Kc = crop_intrinsics(K, boxes, size)
    pts = rng.uniform([-0.5, -0.5, 2], [0.5, 0.5, 4], (3, 5, 3))
    eye = torch.eye(3).expand(3, 3, 3)
    _, full = project(torch.tensor(pts).float(), torch.tensor(K).float(), eye, torch.zeros(3, 3))
    _, crop = project(torch.tensor(pts).float(), torch.tensor(Kc).float(), eye, torch.zeros(3, 3))
    s = size / boxes[:, 2:3]
    # pixel-centre convention: the edge coordinate (u + 0.5) is shifted by the box and scaled
    expect = (full[..., :2].numpy() + 0.5 - boxes[:, None, :2]) * s[:, :, None] - 0.5
    assert np.allclose(crop[..., :2].numpy(), expect, atol=1e-3)


def test_crop_boxes_follow_the_person_with_a_constant_side():
    bbox = np.array([[100, 100, 150, 220], [130, 90, 180, 210], [160, 110, 200, 230]], float)
    boxes = crop_boxes(bbox, (640, 480), "per_frame", margin=0.1, smooth=1)
    assert len(set(boxes[:, 2])) == 1 and boxes[0, 2] >= 120 * 1.2 - 1
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert np.allclose(centres, (bbox[:, :2] + bbox[:, 2:]) / 2, atol=1.0)
    fixed = crop_boxes(bbox, (640, 480), "fixed", margin=0.0)
    assert (fixed[:, :2] <= bbox[:, :2].min(0)).all() and (fixed[:, :2] + fixed[:, 2:] >= bbox[:, 2:].max(0)).all()


def test_dataset_is_aligned_and_cached(synthetic_dataset):
    data = load_dataset(synthetic_dataset)
    meta = json.loads((synthetic_dataset / "meta.json").read_text())
    n = meta["frames"]
    assert data.inputs.shape == (n, 7, 64, 64) and data.frames.shape == (n, 3, 64, 64)
    assert data.masks.shape == (n, 2, 64, 64)
    coverage = data.inputs[:, -1].float() / 255
    person = data.masks[:, 0].float() / 255
    # the person mask (dilated raster) contains the body raster, and the body is in every frame
    assert bool((person[coverage > 0.5] > 0.99).all())
    assert bool((coverage.flatten(1).sum(1) > 50).all())
    # the frame is the textured body where the raster says so: frame pixels differ from the static background
    # inside the body, and match it outside the person mask (same crop every frame -> low variance there)
    frames = data.frames.float() / 255
    outside = (person < 0.01) & (data.masks[:, 1] > 250)
    assert outside.any() and float(frames.std(0).mean(0)[outside.all(0)].mean()) < 0.1
    assert sorted(meta["counts"]) == ["test", "train", "val"] and meta["counts"]["test"] > 0
    assert any((synthetic_dataset / "preview").iterdir())
