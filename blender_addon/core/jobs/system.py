"""Contracts of the housekeeping jobs (``free_memory``) and of the test jobs (``count``, ``fail``; registered
by the server only with ``SMPLPIX_TEST_JOBS=1``)."""

from __future__ import annotations

from typing import ClassVar

from . import JobParams, job_contract, require

__all__ = ["ROLE_COUNT", "ROLE_REPORT", "CountParams", "FailParams", "FreeMemoryParams"]

ROLE_REPORT = "report"  # memory.json
ROLE_COUNT = "count"  # count.json


@job_contract
class FreeMemoryParams(JobParams):
    """Drop cached models and return GPU memory to the driver; no parameters."""

    KIND: ClassVar[str] = "free_memory"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_REPORT,)


@job_contract
class CountParams(JobParams):
    """Test job: count ``n`` steps, ``delay`` seconds each, with progress and cancel checks."""

    KIND: ClassVar[str] = "count"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_COUNT,)
    n: int = 10
    delay: float = 0.01

    def check(self) -> None:
        require(0 <= self.n <= 1_000_000 and 0 <= self.delay <= 10,
                f"count: n={self.n}, delay={self.delay}; use 0 <= n <= 1e6 and 0 <= delay <= 10 s")


@job_contract
class FailParams(JobParams):
    """Test job: always fails, with a JobError (``user``) or an unexpected RuntimeError."""

    KIND: ClassVar[str] = "fail"
    user: bool = True
