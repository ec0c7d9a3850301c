"""The avatar dataset reads frames with the one frame reader (backend.perception.frames), so it sees exactly the
frames detection saw: same image suffixes, same indices."""

from __future__ import annotations

import cv2
import numpy as np

from backend.avatar.dataset import read_video_frames
from backend.perception.frames import FrameSource


def test_dataset_frames_are_the_detection_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):  # .bmp frames: detection reads them, the dataset's own reader used to find none
        cv2.imwrite(str(folder / f"{i:04d}.bmp"), np.full((24, 32, 3), (i * 40, 10, 200 - i * 30), np.uint8))
    got = read_video_frames(folder, np.array([1, 4, 9]))
    assert sorted(got) == [1, 4]  # 9 is past the end
    seen = dict(FrameSource(folder).frames())
    for i, rgb in got.items():
        assert np.array_equal(rgb, cv2.cvtColor(seen[i], cv2.COLOR_BGR2RGB))


def test_dataset_video_frames_match_detection(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(8):
        writer.write(np.full((24, 32, 3), i * 30, np.uint8))
    writer.release()
    got = read_video_frames(path, np.array([2, 5]))
    seen = dict(FrameSource(path).frames())
    assert sorted(got) == [2, 5]
    assert all(np.array_equal(got[i], cv2.cvtColor(seen[i], cv2.COLOR_BGR2RGB)) for i in got)
