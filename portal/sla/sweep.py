"""The breach sweep (job ``sla.sweep``): marks overdue clocks breached and queues the escalations.

Set-based SQL, one transaction, no Python loop over orders:

1. ``INSERT … SELECT`` a ``breach`` event (data ``{"clock": name}``, dated at the deadline) on the
   timeline of every running clock past its deadline;
2. ``INSERT … SELECT`` a ``breach`` notification for each of those clocks to the order's assignee, the
   clerks of the contract's provider (the desk) and the organisation's requesters, unless one is queued
   (a clock breached again after an extension);
3. ``UPDATE`` those orders: the clocks ``breached``, the order flagged, and ``next_due`` recomputed as the
   earliest deadline still running (what ``workorders.services.recompute`` stores), so the queue keeps
   sorting by the nearest live deadline;
4. ``INSERT … SELECT`` a ``warning`` notification to the assignee of every clock still running past its
   80% mark who has none about it yet.

A clock counts as running when its state is ``running``, the order is open and not paused, and, for the
repair clock, the device is not at the factory (that stretch pauses it). Every running clock's deadline is
at or after ``next_due``, so ``next_due < now`` narrows steps 1-3 to an index range scan of the queue
index. A re-run finds nothing new: breached clocks no longer match and queued notifications are skipped. The
inserts skip them with a probe of the unique index instead of ``ON CONFLICT DO NOTHING``, whose speculative
insertion costs more per row than the probe.

The updates bypass the ORM, so the audit trail does not list them: the breach events on the order's
timeline are the record. On PostgreSQL the transaction runs at REPEATABLE READ behind an advisory lock:
one sweep at a time, and a concurrent step on an order it breaches makes it roll back and start again
(as does a sweep whose snapshot predates the commit of the one that held the lock before it: it meets
that one's notifications as unique violations).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    String,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import JSON

from portal.auth.models import User
from portal.auth.roles import CLERK, REQUESTER
from portal.extensions import db
from portal.jobs import enqueue, job
from portal.orgs.models import Contract
from portal.plugins import registry
from portal.sla.engine import BREACHED, RUNNING
from portal.types import UTCDateTime, utcnow
from portal.workorders.models import CLOCK_NAMES, OPEN_STATUSES, STATUSES, Notification, WorkOrder, WorkOrderEvent

ATTEMPTS = 3
RETRYABLE = ("40001", "40P01", "23505")  # serialization failure, deadlock, unique violation
LOCK_KEY = 0x504F5254414C01  # "PORTAL" + 1: the sweep's advisory lock
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
ACTOR = "system"
NOTIFICATION_COLUMNS = ["work_order_id", "clock", "kind", "recipient_id", "channel", "status", "attempts",
                        "error", "created_at"]

orders = WorkOrder.__table__
events = WorkOrderEvent.__table__
notifications = Notification.__table__
users = User.__table__
contracts = Contract.__table__


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: clocks newly breached, orders touched, notifications queued."""

    breaches: int = 0
    orders: int = 0
    breach_notifications: int = 0
    warning_notifications: int = 0
    skipped: bool = False

    @property
    def notifications(self) -> int:
        return self.breach_notifications + self.warning_notifications


# --------------------------------------------------------------------------------------------------------
# Conditions on the work_order table
# --------------------------------------------------------------------------------------------------------


def live():
    """Open and not paused: the order's clocks can run."""
    return and_(orders.c.status.in_(OPEN_STATUSES), orders.c.paused_at.is_(None))


def running(name: str):
    """The clock is running (the repair clock stands still while the device is at the factory)."""
    condition = orders.c[f"state_{name}"] == RUNNING
    if name == "repair":
        at_factory = and_(orders.c.factory_out_at.is_not(None), orders.c.factory_back_at.is_(None))
        condition = and_(condition, not_(at_factory))
    return condition


def overdue(name: str, now: datetime):
    """The clock is running past its deadline."""
    return and_(running(name), orders.c[f"due_{name}"] < now)


def past_warning(name: str, now: datetime):
    """The clock is running past its 80% mark."""
    return and_(running(name), orders.c[f"warn_{name}"] <= now)


def not_closed():
    """The status is open, as a test no index on status serves (the check constraint bounds the status)."""
    return orders.c.status.not_in([status for status in STATUSES if status not in OPEN_STATUSES])


def overdue_orders(now: datetime):
    """Orders with at least one running clock past its deadline: an index range on next_due alone (with
    ``live()`` PostgreSQL also read the status index's 100,000 open orders to AND the two bitmaps)."""
    return and_(orders.c.next_due < now, not_closed(), orders.c.paused_at.is_(None),
                or_(*(overdue(name, now) for name in CLOCK_NAMES)))


