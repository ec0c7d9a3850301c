"""Moving cameras: the background tracker on synthetic pan/tilt/zoom images and on real footage re-imaged by a known
virtual camera; the estimate's per-frame camera, the world trajectory against the tripod estimate, the static video
staying static, and the Blender camera keeping the plate registered."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.demo.virtual_camera import virtual_path, warp_video
from backend.perception.camera_motion import CameraTracker, stabilize_keypoints, static_camera, track_camera
from backend.perception.frames import FrameRange
from backend.perception.keypoints import Keypoints, empty_keypoints

W, H = 960, 540
F0 = 0.9 * W


def _rotation_error_deg(R: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.degrees(np.linalg.norm(Rotation.from_matrix(R @ truth.transpose(0, 2, 1)).as_rotvec(), axis=1))


def _texture(seed: int = 0) -> np.ndarray:
    """A textured backdrop (blobs, lines and noise at several scales) larger than the view."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.float32)
    for scale in (4, 16, 64):
        noise = rng.uniform(0, 255, (H // scale + 1, W // scale + 1, 3)).astype(np.float32)
        img += cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC) / 3
    for _ in range(60):
        p = tuple(int(v) for v in rng.integers(0, (W, H)))
        cv2.circle(img, p, int(rng.integers(4, 30)), tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _feed(frames: list[np.ndarray]) -> CameraTracker:
    tracker = CameraTracker()
    for bgr in frames:
        tracker.feed(bgr)
    return tracker


def test_tracker_recovers_a_synthetic_pan_tilt_zoom():
    truth = virtual_path(40, F0, (W, H), pan_deg=6.0, tilt_deg=2.0, roll_deg=1.0, zoom=1.2)
    base = _texture()
    frames = [cv2.warpPerspective(base, h, (W, H)) for h in truth.homographies()]
    cam = _feed(frames).finish(F0)
    assert not cam.static
    assert _rotation_error_deg(cam.rotation, truth.rotation).max() < 1.0
    assert np.abs(cam.focal / truth.focal - 1).max() < 0.03
    # without the zoom's focal update each step, the recovered rotation would drift: the chained fit is exact here
    assert _rotation_error_deg(cam.rotation, truth.rotation).max() < 0.2


def test_tracker_keeps_a_static_camera_static_and_falls_back_without_features():
    rng = np.random.default_rng(1)
    base = _texture(2)
    noisy = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    cam = _feed(noisy).finish(F0)
    assert cam.static and not cam.warning
    assert np.all(cam.rotation == np.eye(3)) and np.all(cam.focal == F0)
    # a featureless, shifting image (a plain gradient sliding sideways): no background to track
    grad = np.tile(np.linspace(0, 255, W, dtype=np.float32), (H, 1))
    flat = [cv2.cvtColor(np.roll(grad, 3 * i, axis=1).astype(np.uint8), cv2.COLOR_GRAY2BGR) for i in range(10)]
    cam = _feed(flat).finish(F0)
    assert cam.static and "too few background features" in cam.warning
    assert cam.metadata()["camera_warning"] == cam.warning


def test_stabilized_keypoints_are_what_the_first_camera_saw():
    truth = virtual_path(5, F0, (W, H), pan_deg=10.0, zoom=1.3)
    arr = empty_keypoints(5, 30.0, (W, H), (0, 0))
    rng = np.random.default_rng(3)
    ref = rng.uniform(100, 400, (33, 2))
    hom = truth.homographies()
    for i in range(5):
        p = np.c_[ref, np.ones(33)] @ hom[i].T
        arr["body"][i, :, :2], arr["body"][i, :, 2] = p[:, :2] / p[:, 2:], 0.9
        arr["bbox"][i] = [*(p[:, :2] / p[:, 2:]).min(0), *(p[:, :2] / p[:, 2:]).max(0)]
    arr["found"][:] = True
    kp = Keypoints(fps=30.0, image_size=(W, H), **arr)
    out = stabilize_keypoints(kp, truth)
    assert np.abs(out.body[:, :, :2] - ref).max() < 1e-3
    assert np.all(out.body[:, :, 2] == kp.body[:, :, 2]) and np.all(out.face == kp.face)  # missing stays missing
    assert stabilize_keypoints(kp, static_camera(5, F0, (W, H))) is kp


@pytest.fixture(scope="module")
def warped_jump(jump_video, tmp_path_factory):
    """Frames 0-40 of the tripod jump video and a version re-imaged by a known virtual pan/tilt/zoom."""
    work = tmp_path_factory.mktemp("movcam")
    frames = FrameRange(0, 40)
    truth = virtual_path(40, 0.9 * 1768, (1768, 994), pan_deg=8.0, zoom=1.25)
    return frames, truth, warp_video(jump_video, work / "moving.mp4", frames, truth), work


def _no_detections(n: int) -> Keypoints:
    arr = empty_keypoints(n, 30.0, (1768, 994), (0, 0))
    arr["frame_indices"] = np.arange(n)
    return Keypoints(fps=30.0, image_size=(1768, 994), **arr)


def test_tracker_on_real_footage_with_a_known_camera(jump_video, warped_jump):
    frames, truth, moving, _ = warped_jump
    cam = track_camera(moving, _no_detections(40), FrameRange(), truth.focal[0])
    assert not cam.static
    assert _rotation_error_deg(cam.rotation, truth.rotation).max() < 1.0
    assert np.abs(cam.focal / truth.focal - 1).max() < 0.03
    assert track_camera(jump_video, _no_detections(40), frames, truth.focal[0]).static  # the tripod stays put


@pytest.mark.slow
def test_moving_camera_estimate_and_blender_camera(jump_video, warped_jump, anny_rigspec_path):
    from backend.fitting.moving_camera_eval import evaluate_moving_camera
    from blender_addon.core.motion import Motion

    frames, _, _, work = warped_jump
    report = evaluate_moving_camera(jump_video, work / "eval", frames, iterations=80)
    assert report.rotation_error_deg < 1.0 and report.focal_error_pct < 3.0
    assert report.static_stays_static
    assert report.root_error_m < 0.25  # world trajectory from the moving camera follows the tripod estimate
    motion = Motion.load(work / "eval" / "moving.npz")
    assert motion.metadata["camera_motion"] == "rotating"
    _blender_camera_keeps_plate_registered(motion, anny_rigspec_path, work / "eval" / "moving.mp4")


def _blender_camera_keeps_plate_registered(motion, rig_path, video):
    bpy = pytest.importorskip("bpy")
    from bpy_extras.object_utils import world_to_camera_view

    from blender_addon.builders.scene import build_motion

    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        res = build_motion(str(rig_path), motion, name="moving", video=str(video))
        cam_ob = bpy.data.objects[res.camera]
        curves = {fc.data_path for fc in _fcurves(cam_ob.data)}
        assert "lens" in curves  # per-frame focal length
        scene = bpy.context.scene
        w, h = motion.camera.image_size
        pelvis = bpy.data.objects[res.armature].pose.bones[0]
        err_animated, err_frozen = [], []
        for f in range(0, motion.num_frames, 5):
            scene.frame_set(res.frame_start + f)
            head = bpy.data.objects[res.armature].matrix_world @ pelvis.head
            ndc = world_to_camera_view(scene, cam_ob, head)
            got = np.array([ndc.x * w, (1 - ndc.y) * h])
            c = motion.camera  # the motion's own camera at frame f, OpenCV maths
            X = np.array(_pelvis_world(motion, rig_path, f))
            x = c.K[f] @ (c.R[f] @ X + c.t[f])
            err_animated.append(np.linalg.norm(got - x[:2] / x[2]))
            x0 = c.K[0] @ (c.R[0] @ X + c.t[0])
            err_frozen.append(np.linalg.norm(x[:2] / x[2] - x0[:2] / x0[2]))
        assert np.median(err_animated) < 2.0  # Blender's camera reprojects like the motion's camera, per frame
        assert np.max(err_frozen) > 50.0  # while a frozen camera would be off by far more
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)


def _fcurves(idblock):
    from blender_addon.builders.common import assigned_fcurves

    return assigned_fcurves(idblock)


def _pelvis_world(motion, rig_path, f):
    from blender_addon.core.rigspec import RigSpec
    from blender_addon.core.rotations import rotvec_to_matrix

    rig = RigSpec.load(rig_path)
    _, joints = rig.rest_state(motion.betas)
    return rig.forward_kinematics(rotvec_to_matrix(motion.rotvec[f:f + 1]), motion.transl[f:f + 1], joints)[1][0, 0]
