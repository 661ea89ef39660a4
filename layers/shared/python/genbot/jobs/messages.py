"""The jobs queue's message: one small JSON object per step of a job, typed at both ends."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class JobStep(StrEnum):
    RUN = "run"  # start, poll or deliver the job, whichever is next
    ORIGINAL = "original"  # send the stored result as a file


class JobMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: str
    action: JobStep = JobStep.RUN
    user_id: int | None = None  # who asked, for ORIGINAL: only the job's owner gets the file
