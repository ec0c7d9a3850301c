"""The build_body job end to end through a real backend: a RigSpec file the add-on can load."""

from __future__ import annotations

import numpy as np

from blender_addon.core.rigspec import RigSpec
from blender_addon.ipc import protocol as P


def run_job(backend, kind, params, timeout=300):
    with backend.connect() as client:
        job = client.submit(kind, params)
        progress = []
        result = client.wait_for(job, on_progress=progress.append, timeout=timeout)
    return progress, result


def test_server_build_body_writes_loadable_rigspec(backend):
    progress, result = run_job(backend, "build_body", {"model": "anny", "phenotype": {"age": 0.8}})
    assert isinstance(result, P.Result), getattr(result, "message", result)
    assert [m.stage for m in progress] == ["queued", "load_model", "shape", "rig_spec", "write", "write"]
    assert [m.done for m in progress[1:]] == [0, 1, 2, 3, 4]
    rig = RigSpec.load(result.files["rig"])
    assert rig.model == "anny" and rig.num_joints == len(rig.joint_names) > 20
    assert rig.skin_weights.shape == (rig.num_vertices, rig.num_joints)
    age = rig.metadata["phenotype"]["age"]
    assert abs(age - 0.8) < 1e-6
    # a different phenotype gives a different body
    _, other = run_job(backend, "build_body", {"model": "anny", "phenotype": {"age": 0.2}})
    rig2 = RigSpec.load(other.files["rig"])
    assert np.abs(rig2.template - rig.template).max() > 1e-3


def test_server_build_body_bad_params_are_user_errors(backend, tmp_path):
    for params, needle in [({"model": "nope"}, "is not one of"),
                           ({"model": "anny", "gender": "x"}, "gender"),
                           ({"model": "anny", "betas": ["a"]}, "expected a finite number"),
                           ({"model": "anny", "phenotype": {"zzz": 0.1}}, "zzz"),
                           ({"model": "smplx", "model_dir": str(tmp_path)}, "SMPLX_NEUTRAL"),
                           ({"model": "smplx", "model_dir": str(tmp_path / "missing")}, "does not exist")]:
        _, err = run_job(backend, "build_body", params)
        assert isinstance(err, P.Error) and err.kind == P.ERR_FAILED, (params, err)
        assert needle in err.message, (needle, err.message)
