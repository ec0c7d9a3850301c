"""The novel-view dataset on the shared 4-view take: the multi-camera fit's world body, rasterized through a view's
calibration, covers the person detected in that view (and not through another view's calibration)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

FRAMES = 6


@pytest.fixture(scope="module")
def take(shared_data, tmp_path_factory):
    """(multi-camera motion of the main person over the first frames, tracking results per view)."""
    from backend.fitting.estimate import EstimateRequest
    from backend.fitting.multiview import MultiViewSettings
    from backend.fitting.multiview_estimate import MultiViewRequest, estimate_multiview
    from backend.perception.frames import FrameRange
    from backend.perception.people import PeopleSettings
    from backend.perception.tracking import track_people

    data = shared_data / "pose2sim_multiperson"
    if not (data / "Calib.qca.txt").is_file():
        pytest.skip("pose2sim_multiperson not in ../shared/data")
    videos = tuple(sorted(data.glob("cam*.mp4")))
    root = tmp_path_factory.mktemp("take")
    people = PeopleSettings(min_track_frames=3)
    base = EstimateRequest(input=videos[0], output=root / "motion.npz", cache_dir=root / "cache",
                           frames=FrameRange(0, FRAMES))
    res = estimate_multiview(MultiViewRequest(base=base, videos=videos, calibration=data / "Calib.qca.txt",
                                              people_settings=people, fit=MultiViewSettings(iters_3d=80, iters_2d=30)))
    tracks = [track_people(v, FrameRange(0, FRAMES), base.detect, people, root / "cache") for v in videos]
    return res.motions[0], res.summary["people"][0]["tracks"], tracks


def _keypoints_inside(sample: dict, view, body: np.ndarray, size: int) -> float:
    """Fraction of the confident detected landmarks body (F, 33, 3) (distorted source pixels) inside the sample's
    dilated raster, after undistorting them and mapping them into its crops."""
    inside, total = 0, 0
    for i, kp in enumerate(body):
        ok = kp[:, 2] > 0.6
        if not ok.any():
            continue
        uv = cv2.undistortPoints(kp[ok, None, :2].astype(np.float64), view.K, view.dist, P=view.K)[:, 0]
        x0, y0, side = sample["crop"][i]
        c = ((uv - [x0, y0] + 0.5) * size / side - 0.5).round().astype(int)
        cov = cv2.dilate((sample["coverage"][i] > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8))
        valid = (c >= 0).all(1) & (c < size).all(1)
        inside += int(cov[c[valid, 1], c[valid, 0]].sum())
        total += int(ok.sum())
    return inside / max(total, 1)


def test_world_body_through_a_view_covers_the_person_detected_there(take):
    from backend.avatar.body import load_model, motion_vertices
    from backend.avatar.multiview_dataset import motion_views, view_samples
    from backend.avatar.render import RasterSpec
    from blender_addon.core.motion import Motion

    motion_path, track_ids, tracks = take
    motion = Motion.load(motion_path)
    views = motion_views(motion, motion_path)
    model = load_model(motion.model)
    verts = motion_vertices(model, motion)
    size = 64
    test = views[3]  # the view the novel-view benchmark holds out
    tid = track_ids[test.name]
    person = next(p for p, info in zip(tracks[3].people, tracks[3].info) if info["track_id"] == tid)
    sample = view_samples(model, verts, test, motion.source_frames(), size, RasterSpec(), mask_source="raster")
    assert sample["inputs"].shape == (FRAMES, RasterSpec().num_channels, size, size)
    hit = _keypoints_inside(sample, test, person.body, size)
    assert hit > 0.8, f"only {hit:.0%} of the detected landmarks fall on the body rasterized through {test.name}"
    wrong = dataclasses.replace(test, R=views[1].R, t=views[1].t)  # another camera's pose: the body lands elsewhere
    off = view_samples(model, verts, wrong, motion.source_frames(), size, RasterSpec(), mask_source="raster")
    miss = _keypoints_inside(off, test, person.body, size)
    assert miss < 0.5, f"{miss:.0%} of the landmarks fall on a body rasterized through the wrong camera"


def test_novel_view_dataset_holds_out_the_test_view(take, tmp_path):
    from backend.avatar.dataset import load_dataset
    from backend.avatar.multiview_dataset import build_multiview_dataset

    motion_path = take[0]
    with pytest.raises(ValueError, match="both a training and the test view"):
        build_multiview_dataset(motion_path, tmp_path / "bad", ["cam01", "cam04"], "cam04")
    with pytest.raises(ValueError, match="the take's views are cam01, cam02, cam03, cam04"):
        build_multiview_dataset(motion_path, tmp_path / "bad", ["cam01"], "cam9")
    data = load_dataset(build_multiview_dataset(motion_path, tmp_path / "ds", ["cam01", "cam02", "cam03"], "cam04",
                                                size=32, mask_source="raster", val_every=3))
    view = np.load(tmp_path / "ds" / "data.npz")["view"]
    assert data.meta["test_view"] == "cam04" and data.meta["subject"] == "body"
    assert set(view[data.split == 2]) == {3} and len(data.indices("test")) == FRAMES
    assert 3 not in set(view[data.split != 2]) and len(data.indices("val")) == 3 * (FRAMES // 3)


def test_crop_outside_the_image_far_from_the_body_is_known_background():
    from backend.avatar.multiview_dataset import known_background

    valid = np.zeros((1, 32, 32), np.float32)
    valid[:, :, 16:] = 1  # the left half of the crop lies outside the source image
    coverage = np.zeros((1, 32, 32), np.float32)
    coverage[:, 10:20, 12:20] = 1  # the body reaches past the image edge
    out = known_background(valid, coverage)
    assert out[0, 15, 12] == 0 and out[0, 2, 2] == 1 and (out[0, :, 16:] == 1).all()
