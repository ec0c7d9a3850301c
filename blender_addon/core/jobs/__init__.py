"""Typed job contracts (bpy-free, stdlib only): one frozen dataclass of parameters per job kind, with its result roles.

The operator that submits a job, the server that runs it and the CLI that runs the same work all use the same
class, so a parameter is named, typed, defaulted and checked in one place::

    @job_contract
    class EstimateParams(JobParams):
        KIND: ClassVar[str] = "estimate"
        RESULTS: ClassVar[tuple[str, ...]] = ("motion", "rig")
        input: str
        stride: int = 1

    EstimateParams.from_params({"input": "a.mp4", "stride": 2})   # -> EstimateParams, validated
    EstimateParams(input="a.mp4").to_params()                     # -> JSON-ready dict for the wire

:meth:`JobParams.from_params` accepts JSON values only of the annotated type: ``bool`` fields take ``true``/``false``
(never ``"false"`` or ``1``), ``int`` fields take integers (not booleans), ``float`` fields take finite numbers,
``str`` fields take strings; ``X | None`` also takes ``null``; ``tuple[T, ...]`` takes a list of ``T``; ``Literal``
takes one of its values; ``dict[str, T]`` takes an object whose values are ``T``. Unknown or missing fields raise :class:`ParamError`, whose message names the field and
says what is expected. Range checks beyond types go in a subclass's :meth:`JobParams.check`.

Each area keeps its contracts in its own module here (``body.py``, ``estimate.py``, ``avatar.py``, ``system.py``,
...), with its result roles as ``ROLE_*`` constants; :func:`load_contracts` imports them all. The server validates
``contract(kind).from_params(params)`` once, before queueing, and hands the job function the validated object;
``from_params`` returns an object that is already of its class unchanged, so a job function may start with
``P = XParams.from_params(params)`` whatever it is given.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import types
import typing
from typing import Any, ClassVar, Literal

__all__ = ["JobParams", "ParamError", "contract", "contracts", "job_contract", "load_contracts", "require"]


class ParamError(ValueError):
    """A job parameter is missing, unknown, of the wrong type or out of range; the message names it."""


_CONTRACTS: dict[str, type[JobParams]] = {}


@dataclasses.dataclass(frozen=True)
class JobParams:
    """Base of every job's parameters. Subclasses set ``KIND`` (the job kind) and ``RESULTS`` (result roles)."""

    KIND: ClassVar[str] = ""
    RESULTS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_params(cls, params: object) -> JobParams:
        """A JSON object (dict) -> validated parameters (an instance of ``cls`` is returned as it is); raises
        :class:`ParamError`."""
        if isinstance(params, cls):
            return params
        if not isinstance(params, dict):
            raise ParamError(f"{cls.KIND}: parameters must be an object, got {type(params).__name__}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if extra := sorted(set(params) - set(fields)):
            raise ParamError(f"{cls.KIND}: unknown parameter(s) {extra}; known: {sorted(fields)}")
        values = {}
        for name, field in fields.items():
            if name not in params:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise ParamError(f"{cls.KIND}: parameter {name!r} is required")
                continue
            values[name] = _coerce(params[name], hints[name], f"{cls.KIND}.{name}")
        obj = cls(**values)
        obj.check()
        return obj

    def check(self) -> None:
        """Range/consistency checks beyond types; raise :class:`ParamError` naming the parameter."""

    def to_params(self) -> dict:
        """JSON-ready dict (tuples as lists), the inverse of :meth:`from_params`."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def job_contract(cls: type[JobParams]) -> type[JobParams]:
    """Class decorator: make ``cls`` a frozen dataclass and register it under ``cls.KIND``."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    if not cls.KIND:
        raise TypeError(f"{cls.__name__} needs a KIND")
    if cls.KIND in _CONTRACTS and _CONTRACTS[cls.KIND].__qualname__ != cls.__qualname__:
        raise TypeError(f"job kind {cls.KIND!r} already has the contract {_CONTRACTS[cls.KIND].__name__}")
    _CONTRACTS[cls.KIND] = cls
    return cls


def contract(kind: str) -> type[JobParams] | None:
    """The registered parameter class of job ``kind`` (None if that kind has no contract)."""
    return _CONTRACTS.get(kind)


def contracts() -> dict[str, type[JobParams]]:
    return dict(_CONTRACTS)


def load_contracts() -> dict[str, type[JobParams]]:
    """Import every contract module of this package (so :func:`contract` knows every kind); returns them by kind."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return contracts()


def require(ok: bool, message: str) -> None:
    """Raise :class:`ParamError` with ``message`` unless ``ok`` (for :meth:`JobParams.check`)."""
    if not ok:
        raise ParamError(message)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(value, option, where)
            except ParamError as exc:
                errors.append(str(exc))
        raise ParamError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {options}")
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise ParamError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{where}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamError(f"{where}: expected an object, got {type(value).__name__}")
        key_hint, item = args if args else (str, Any)
        if key_hint is not str or not all(isinstance(k, str) for k in value):
            raise ParamError(f"{where}: keys must be strings")
        return {k: _coerce(v, item, f"{where}[{k!r}]") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParamError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParamError(f"{where}: expected a string, got {type(value).__name__}")
        if "\x00" in value:
            raise ParamError(f"{where}: contains a NUL character")
        return value
    raise TypeError(f"{where}: unsupported parameter type {hint!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return list(_jsonable(v) for v in value) if isinstance(value, tuple) else value
