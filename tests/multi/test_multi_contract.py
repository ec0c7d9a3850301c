"""The estimate_multi job contract (bpy-free, no torch): types and ranges checked once, with clear messages."""

from __future__ import annotations

import pytest

from blender_addon.core.jobs import ParamError, contract
from blender_addon.core.jobs.multi import EstimateMultiParams


def test_registered_and_round_trips():
    assert contract("estimate_multi") is EstimateMultiParams
    p = EstimateMultiParams(videos=("a.mp4", "b.mp4"), calibration="c.toml", offsets=(0, 2), people="all")
    assert EstimateMultiParams.from_params(p.to_params()) == p


@pytest.mark.parametrize("params, message", [
    ({"videos": ["a.mp4", "b.mp4"]}, "several videos need their calibration"),
    ({"videos": ["a.mp4", "b.mp4"], "calibration": "c.toml", "offsets": [1]}, "one offset per video"),
    ({"videos": ["a.mp4"], "people": "some"}, "main, all or a number"),
    ({"videos": []}, "at least one video"),
    ({"videos": ["a.mp4"], "min_height": 0}, "positive number of pixels"),
    ({"videos": "a.mp4"}, "expected a list"),
])
def test_bad_parameters_name_the_field(params, message):
    with pytest.raises(ParamError, match=message):
        EstimateMultiParams.from_params(params)
