"""Motion readers/writers (bpy-free): AMASS (both key layouts), smplcodec .smpl against the real smplcodec
package, SMPLify-X pickles through the restricted unpickler, dispatch errors, and fps resampling maths."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from addon_build_helpers import make_motion

from blender_addon.core.motion import MotionError
from blender_addon.core.readers import (
    SMPLH_JOINTS,
    SMPLX_JOINTS,
    read_motion,
    remap_motion,
    write_motion,
)
from blender_addon.core.resample import resample_count, resample_motion, slerp
from blender_addon.core.rotations import matrix_to_quat, rotvec_to_matrix, rotvec_to_quat

F = 7


def _rng():
    return np.random.default_rng(3)


def test_amass_poses_variant(tmp_path):
    rng = _rng()
    poses, trans = rng.normal(size=(F, 156)), rng.normal(size=(F, 3))
    path = tmp_path / "walk_poses.npz"
    np.savez(path, poses=poses, trans=trans, betas=rng.normal(size=16), mocap_framerate=np.array(120.0),
             gender=np.array("female"))
    m = read_motion(path)
    assert (m.model, m.fps, m.gender, m.up_axis, m.joint_names) == ("smplh", 120.0, "female", "Z", SMPLH_JOINTS)
    np.testing.assert_allclose(m.rotvec, poses.reshape(F, 52, 3))
    np.testing.assert_allclose(m.transl, trans)
    assert m.betas.shape == (16,)
    # SMPL-H onto an SMPL-X rig: by name, jaw/eyes get the identity
    x = remap_motion(m, SMPLX_JOINTS)
    np.testing.assert_allclose(x.rotvec[:, :22], m.rotvec[:, :22])
    np.testing.assert_allclose(x.rotvec[:, 25:], m.rotvec[:, 22:])
    assert np.all(x.rotvec[:, 22:25] == 0) and x.metadata["joints_without_data"] == list(SMPLX_JOINTS[22:25])


def test_amass_split_variant_smplx(tmp_path):
    rng = _rng()
    parts = dict(root_orient=rng.normal(size=(F, 3)), pose_body=rng.normal(size=(F, 63)),
                 pose_hand=rng.normal(size=(F, 90)), pose_jaw=rng.normal(size=(F, 3)), pose_eye=rng.normal(size=(F, 6)))
    path = tmp_path / "dance_stageii.npz"
    np.savez(path, trans=rng.normal(size=(F, 3)), betas=rng.normal(size=16), mocap_frame_rate=np.array(60.0),
             surface_model_type=np.array("smplx"), gender=np.array("male"), **parts)
    m = read_motion(path)
    assert (m.model, m.fps, m.joint_names) == ("smplx", 60.0, SMPLX_JOINTS)
    np.testing.assert_allclose(m.rotvec[:, 0], parts["root_orient"])
    np.testing.assert_allclose(m.rotvec[:, 1:22].reshape(F, -1), parts["pose_body"])
    np.testing.assert_allclose(m.rotvec[:, 22], parts["pose_jaw"])
    np.testing.assert_allclose(m.rotvec[:, 23:25].reshape(F, -1), parts["pose_eye"])
    np.testing.assert_allclose(m.rotvec[:, 25:].reshape(F, -1), parts["pose_hand"])


def test_amass_split_variant_smplh_without_face(tmp_path):
    rng = _rng()
    path = tmp_path / "smplh_split.npz"
    np.savez(path, root_orient=rng.normal(size=(F, 3)), pose_body=rng.normal(size=(F, 63)),
             pose_hand=rng.normal(size=(F, 90)), trans=rng.normal(size=(F, 3)), mocap_frame_rate=np.array(30.0))
    m = read_motion(path)
    assert m.model == "smplh" and m.rotvec.shape == (F, 52, 3)


def test_smpl_written_here_reads_in_smplcodec(tmp_path):
    smplcodec = pytest.importorskip("smplcodec")
    m = make_motion(SMPLX_JOINTS, frames=F, fps=25.0, expr_dim=10, model="smplx")
    path = write_motion(tmp_path / "take.smpl", m)
    codec = smplcodec.SMPLCodec.from_file(path)
    assert codec.smpl_version == smplcodec.SMPLVersion.SMPLX and codec.frame_count == F and codec.frame_rate == 25.0
    np.testing.assert_allclose(codec.full_pose, m.rotvec, atol=1e-6)
    np.testing.assert_allclose(codec.body_translation, m.transl, atol=1e-6)
    np.testing.assert_allclose(codec.shape_parameters, m.betas, atol=1e-6)
    np.testing.assert_allclose(codec.expression_parameters, m.expression, atol=1e-6)
    back = read_motion(path)
    np.testing.assert_allclose(back.rotvec, m.rotvec, atol=1e-6)
    assert not (tmp_path / "take.smpl.part").exists()


@pytest.mark.parametrize("version, joints", [("SMPLH", 52), ("SMPL", 24)])
def test_smpl_written_by_smplcodec_reads_here(tmp_path, version, joints):
    smplcodec = pytest.importorskip("smplcodec")
    rng = _rng()
    sizes = smplcodec.SMPLVersion[version].param_sizes
    kw = {name: rng.normal(size=(F,) + shape).astype(np.float32)
          for name, shape in vars(sizes).items() if shape is not None}
    codec = smplcodec.SMPLCodec(smpl_version=smplcodec.SMPLVersion[version], gender=smplcodec.SMPLGender.MALE,
                                shape_parameters=rng.normal(size=10).astype(np.float32), frame_count=F,
                                frame_rate=50.0, body_translation=rng.normal(size=(F, 3)).astype(np.float32), **kw)
    path = tmp_path / "codec.smpl"
    codec.write(path)
    m = read_motion(path)
    assert (m.model, m.fps, m.gender, len(m.joint_names)) == (version.lower(), 50.0, "male", joints)
    np.testing.assert_allclose(m.rotvec, codec.full_pose, atol=1e-6)
    np.testing.assert_allclose(m.transl, codec.body_translation, atol=1e-6)


def _smplify_result(rng):
    return {"global_orient": rng.normal(size=(1, 3)).astype(np.float32), "body_pose": rng.normal(size=(1, 63)),
            "left_hand_pose": rng.normal(size=(1, 45)), "right_hand_pose": rng.normal(size=(1, 45)),
            "jaw_pose": rng.normal(size=(1, 3)), "leye_pose": np.zeros((1, 3)), "reye_pose": np.zeros((1, 3)),
            "betas": rng.normal(size=(1, 10)), "expression": rng.normal(size=(1, 10)),
            "transl": rng.normal(size=(1, 3)), "camera_rotation": np.eye(3)[None],
            "camera_translation": np.zeros((1, 3))}


def test_smplify_pkl_file_and_folder(tmp_path):
    rng = _rng()
    results = [_smplify_result(rng) for _ in range(3)]
    for i, r in enumerate(results):
        (tmp_path / f"img_{i:03d}").mkdir()
        with open(tmp_path / f"img_{i:03d}" / "000.pkl", "wb") as fh:
            pickle.dump(r, fh, protocol=2)
    one = read_motion(tmp_path / "img_001" / "000.pkl")
    assert one.num_frames == 1 and one.joint_names == SMPLX_JOINTS and one.world_axes == "opencv"
    np.testing.assert_allclose(one.rotvec[0, 0], results[1]["global_orient"][0], atol=1e-7)
    np.testing.assert_allclose(one.rotvec[0, 1:22].ravel(), results[1]["body_pose"][0])
    np.testing.assert_allclose(one.rotvec[0, 25:40].ravel(), results[1]["left_hand_pose"][0])
    seq = read_motion(tmp_path, fps=24.0)
    assert seq.num_frames == 3 and seq.fps == 24.0
    np.testing.assert_allclose(seq.transl, np.concatenate([r["transl"] for r in results]))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_smplify_pickle_with_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"global_orient": _Evil()}, fh)
    with pytest.raises(MotionError, match="evil.pkl"):
        read_motion(path)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_smplify_pca_hands_explain_the_fix(tmp_path):
    r = _smplify_result(_rng())
    r["left_hand_pose"] = np.zeros((1, 12))
    with open(tmp_path / "pca.pkl", "wb") as fh:
        pickle.dump(r, fh)
    with pytest.raises(MotionError, match="use_pca=False"):
        read_motion(tmp_path / "pca.pkl")


def test_dispatch_errors_name_the_file(tmp_path):
    np.savez(tmp_path / "other.npz", foo=np.zeros(3))
    with pytest.raises(MotionError, match="other.npz"):
        read_motion(tmp_path / "other.npz")
    (tmp_path / "clip.bvh").write_text("HIERARCHY")
    with pytest.raises(MotionError, match="unsupported"):
        read_motion(tmp_path / "clip.bvh")
    with pytest.raises(MotionError, match="no such"):
        read_motion(tmp_path / "absent.npz")


def test_project_npz_round_trip_via_dispatch(tmp_path):
    m = make_motion(SMPLX_JOINTS, frames=F, model="smplx", camera=True)
    back = read_motion(write_motion(tmp_path / "m.npz", m))
    np.testing.assert_allclose(back.rotvec, m.rotvec)
    np.testing.assert_allclose(back.camera.K, m.camera.K)


@pytest.mark.parametrize("src, dst, frames", [(60.0, 24.0, 601), (50.0, 30.0, 500), (30.0, 60.0, 91),
                                              (30000 / 1001, 25.0, 300)])
def test_resample_duration_within_one_frame(src, dst, frames):
    m = make_motion(SMPLX_JOINTS[:5], frames=frames, fps=src, camera=True)
    r = resample_motion(m, dst)
    assert r.num_frames == resample_count(frames, src, dst)
    assert abs(r.duration - m.duration) <= 1.0 / dst
    assert r.camera.K.shape == (r.num_frames, 3, 3)


def test_resample_interpolates_rotations_by_slerp():
    m = make_motion(SMPLX_JOINTS[:3], frames=3, fps=10.0)
    r = resample_motion(m, 20.0)  # frame 1 of the output sits halfway between source frames 0 and 1
    q0, q1 = rotvec_to_quat(m.rotvec[0]), rotvec_to_quat(m.rotvec[1])
    mid = slerp(q0, q1, 0.5)
    got = matrix_to_quat(rotvec_to_matrix(r.rotvec[1]))
    mid = np.where(mid[:, :1] < 0, -mid, mid)
    np.testing.assert_allclose(got, mid, atol=1e-9)
    np.testing.assert_allclose(r.transl[1], 0.5 * (m.transl[0] + m.transl[1]))
    # slerp keeps the angle uniform: half-way between identity and a 2 rad turn is a 1 rad turn
    np.testing.assert_allclose(slerp(np.array([1.0, 0, 0, 0]), rotvec_to_quat(np.array([0, 0, 2.0])), 0.5),
                               rotvec_to_quat(np.array([0, 0, 1.0])), atol=1e-12)


def test_writers_refuse_what_they_cannot_hold(tmp_path):
    toy = make_motion(("a", "b", "c"), frames=3, model="toy")
    with pytest.raises(MotionError, match="SMPL/SMPL-H/SMPL-X"):
        write_motion(tmp_path / "toy.smpl", toy)
    with pytest.raises(MotionError, match="'.bvh'"):
        write_motion(tmp_path / "toy.bvh", toy)
    assert list(tmp_path.iterdir()) == []
