"""Fixtures for the estimation tests (``anny_model`` and ``synthetic_model_dir`` come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny_rig(anny_model):
    return anny_model.rig_spec()
