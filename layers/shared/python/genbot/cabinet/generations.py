"""``GET /generations``: the caller's gallery, newest first, one Query of jobs' ``by_user`` index a
page, with short-lived presigned S3 links to results under the caller's own ``media/<user>/``.

Assistant messages (mode ``chat``) are jobs too but not gallery items: the Query filters them
out, so a page may hold fewer than ``limit`` items (even none) and still have a next page; a
page reads at most ``READ_MAX`` jobs, whatever the mix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from genbot.cabinet.auth import Caller, CurrentCaller
from genbot.cabinet.paging import DEFAULT_LIMIT, CursorParam, LimitParam, next_cursor, start_key
from genbot.jobs import media
from genbot.store.models import Job
from genbot.vocab import JobStatus, Mode

router = APIGatewayHttpRouter()

SCOPE = "generations"
KEY_FIELDS: dict[str, type] = {"job_id": str, "created_at": int}
URL_SECONDS = 900  # a presigned link lives 15 minutes: the site asks again for a fresh page
READ_MAX = 100


class Generation(BaseModel):
    job_id: str
    mode: str
    tier: str
    prompt: str
    status: str
    created_at: datetime
    mime: str | None
    url: str | None
    expires_in: int | None


class GenerationsPage(BaseModel):
    items: list[Generation]
    next_cursor: str | None


def _exclusive_start(user_id: int, key: dict[str, Any] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {
        "job_id": {"S": key["job_id"]},
        "user_id": {"N": str(user_id)},
        "created_at": {"N": str(key["created_at"])},
    }


def _key_of(job: Job) -> dict[str, Any]:
    return {"job_id": str(job.job_id), "created_at": int(job.created_at)}


def _link(caller: Caller, job: Job) -> str | None:
    """A presigned GET of the job's result, only for a key in the caller's own prefix."""
    key = job.result_key
    if job.status != JobStatus.SUCCEEDED or not key or not key.startswith(f"media/{caller.user_id}/"):
        return None
    return media.presigned_url(key, URL_SECONDS)


def _item(caller: Caller, job: Job) -> Generation:
    url = _link(caller, job)
    return Generation(
        job_id=str(job.job_id),
        mode=str(job.mode),
        tier=str(job.tier),
        prompt=str(job.prompt or ""),
        status=str(job.status),
        created_at=datetime.fromtimestamp(int(job.created_at) / 1000, UTC),
        mime=job.result_mime if url else None,
        url=url,
        expires_in=URL_SECONDS if url else None,
    )


def page(caller: Caller, cursor: str | None, limit: int) -> GenerationsPage:
    start = start_key(caller, SCOPE, cursor, KEY_FIELDS)
    results = Job.by_user.query(
        caller.user_id,
        scan_index_forward=False,
        filter_condition=Job.mode != str(Mode.CHAT),
        page_size=min(READ_MAX, 2 * (limit + 1)),
        last_evaluated_key=_exclusive_start(caller.user_id, start),
    )
    raw = next(results.page_iter)  # exactly one Query
    jobs = [Job.from_raw_data(item) for item in raw.get("Items", [])]
    key: dict[str, Any] | None = None
    if len(jobs) > limit:
        jobs = jobs[:limit]
        key = _key_of(jobs[-1])
    elif (last := results.page_iter.last_evaluated_key) is not None:
        key = {"job_id": last["job_id"]["S"], "created_at": int(last["created_at"]["N"])}
    return GenerationsPage(
        items=[_item(caller, j) for j in jobs], next_cursor=next_cursor(caller, SCOPE, key)
    )


@router.get("/generations", summary="The caller's generations, newest first")
def generations(
    caller: CurrentCaller, cursor: CursorParam = None, limit: LimitParam = DEFAULT_LIMIT
) -> GenerationsPage:
    """Pictures, edits, videos and prompts, each with a short-lived link to its result."""
    return page(caller, cursor, limit)
