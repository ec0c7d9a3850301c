"""Frame sources (video files and image folders), keypoint files, the detections cache key, left/right repair."""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np
import pytest

from backend.perception.detect import DetectSettings, cache_key
from backend.perception.frames import FrameRange, FrameSource, FrameSourceError
from backend.perception.keypoints import Keypoints, empty_keypoints
from backend.perception.postprocess import fix_left_right_swaps


def _frame(i: int, w: int = 160, h: int = 96) -> np.ndarray:
    img = np.full((h, w, 3), 10 * i, np.uint8)
    img[:, : w // 2, 2] = 200
    return img


@pytest.fixture()
def small_video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 96))
    assert writer.isOpened()
    for i in range(12):
        writer.write(_frame(i))
    writer.release()
    return path


def test_video_source_range_and_stride(small_video):
    src = FrameSource(small_video)
    assert (src.info.width, src.info.height, src.info.num_frames) == (160, 96, 12)
    assert src.info.fps == pytest.approx(25.0) and src.info.rotation == 0 and src.info.is_video
    got = list(src.frames(FrameRange(2, 11, 3)))
    assert [i for i, _ in got] == [2, 5, 8]
    for i, img in got:
        assert img.shape == (96, 160, 3)
        assert abs(float(img[:, 100:, 0].mean()) - 10 * i) < 4  # the right frame, not a neighbour


def test_image_folder_source(tmp_path):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"f_{i:03d}.png"), _frame(i))
    (tmp_path / "notes.txt").write_text("not an image")
    src = FrameSource(tmp_path)
    assert src.info.num_frames == 5 and not src.info.is_video
    got = list(src.frames(FrameRange(1, None, 2)))
    assert [i for i, _ in got] == [1, 3]
    assert int(got[1][1][0, 100, 0]) == 30


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(FrameSourceError, match="no such video"):
        FrameSource(tmp_path / "missing.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FrameSourceError, match="holds no images"):
        FrameSource(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(FrameSourceError, match="junk.mp4"):
        FrameSource(junk)
    with pytest.raises(FrameSourceError, match="stride"):
        FrameRange(0, None, 0).indices(10)


def _keypoints(F: int = 6) -> Keypoints:
    rng = np.random.default_rng(0)
    arr = empty_keypoints(F, 30.0, (640, 480), (32, 24))
    arr["frame_indices"] = np.arange(F) * 2
    arr["found"][:] = True
    arr["body"] = rng.random((F, 33, 3)).astype(np.float32)
    arr["masks"][:, 5:10, 5:10] = 255
    return Keypoints(fps=30.0, image_size=(640, 480), source="x.mp4", settings={"a": 1}, **arr)


def test_keypoints_round_trip_and_subset(tmp_path):
    kp = _keypoints()
    path = kp.save(tmp_path / "kp.npz")
    assert not (tmp_path / "kp.npz.part").exists()
    back = Keypoints.load(path)
    assert back.image_size == (640, 480) and back.settings == {"a": 1}
    for f in dataclasses.fields(Keypoints):
        a = getattr(kp, f.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, getattr(back, f.name)), f.name
    sub = back.subset(np.array([1, 3]))
    assert sub.num_frames == 2 and list(sub.frame_indices) == [2, 6]


def test_cache_key_follows_file_and_settings(small_video):
    k = cache_key(small_video, FrameRange(), DetectSettings())
    assert k == cache_key(small_video, FrameRange(), DetectSettings())
    assert k != cache_key(small_video, FrameRange(0, 5), DetectSettings())
    assert k != cache_key(small_video, FrameRange(), DetectSettings(crop_size=320))
    st = small_video.stat()
    os.utime(small_video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert k != cache_key(small_video, FrameRange(), DetectSettings())


def test_left_right_swap_is_repaired():
    F = 8
    kp = _keypoints(F)
    body = np.zeros((F, 33, 3), np.float32)
    for i in range(F):  # a person drifting right; person's left side at larger x
        for a, b in ((11, 12), (13, 14), (15, 16), (23, 24), (25, 26), (27, 28)):
            y = 100 + 20 * a
            body[i, a] = (300 + 5 * i + 40, y, 1)
            body[i, b] = (300 + 5 * i - 40, y, 1)
    swapped = body.copy()
    from backend.perception.postprocess import _mirror_index

    swapped[4] = body[4, _mirror_index()]
    lh = np.zeros((F, 21, 3), np.float32)
    lh[4, 0] = (1, 2, 1)
    kp = dataclasses.replace(kp, body=swapped, left_hand=lh)
    fixed, flags = fix_left_right_swaps(kp)
    assert list(np.nonzero(flags)[0]) == [4]
    assert np.allclose(fixed.body, body)
    assert fixed.right_hand[4, 0, 2] == 1 and fixed.left_hand[4, 0, 2] == 0
