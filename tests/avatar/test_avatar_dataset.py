"""Dataset building: time-block split without leakage, crop cameras, aligned rasters, frames and masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from backend.avatar.dataset import (SplitSpec, crop_boxes, crop_image, crop_intrinsics, known_background, load_dataset,
                                    split_time_blocks)
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
    assert data.inputs.shape == (n, 8, 64, 64) and data.frames.shape == (n, 3, 64, 64)
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


def test_perception_cache_masks_are_found_and_resampled_into_the_crop(tmp_path):
    from backend.avatar.dataset import find_keypoints, keypoint_masks

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    W, H = 800, 400
    masks = np.zeros((3, 100, 200), np.uint8)  # a quarter-resolution mask: the person fills x 100..140, y 40..80
    masks[:, 40:80, 100:140] = 255
    header = json.dumps({"version": 1, "source": str(video), "image_size": [W, H]})
    np.savez(tmp_path / "keypoints_other.npz", header=np.asarray(json.dumps({"source": "elsewhere.mp4"})),
             masks=masks, frame_indices=np.arange(3))
    np.savez(tmp_path / "keypoints_x.npz", header=np.asarray(header), masks=masks, frame_indices=np.arange(3))
    found = find_keypoints(video, tmp_path, 3)
    assert found is not None and found.name == "keypoints_x.npz"
    assert find_keypoints(video, tmp_path, 4) is None  # too few frames
    boxes = np.array([[400, 160, 160], [380, 140, 200], [0, 0, 800]])  # full-res person: x 400..560, y 160..320
    crop = keypoint_masks(found, boxes, (W, H), 64)
    assert crop[0, 5:59, 5:59].min() > 0.9  # the first box is the person's box: the crop is full
    on = crop[1] > 0.5
    ys, xs = np.nonzero(on)
    # second box: person at (400-380)/200*64 = 6.4 .. 57.6 px
    assert abs(xs.min() - 6.4) <= 1.5 and abs(xs.max() - 57.6) <= 1.5 and abs(ys.min() - 6.4) <= 1.5
    assert abs(on.sum() - 51.2**2) < 0.1 * 51.2**2
    assert abs((crop[2] > 0.5).sum() - 12.8**2) < 0.35 * 12.8**2  # whole frame: 160 px of 800 -> 12.8 px of 64


def test_dataset_reads_the_video_frames_of_a_strided_motion(synthetic_clip, tmp_path):
    """A motion estimated with Start 6 / Stride 3 pairs motion frame i with video frame 6 + 3 i, not frame i."""
    import dataclasses

    from backend.avatar.dataset import SplitSpec, build_dataset, crop_image, read_video_frames
    from blender_addon.core.motion import Camera, Motion

    frames_dir, motion_path = synthetic_clip
    full = Motion.load(motion_path)
    pick = np.arange(6, full.num_frames, 3)
    c = full.camera
    sub = dataclasses.replace(full, rotvec=full.rotvec[pick], transl=full.transl[pick], confidence=None,
                              expression=None, foot_contact=None, frame_start=6, frame_stride=3,
                              camera=Camera(K=c.K[pick], R=c.R[pick], t=c.t[pick], image_size=c.image_size))
    build_dataset(frames_dir, sub.save(tmp_path / "strided.npz"), tmp_path / "ds", size=64, mask_source="raster",
                  split=SplitSpec(blocks=2, gap=1))
    with np.load(tmp_path / "ds" / "data.npz") as d:
        frame_index, frames, crop = d["frame_index"], d["frames"], d["crop"]
    np.testing.assert_array_equal(frame_index, pick)
    video = read_video_frames(frames_dir, np.arange(full.num_frames))
    for i in (0, len(pick) // 2, len(pick) - 1):
        right = crop_image(video[int(pick[i])], crop[i], 64)[0].transpose(2, 0, 1)
        wrong = crop_image(video[i], crop[i], 64)[0].transpose(2, 0, 1)
        err_right = np.abs(frames[i].astype(float) - right).mean()
        assert err_right < 1e-6 < np.abs(frames[i].astype(float) - wrong).mean()


def test_crop_past_the_image_edge_is_known_background_far_from_the_body():
    img = np.full((100, 200, 3), 128, np.uint8)
    _, valid = crop_image(img, np.array([150, 20, 80]), 64)  # the crop's right part lies outside the image
    assert valid[:, -1].max() == 0 and valid[:, 0].min() == 1
    coverage = np.zeros((1, 64, 64), np.float32)
    coverage[0, 20:40, 30:42] = 1  # the body, near the image edge (x = 50 px of 80 -> 40 of 64)
    out = known_background(valid[None], coverage)[0]
    assert (out[:, :40] == 1).all()  # inside the image: unchanged
    assert out[30, 44] == 0  # outside the image next to the body: still unknown
    assert out[2, 62] == 1 and out[62, 62] == 1  # outside the image far from the body: background
