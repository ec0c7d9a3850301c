"""The motion file's validation (every header number, the camera, empty motions, AMASS keys) and its version 2
fields (world axes, source-frame mapping) with the reader for version 1 files. No bpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blender_addon.core.motion import Camera, Motion, MotionError
from blender_addon.core.readers import read_motion


def _motion(frames: int = 4, joints: int = 3, **kw) -> Motion:
    rng = np.random.default_rng(0)
    K = np.tile(np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]]), (frames, 1, 1))
    cam = Camera(K=K, R=np.tile(np.eye(3), (frames, 1, 1)), t=np.tile([0.0, 0, 3], (frames, 1)),
                 image_size=(640, 480))
    return Motion(model="toy", fps=30.0, joint_names=tuple(f"j{i}" for i in range(joints)),
                  rotvec=rng.normal(size=(frames, joints, 3)), transl=rng.normal(size=(frames, 3)), camera=cam, **kw)


def _rewrite_header(path, **changes) -> None:
    """Edit a saved motion's JSON header in place (allows Infinity/NaN as Python's json writes them)."""
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    header = json.loads(str(arrays["header"]))
    header.update(changes)
    arrays["header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)


@pytest.mark.parametrize("key,value", [("fps", float("inf")), ("fps", float("nan")), ("fps", 0.0), ("fps", -30.0),
                                       ("fps", 1e9), ("frame_start", -1), ("frame_stride", 0),
                                       ("source_fps", float("inf")), ("world_axes", "sideways")])
def test_every_header_number_is_checked(tmp_path, key, value):
    path = _motion().save(tmp_path / "bad.npz")
    _rewrite_header(path, **{key: value})
    with pytest.raises(MotionError, match=rf"bad\.npz: {key}"):
        read_motion(path)


@pytest.mark.parametrize("field", ["K_nan", "K_zero_focal", "K_negative_focal", "t_inf", "size_zero"])
def test_camera_values_are_checked(tmp_path, field):
    m = _motion()
    c = m.camera
    K, t, size = c.K.copy(), c.t.copy(), c.image_size
    if field == "K_nan":
        K[1, 0, 2] = np.nan
    elif field == "K_zero_focal":
        K[2, 0, 0] = 0.0
    elif field == "K_negative_focal":
        K[:, 1, 1] = -800.0
    elif field == "t_inf":
        t[0, 2] = np.inf
    else:
        size = (640, 0)
    bad = Motion(model="toy", fps=30.0, joint_names=m.joint_names, rotvec=m.rotvec, transl=m.transl,
                 camera=Camera(K=K, R=c.R, t=t, image_size=size))
    with pytest.raises(MotionError, match="take.npz: .*(camera|image_size)"):
        bad.validate("take.npz")


def test_zero_frame_motion_names_the_file(tmp_path):
    with pytest.raises(MotionError, match="empty.npz: has 0 frames"):
        _motion(frames=0).save(tmp_path / "empty.npz")
    np.savez(tmp_path / "empty_amass.npz", trans=np.zeros((0, 3)), poses=np.zeros((0, 156)),
             mocap_framerate=np.array(60.0))
    with pytest.raises(MotionError, match="empty_amass.npz: 'trans' has 0 frames"):
        read_motion(tmp_path / "empty_amass.npz")


@pytest.mark.parametrize("arrays,key", [
    ({"root_orient": (5, 3), "trans": (5, 3)}, "pose_body"),  # missing key
    ({"root_orient": (5, 3), "pose_body": (5, 60), "trans": (5, 3)}, "pose_body"),  # wrong width
    ({"root_orient": (5, 4), "pose_body": (5, 63), "trans": (5, 3)}, "root_orient"),
    ({"root_orient": (5, 3), "pose_body": (4, 63), "trans": (5, 3)}, "pose_body"),  # wrong frame count
    ({"poses": (5, 156), "trans": (5, 2)}, "trans"),
    ({"poses": (5, 100), "trans": (5, 3)}, "poses"),
    ({"root_orient": (5, 3), "pose_body": (5, 63), "pose_hand": (5, 12), "trans": (5, 3)}, "pose_hand"),
])
def test_amass_file_with_missing_keys_or_wrong_widths_names_file_and_key(tmp_path, arrays, key):
    path = tmp_path / "broken_amass.npz"
    np.savez(path, mocap_frame_rate=np.array(120.0), **{k: np.zeros(s) for k, s in arrays.items()})
    with pytest.raises(MotionError, match=rf"broken_amass\.npz: .*'{key}'"):
        read_motion(path)


def test_world_axes_and_frame_mapping_round_trip(tmp_path):
    m = _motion(frames=5, world_axes="opencv", frame_start=12, frame_stride=3, source_fps=60.0)
    back = Motion.load(m.save(tmp_path / "v2.npz"))
    assert (back.world_axes, back.frame_start, back.frame_stride, back.source_fps) == ("opencv", 12, 3, 60.0)
    np.testing.assert_array_equal(back.source_frames(), [12, 15, 18, 21, 24])
    assert _motion().world_axes == "Y"  # default: the model's axes


def test_version_1_file_is_read_with_its_mapping_from_metadata(tmp_path):
    path = _motion(frames=3).save(tmp_path / "v1.npz")
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    header = json.loads(str(arrays["header"]))
    for key in ("world_axes", "frame_start", "frame_stride", "source_fps"):
        header.pop(key)
    header["version"] = 1
    header["metadata"] = {"frame_start": 7, "frame_stride": 2, "source_fps": 50.0, "world_axes": "opencv",
                          "floor_height": 0.1}
    arrays["header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)
    m = Motion.load(path)
    assert (m.world_axes, m.frame_start, m.frame_stride, m.source_fps) == ("opencv", 7, 2, 50.0)
    assert m.metadata == {"floor_height": 0.1}
    np.testing.assert_array_equal(m.source_frames(), [7, 9, 11])