def flag(condition):
    """A condition as 1/0, for carrying it through a CTE on both backends."""
    return case((condition, 1), else_=0)


def sql_string(value: str):
    """A constant of the code (clock name, kind, channel) as an SQL string literal."""
    return literal_column(f"'{value}'", String)


# --------------------------------------------------------------------------------------------------------
# The statements
# --------------------------------------------------------------------------------------------------------


def breaches_cte(now: datetime):
    """One row per (order, clock) newly breached: the order's routing facts and the deadline passed."""
    candidates = (
        select(orders.c.id, orders.c.assignee_id, orders.c.organisation_id, orders.c.contract_id,
               *(orders.c[f"due_{name}"] for name in CLOCK_NAMES),
               *(flag(overdue(name, now)).label(f"hit_{name}") for name in CLOCK_NAMES))
        .where(overdue_orders(now))
        .cte("overdue_order")
    )
    rows = [
        select(candidates.c.id.label("work_order_id"), sql_string(name).label("clock"),
               candidates.c[f"due_{name}"].label("due"), literal({"clock": name}, JSON).label("data"),
               candidates.c.assignee_id, candidates.c.organisation_id, candidates.c.contract_id)
        .where(candidates.c[f"hit_{name}"] == 1)
        for name in CLOCK_NAMES
    ]
    return union_all(*rows).cte("breach")


def queue_notifications(rows):
    """INSERT the notification rows (the SELECTs leave out those already queued)."""
    return notifications.insert().from_select(NOTIFICATION_COLUMNS, rows)


def breach_events(breach):
    """INSERT … SELECT the breach events."""
    columns = ["work_order_id", "type", "at", "actor_name", "note", "reason", "data"]
    rows = select(breach.c.work_order_id, sql_string("breach"), breach.c.due, sql_string(ACTOR),
                  sql_string(""), sql_string(""), breach.c.data)
    return events.insert().from_select(columns, rows)


def contacts(channels) -> dict:
    """The user column each channel needs filled."""
    return {channel: {"email": users.c.email, "sms": users.c.phone}[channel] for channel in channels}


def not_queued(source, kind: str, channel: str):
    """No such notification is queued yet (a probe of the unique index)."""
    return not_(exists().where(notifications.c.work_order_id == source.c.work_order_id,
                               notifications.c.clock == source.c.clock, notifications.c.kind == kind,
                               notifications.c.recipient_id == users.c.id, notifications.c.channel == channel))


def notification_rows(source, kind: str, recipients, channels, now: datetime, probe: bool = True):
    """SELECTs of notification rows: ``recipients`` is a list of (join target, on clause) per source row;
    ``probe=False`` when the source already left out the clocks with a notification queued."""
    selects = []
    for channel, contact in contacts(channels).items():
        for target, on in recipients:
            selects.append(
                select(source.c.work_order_id, source.c.clock, sql_string(kind), users.c.id,
                       sql_string(channel), sql_string("pending"), literal(0), sql_string(""),
                       literal(now, UTCDateTime))
                .select_from(target)
                .where(users.c.active.is_(True), contact != "", on,
                       not_queued(source, kind, channel) if probe else true())
            )
    return union_all(*selects)


def breach_notifications(breach, channels, now: datetime):
    """INSERT the breach notifications: assignee, the provider's clerks, the organisation's requesters
    (once each: an assignee whose role was changed to clerk or requester is not listed twice)."""
    desk = breach.join(contracts, contracts.c.id == breach.c.contract_id).join(
        users, users.c.provider_id == contracts.c.provider_id)
    not_assignee = users.c.id.is_distinct_from(breach.c.assignee_id)
    recipients = [
        (breach.join(users, users.c.id == breach.c.assignee_id), true()),
        (desk, and_(users.c.role == CLERK, not_assignee)),
        (breach.join(users, users.c.organisation_id == breach.c.organisation_id),
         and_(users.c.role == REQUESTER, not_assignee)),
    ]
    return queue_notifications(notification_rows(breach, "breach", recipients, channels, now))


def earliest(dialect_name: str, values):
    """The earliest of some instants, ignoring NULLs (NULL when all are)."""
    if dialect_name == "postgresql":
        return func.least(*values, type_=UTCDateTime)
    far = literal(FAR_FUTURE, UTCDateTime)
    return func.nullif(func.min(*(func.coalesce(value, far) for value in values)), far, type_=UTCDateTime)


def mark_breached(dialect_name: str, now: datetime):
    """UPDATE the overdue orders: clocks breached, the order flagged, next_due the earliest still running."""
    states = {
        f"state_{name}": case((overdue(name, now), BREACHED), else_=orders.c[f"state_{name}"])
        for name in CLOCK_NAMES
    }
    still_running = [
        case((and_(running(name), orders.c[f"due_{name}"] >= now), orders.c[f"due_{name}"]))
        for name in CLOCK_NAMES
    ]
    return (
        orders.update()
        .where(overdue_orders(now))
        .values(**states, breached=True, next_due=earliest(dialect_name, still_running), updated_at=now)
    )


