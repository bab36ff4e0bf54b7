"""Plain answers to "why is nothing running here?" for one queue, from its status, load and brokerage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.db.monitor_queues import Rejection

_STATUS_HINTS = {
    QueueStatus.OFFLINE: "The queue is offline: brokerage sends it no jobs and pilots get none.",
    QueueStatus.BROKEROFF: "The queue is brokeroff: brokerage sends it no new jobs; already assigned jobs "
    "still run.",
    QueueStatus.TEST: "The queue is in test: brokerage sends it only test/ptest/prod_test jobs.",
}


def _rejection_hint(rejections: Sequence[Rejection]) -> str | None:
    if not rejections:
        return None
    reason, n = Counter(r.reason for r in rejections).most_common(1)[0]
    kind = "permanent" if any(r.permanent for r in rejections if r.reason == reason) else "temporary"
    return (
        f"Brokerage refused this queue for {len(rejections)} recent job(s); "
        f"most often ({n}x, {kind}): {reason}."
    )


def diagnose(
    spec: QueueSpec,
    jobs: Counter[str],
    workers: Counter[str],
    rejections: Sequence[Rejection],
    failure_rate: float | None,
) -> list[str]:
    """Ordered findings, most blocking first; one "looks healthy" line when nothing is wrong."""
    out: list[str] = []
    if spec.status in _STATUS_HINTS:
        out.append(_STATUS_HINTS[spec.status])
    waiting = jobs["activated"]
    running = jobs["running"] + jobs["starting"] + jobs["sent"]
    live_workers = workers["submitted"] + workers["running"]
    if waiting == 0 and running == 0:
        out.append("No job is waiting for this queue (0 activated): nothing was brokered here.")
    elif waiting and live_workers == 0:
        out.append(
            f"{waiting} job(s) wait (activated) but no pilot worker is submitted or running for this queue: "
            "check the pilot factory."
        )
    elif waiting and workers["running"] == 0:
        out.append(
            f"{workers['submitted']} worker(s) submitted but none running yet: they wait in the batch system."
        )
    if spec.max_running and running >= spec.max_running:
        out.append(f"The queue is at its max_running limit ({spec.max_running}).")
    hint = _rejection_hint(rejections)
    if hint:
        out.append(hint)
    if failure_rate is not None and failure_rate > 20:
        out.append(f"High failure rate ({failure_rate} %): see the errors below.")
    return out or ["Jobs are flowing: jobs are waiting or running and no limit is reached."]
