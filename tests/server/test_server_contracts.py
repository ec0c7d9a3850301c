"""Typed job contracts: every job kind has one, wrong-typed parameters are refused with a message naming the field
(never an ``internal`` error), and the avatar contract stays in step with TrainConfig."""

from __future__ import annotations

import dataclasses
import random
import typing

import pytest

from backend.jobs.registry import JOB_MODULES, TEST_JOB_MODULES, load_job_modules, registered_kinds
from blender_addon.core.jobs import JobParams, ParamError, contract, load_contracts
from blender_addon.ipc import protocol as P

POOL = ["false", "true", "3", "", "x" * 50, 3, -7, 2**70, 2.5, float("inf"), True, False, None, [], [1, "a"],
        [0.5, 0.5, 0.5], {}, {"k": "v"}, {"age": 0.5}]


def _fields(cls: type[JobParams]) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _valid_base(cls: type[JobParams]) -> dict:
    """Parameters of ``cls`` that pass (required strings filled in)."""
    samples = {"input": "video.mp4", "checkpoint": "c.pt", "motion": "m.npz", "video": "v.mp4",
               "videos": ["cam1.mp4"], "a": "a.json", "b": "b.json", "record": "human_000.json",
               "factor": "pose", "scan": "scan.ply", "fit": "fit.npz"}
    base = {name: samples[name] for name in _fields(cls) if name in samples}
    cls.from_params(base)
    return base


def _accepts(cls, params) -> bool:
    try:
        cls.from_params(params)
    except ParamError:
        return False
    return True


def test_every_registered_job_kind_has_a_contract():
    load_job_modules(JOB_MODULES, test_jobs=True)
    kinds = registered_kinds()
    assert {"estimate", "build_body", "train_avatar", "render_avatar", "free_memory", "count", "fail"} <= set(kinds)
    assert [k for k in kinds if contract(k) is None] == []
    for kind, cls in load_contracts().items():
        assert cls.KIND == kind and all(isinstance(r, str) for r in cls.RESULTS)
        assert cls.from_params(cls.from_params(_valid_base(cls)).to_params()) == cls.from_params(_valid_base(cls))
    assert TEST_JOB_MODULES


@pytest.mark.parametrize("kind", sorted(load_contracts()))
def test_fuzzed_params_raise_only_param_errors(kind):
    """Random values of every JSON type in every field: a ParamError or a validated object, nothing else."""
    cls = load_contracts()[kind]
    base, fields = _valid_base(cls), _fields(cls)
    rng = random.Random(kind)
    for _ in range(400):
        params = dict(base)
        for name in rng.sample(sorted(fields), k=min(len(fields), rng.randint(1, 3))):
            params[name] = rng.choice(POOL)
        if rng.random() < 0.1:
            params["no_such_param"] = 1
        try:
            obj = cls.from_params(params)
        except ParamError as exc:
            assert str(exc).startswith(kind), exc
            continue
        for name, hint in fields.items():  # what got through has the annotated type
            value = getattr(obj, name)
            if hint is bool:
                assert isinstance(value, bool)
            elif hint is int:
                assert isinstance(value, int) and not isinstance(value, bool)
            elif hint is float:
                assert isinstance(value, float)
            elif hint is str:
                assert isinstance(value, str)


def test_bool_fields_refuse_strings_and_numbers():
    bools = [(cls, name) for cls in load_contracts().values() for name, hint in _fields(cls).items() if hint is bool]
    assert len(bools) >= 4
    for cls, name in bools:
        for bad in ("false", "true", 0, 1, None):
            assert not _accepts(cls, {**_valid_base(cls), name: bad}), (cls.KIND, name, bad)
        assert _accepts(cls, {**_valid_base(cls), name: False})


def test_train_contract_takes_every_train_config_field():
    from backend.avatar.config import TrainConfig
    from blender_addon.core.jobs.avatar import TrainAvatarParams

    params = {f.name: f for f in dataclasses.fields(TrainAvatarParams)}
    for field in dataclasses.fields(TrainConfig):
        assert params[field.name].default == field.default, field.name
    assert TrainAvatarParams(video="v", motion="m").train_config() == TrainConfig()
    got = TrainAvatarParams.from_params({"video": "v", "motion": "m", "steps": 7, "amp": False}).train_config()
    assert (got.steps, got.amp) == (7, False) and type(got) is TrainConfig


def _wrong_value(rng, cls, name):
    for value in rng.sample(POOL, len(POOL)):
        if value == float("inf"):  # not JSON
            continue
        if not _accepts(cls, {**_valid_base(cls), name: value}):
            return value
    return None


def test_server_refuses_wrong_typed_params_of_every_kind_as_job_failed(backend):
    """Through the real server: each wrong-typed submit ends as job_failed naming the field, never internal."""
    rng = random.Random(10)
    seen = 0
    with backend.connect() as client:
        for kind in sorted(backend.kinds):
            cls = contract(kind)
            assert cls is not None, kind
            for name in _fields(cls):
                value = _wrong_value(rng, cls, name)
                if value is None:
                    continue
                job = client.submit(kind, {**_valid_base(cls), name: value})
                err = client.wait_for(job, timeout=30)
                assert isinstance(err, P.Error) and err.kind == P.ERR_FAILED, (kind, name, value, err)
                assert "bad parameters" in err.message and kind in err.message, err.message
                seen += 1
        job = client.submit("fail", {"user": "false"})  # bool("false") was True: a user error; now refused
        err = client.wait_for(job, timeout=30)
        assert err.kind == P.ERR_FAILED and "fail.user" in err.message, err.message
    assert seen >= 40
