"""Job contract of ``estimate_multi``: several people and / or several calibrated views -> one motion per person.

``videos`` holds one video (monocular: every person of it) or several synchronized videos with ``calibration``
(Qualisys .qca.txt or Pose2Sim/Anipose .toml, one camera per video in order); ``offsets``: per video, the frame
of that video that is the take's frame 0 (empty: all 0). ``people``: "main", "all" or a count ("2").
Result ``index``: a people.json listing the motion files (``people[i].file``, relative to its folder).
"""

from __future__ import annotations

from typing import ClassVar

from . import JobParams, job_contract, require


@job_contract
class EstimateMultiParams(JobParams):
    KIND: ClassVar[str] = "estimate_multi"
    RESULTS: ClassVar[tuple[str, ...]] = ("index",)
    videos: tuple[str, ...]
    model: str = "anny"
    model_dir: str | None = None
    people: str = "all"
    calibration: str | None = None
    offsets: tuple[int, ...] = ()
    start: int = 0
    end: int | None = None
    stride: int = 1
    min_height: float = 160.0  # pixels: smaller people are ignored
    cache_dir: str | None = None

    def check(self) -> None:
        require(len(self.videos) >= 1, "estimate_multi.videos: give at least one video")
        require(len(self.videos) == 1 or self.calibration is not None,
                "estimate_multi.calibration: several videos need their calibration file")
        require(not self.offsets or len(self.offsets) == len(self.videos),
                "estimate_multi.offsets: give one offset per video (or none)")
        require(self.people in ("main", "all") or (self.people.isdigit() and int(self.people) >= 1),
                "estimate_multi.people: main, all or a number of people")
        require(self.stride >= 1 and self.start >= 0, "estimate_multi.start/stride: start >= 0, stride >= 1")
        require(self.min_height > 0, "estimate_multi.min_height: a positive number of pixels")
