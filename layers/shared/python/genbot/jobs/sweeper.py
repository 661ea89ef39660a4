"""Recovers jobs whose message was lost: every debited job ends delivered or refunded.

Run by an EventBridge Scheduler schedule on the generate function (input ``{"task":
"sweep_jobs"}``). Queued, running and made-but-undelivered jobs carry ``sweep``/``sweep_at`` (a sparse index,
``Job.active``): the sweeper reads only those whose ``sweep_at`` has passed — the job should
have moved on by then and didn't (the webhook died between the debit and the SQS send, a
worker died holding the lease, a poll message vanished). Each gets its message again; one that
is hopeless (older than ``GIVE_UP_MS``) is refunded once and the user told. Reads grow with
the number of stuck jobs, not with the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genbot import runtime
from genbot.jobs import delivery, queue, service
from genbot.jobs.messages import JobMessage
from genbot.observability import logger, metrics
from genbot.store.models import Job, now_ms
from genbot.vocab import JobStatus

GIVE_UP_MS = 60 * 60_000  # a job still not done an hour after it was asked for is refunded
PAGE = 100


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    read: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"resent": len(self.resent), "refunded": len(self.refunded), "read": self.read}


def sweep(now: int | None = None, limit: int = 500) -> SweepReport:
    """One pass over the jobs that should have moved on by now."""
    now = now if now is not None else now_ms()
    report = SweepReport()
    for job in Job.active.query(service.SWEEP, Job.sweep_at <= now, limit=limit, page_size=PAGE):
        report.read += 1
        if now - int(job.created_at) > GIVE_UP_MS:
            if job.status == JobStatus.SUCCEEDED:  # made, but never got through to the user
                reason, refunded = "undeliverable", service.refund_undelivered(job, "undeliverable")
            else:
                reason, refunded = "unavailable", service.fail(job, "unavailable")
            if refunded:
                report.refunded.append(job.job_id)
                runtime.run(delivery.send_failure(runtime.bot(), job, reason))
            continue
        queue.send(JobMessage(job_id=job.job_id))
        service.look_again(job, service.STEP_GRACE_MS)
        report.resent.append(job.job_id)
    if report.resent or report.refunded:
        logger.warning("stuck jobs recovered", extra=report.as_dict())
        metrics.add_metric(name="StuckJobsResent", unit="Count", value=len(report.resent))
        metrics.add_metric(name="StuckJobsRefunded", unit="Count", value=len(report.refunded))
    return report
