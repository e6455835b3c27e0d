"""`lfctl kafka`: consumer-lag inspection and poison-message skipping for Conveyor (Kafka).

Owner: Platform team. Used by every on-call rotation; see runbooks/kafka-consumer-lag for
when to use which command. `skip` is the only supported way to move a consumer group past a
poison message: it never drops data, because the record is copied to the group's
dead-letter topic before the offset is committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lfctl.audit import audit_event
from lfctl.conveyor import ConveyorAdmin, Record
from lfctl.errors import UsageError

# A skip storm usually means the consumer has a bug, not that every message is poisoned.
MAX_SKIPS_PER_GROUP_PER_HOUR = 20
# Dead-letter topic per consumer group; groups not listed use "<group>.dlq.v1".
DLQ_TOPICS = {
    "notification-service.shipment-events": "notifications.dlq.v1",
    "notification-service.senders": "notifications.dlq.v1",
    "ledger-exporter.transactions": "payments.dlq.v1",
}
LAG_WARN = 10_000


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def dlq_topic(group: str) -> str:
    """The dead-letter topic that `skip` copies a group's poison messages to."""
    return DLQ_TOPICS.get(group, f"{group}.dlq.v1")


def lag_report(admin: ConveyorAdmin, group: str) -> list[PartitionLag]:
    """`lfctl kafka lag --group G`: lag per partition, worst first.

    One partition far behind while the others are near zero is a poison message; all
    partitions behind is a throughput problem (scale the consumer, do not skip).
    """
    committed = admin.committed_offsets(group)
    ends = admin.end_offsets(list(committed))
    rows = [PartitionLag(tp.topic, tp.partition, off, ends[tp]) for tp, off in committed.items()]
    return sorted(rows, key=lambda r: r.lag, reverse=True)


class OffsetSkipper:
    """Moves a consumer group past exactly one poison message per call."""

    def __init__(self, admin: ConveyorAdmin, clock=time.time) -> None:
        self.admin = admin
        self.clock = clock

    def skip(self, group: str, topic: str, partition: int, offset: int, incident: str) -> None:
        """`lfctl kafka skip`: copy the record at `offset` to the DLQ, then commit offset + 1.

        Refuses when `offset` is not the group's committed offset on that partition (you can
        only skip the message the consumer is stuck on), when the group is still being
        rebalanced, when no incident or ticket id is given, and after
        MAX_SKIPS_PER_GROUP_PER_HOUR skips of the same group in the last hour. Announce
        every skip in #oncall-platform.
        """
        if not incident:
            raise UsageError("--incident is required: link the incident or OPS ticket")
        committed = self.admin.committed_offsets(group).get((topic, partition))
        if committed != offset:
            raise UsageError(
                f"{group} is at offset {committed} on {topic}/{partition}, not {offset}: "
                "skip only the message the consumer is stuck on"
            )
        if self.admin.is_rebalancing(group):
            raise UsageError(f"{group} is rebalancing; wait until it is stable and retry")
        self._check_rate(group)
        record = self.admin.read_record(topic, partition, offset)
        self._dead_letter(group, record, incident)
        self.admin.commit(group, topic, partition, offset + 1)
        audit_event(
            "kafka.skip",
            group=group,
            topic=topic,
            partition=partition,
            offset=offset,
            incident=incident,
        )

    def _check_rate(self, group: str) -> None:
        since = self.clock() - 3600
        recent = self.admin.audit_count("kafka.skip", group=group, since=since)
        if recent >= MAX_SKIPS_PER_GROUP_PER_HOUR:
            raise UsageError(
                f"{recent} skips on {group} in the last hour: stop and fix the consumer; "
                "the Platform on-call can lift the limit with --override-rate-limit"
            )

    def _dead_letter(self, group: str, record: Record, incident: str) -> None:
        """The copy keeps key, value and headers, plus where it came from and why."""
        headers = dict(record.headers)
        headers.update(
            {
                "lf-dlq-source": f"{record.topic}/{record.partition}/{record.offset}",
                "lf-dlq-group": group,
                "lf-dlq-reason": f"skipped by lfctl ({incident})",
            }
        )
        self.admin.produce(
            dlq_topic(group), key=record.key, value=record.value, headers=headers, sync=True
        )