def already_warned(order_id, clock: str, recipient_id):
    """A warning about this clock is queued for the recipient (a probe of the unique index): most clocks
    past their 80% mark were warned by an earlier sweep."""
    return exists().where(notifications.c.work_order_id == order_id, notifications.c.clock == clock,
                          notifications.c.kind == "warning", notifications.c.recipient_id == recipient_id)


def warning_notifications(channels, now: datetime):
    """INSERT a warning to the assignee of each clock running past its 80% mark."""
    candidates = (
        select(orders.c.id, orders.c.assignee_id,
               *(flag(past_warning(name, now)).label(f"warn_{name}") for name in CLOCK_NAMES))
        .where(live(), orders.c.assignee_id.is_not(None),
               or_(*(past_warning(name, now) for name in CLOCK_NAMES)))
        .cte("warned_order")
    )
    warned = union_all(*(
        select(candidates.c.id.label("work_order_id"), sql_string(name).label("clock"),
               candidates.c.assignee_id)
        .where(candidates.c[f"warn_{name}"] == 1,
               not_(already_warned(candidates.c.id, name, candidates.c.assignee_id)))
        for name in CLOCK_NAMES
    )).cte("warning")
    recipients = [(warned.join(users, users.c.id == warned.c.assignee_id), true())]
    return queue_notifications(notification_rows(warned, "warning", recipients, channels, now, probe=False))


# --------------------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------------------


def channels_available() -> tuple[str, ...]:
    """E-mail always; SMS when some plugin implements ``portal_send_sms``."""
    has_sms = bool(registry().pm.hook.portal_send_sms.get_hookimpls())
    return ("email", "sms") if has_sms else ("email",)


def statements(dialect_name: str, now: datetime, channels) -> list[tuple[str, object]]:
    """The sweep's statements in order, each with the SweepResult field counting its rows."""
    breach = breaches_cte(now)
    return [
        ("breaches", breach_events(breach)),
        ("breach_notifications", breach_notifications(breach, channels, now)),
        ("orders", mark_breached(dialect_name, now)),
        ("warning_notifications", warning_notifications(channels, now)),
    ]


def run_statements(connection, now: datetime, channels) -> SweepResult:
    """The sweep's statements, in order, on one connection inside its transaction."""
    return SweepResult(**{field: changed(connection, statement)
                          for field, statement in statements(connection.dialect.name, now, channels)})


def changed(connection, statement) -> int:
    """Run a DML statement; the number of rows it changed (SQLite's driver reports none for a statement
    that starts with WITH, so ask SQLite itself)."""
    count = connection.execute(statement, execution_options={"preserve_rowcount": True}).rowcount
    if count < 0 and connection.dialect.name == "sqlite":
        count = connection.execute(text("SELECT changes()")).scalar_one()
    return count


def take_lock(connection) -> bool:
    """PostgreSQL: the sweep's advisory lock for this transaction (False: another sweep holds it)."""
    if connection.dialect.name != "postgresql":
        return True
    locked = connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    return bool(locked.scalar())


def without_jit(connection) -> None:
    """PostgreSQL: no JIT compilation in this transaction. The sweep's statements are planned afresh each
    minute; once the open orders grow past a few hundred thousand their cost crosses ``jit_above_cost``
    and compiling them costs more than running them (bench/README.md)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL jit = off"))


def retryable(error: DBAPIError) -> bool:
    """A serialization failure or deadlock: the transaction may simply run again."""
    return getattr(error.orig, "sqlstate", None) in RETRYABLE


def sweep(now: datetime | None = None) -> SweepResult:
    """Mark every overdue running clock breached and queue the notifications; safe to run again."""
    now = now or utcnow()
    channels = channels_available()
    attempt = 1
    while True:
        try:
            return sweep_once(now, channels)
        except DBAPIError as error:
            if attempt >= ATTEMPTS or not retryable(error):
                raise
            attempt += 1


def sweep_once(now: datetime, channels) -> SweepResult:
    """One try of the sweep in its own transaction (REPEATABLE READ on PostgreSQL)."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            if not take_lock(connection):
                return SweepResult(skipped=True)
            without_jit(connection)
            return run_statements(connection, now, channels)


@job("sla.sweep")
def sweep_job() -> dict:
    """The periodic job: sweep now, then send what it queued."""
    result = sweep()
    if result.notifications:
        enqueue("notify.dispatch")
    return {**asdict(result), "notifications": result.notifications}
