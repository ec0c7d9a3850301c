"""Job contracts of the scan fit (``scan_fit``) and the scan rig (``scan_rig``), shared by the Scan panel's
operators, the server's job functions and ``python -m backend scan fit | rig``."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..names import SCAN_MODELS
from . import JobParams, job_contract, require

ScanModel = Literal[SCAN_MODELS]


@job_contract
class ScanFitParams(JobParams):
    """Fit a body to a scan file. Results: ``motion`` (one-frame motion .npz), ``rig`` (RigSpec .npz), ``mesh``
    (the fitted body .ply in the scan's coordinates and units), ``detail`` (detail-layer .npz), ``scan`` (.npz:
    the scan's ``vertices`` in metres and ``faces``, for the add-on to show)."""

    KIND: ClassVar[str] = "scan_fit"
    RESULTS: ClassVar[tuple[str, ...]] = ("motion", "rig", "mesh", "detail", "scan")
    scan: str
    model: ScanModel = "anny"
    model_dir: str | None = None
    gender: str = "neutral"
    output: str | None = None  # motion path (default: the job folder)
    mesh: str | None = None
    detail: str | None = None
    up_axis: Literal["auto", "Y", "Z"] = "auto"  # the motion's world axes; auto: the scan's up, snapped
    fit_pose: bool = True
    fast: bool = False  # a quick preview fit: one start, a third of the steps

    def check(self) -> None:
        require(bool(self.scan), "scan_fit.scan: give a scan file")
        if self.model == "mano":
            require(self.gender in ("neutral", "right", "left"), "scan_fit.gender: MANO takes right or left")


@job_contract
class ScanRigParams(JobParams):
    """Skin a scan to its fitted body. Results: ``glb`` (armature + skinned scan), ``weights`` (.npz with the
    scan's rest vertices, per-vertex joint weights and joint names, for the add-on)."""

    KIND: ClassVar[str] = "scan_rig"
    RESULTS: ClassVar[tuple[str, ...]] = ("glb", "weights")
    scan: str
    fit: str  # the motion .npz written by scan_fit
    model_dir: str | None = None
    output: str | None = None  # .glb path (default: the job folder)
    smooth: int = 3

    def check(self) -> None:
        require(0 <= self.smooth <= 50, "scan_rig.smooth: 0 to 50 smoothing passes")
