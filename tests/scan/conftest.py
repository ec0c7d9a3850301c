"""Scan-test fixtures: a synthetic MANO hand scan (a mesh, in millimetres) made from the synthetic MANO files."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mano_model(synthetic_model_dir):
    from backend.bodymodels import load_body_model

    return load_body_model("mano", model_dir=synthetic_model_dir, gender="right")


@pytest.fixture(scope="session")
def hand_scan(tmp_path_factory, mano_model):
    """(path of a posed MANO hand mesh .ply in mm with 1 mm noise, its true vertices in mm)."""
    import torch
    import trimesh

    from backend.scan.synthetic import random_pose

    rng = np.random.default_rng(3)
    rv = random_pose(mano_model, rng)
    with torch.no_grad():
        v = mano_model(torch.as_tensor(rv, dtype=torch.float32)[None]).vertices[0].double().numpy()
    R = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    truth = (v @ R.T + [0.1, 0.2, 0.3]) * 1000
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    path = tmp_path_factory.mktemp("hand") / "hand_mm.ply"
    trimesh.Trimesh(noisy, mano_model.faces.numpy(), process=False).export(str(path))
    return path, truth
