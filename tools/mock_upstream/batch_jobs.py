"""Batch jobs the mock providers run: each finishes after a set number of status reads.

Counting status reads instead of time makes a job's course the same on any machine: with the
default of 2, the first read finds it running and the second finished. A job whose input
names "fail" (OpenAI's input_file_id, SageMaker's ModelName) fails instead of finishing.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_READS_TO_FINISH = 2
FAIL_MARKER = "fail"


def now_s() -> int:
    """Epoch seconds, the unit both providers use for job timestamps."""
    return int(time.time())


def new_hex(size: int = 12) -> str:
    """A random lower-case hex id."""
    return secrets.token_hex(size)


@dataclass
class Job:
    """One provider job: its description as the provider shows it, and how far it went."""

    description: dict[str, Any]
    fails: bool
    reads: int = 0
    cancel_requested: bool = False


@dataclass
class BatchJobs:
    """The jobs of one provider imitation, by id."""

    reads_to_finish: int = DEFAULT_READS_TO_FINISH
    jobs: dict[str, Job] = field(default_factory=dict)

    def add(self, job_id: str, description: dict[str, Any], *, marker: str) -> Job:
        """Start a job; it fails when marker names the failure marker."""
        job = Job(description, fails=FAIL_MARKER in marker.lower())
        self.jobs[job_id] = job
        return job

    def read(self, job_id: str) -> Job | None:
        """Count one status read of a job and return it (None when unknown)."""
        job = self.jobs.get(job_id)
        if job is not None:
            job.reads += 1
        return job

    def finished(self, job: Job) -> bool:
        """True once the job has been read often enough to be done."""
        return job.reads >= self.reads_to_finish
