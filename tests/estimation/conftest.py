"""Fixtures for the estimation tests: the Anny body model and a synthetic known motion."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def anny_model():
    from backend.bodymodels import load_body_model

    return load_body_model("anny")


@pytest.fixture(scope="session")
def anny_rig(anny_model):
    return anny_model.rig_spec()
