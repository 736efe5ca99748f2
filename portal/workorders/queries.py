"""Read-only queries of the desk: the queue (keyset paging), my orders, device look-up and the SLA dashboard.

Every query goes through the organisation scoping of ``portal.auth.scoping``. Times are UTC instants; month
boundaries are computed in the deployment's time zone and turned into UTC before they reach SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, or_, select, tuple_
from sqlalchemy.orm import joinedload

from portal.auth.models import User
from portal.auth.roles import ENGINEER
from portal.auth.scoping import scope_of, scoped, scoped_by_parameter, visible_organisations  # noqa: F401
from portal.database import rows
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation
from portal.workorders.models import CLOCK_NAMES, OPEN_STATUSES, STATUSES, WorkOrder

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
NO_DUE = "-"
LOOKUP_LIMIT = 10
MTTR_MONTHS = 6
RISK_LIMIT = 20


# ----------------------------------------------------------------------------------------------------------
# The queue
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """What the clerk narrows the queue to; empty strings mean "any"."""

    status: str = ""
    severity: str = ""
    organisation: int | None = None
    device: str = ""
    assignee: str = ""
    breached: str = ""

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        """Filters from a query string; unusable values are dropped, never an error."""
        org = (args.get("organisation") or "").strip()
        return cls(
            status=args.get("status", "") if args.get("status") in STATUSES else "",
            severity=(args.get("severity") or "").strip()[:20],
            organisation=int(org) if org.isdigit() else None,
            device=(args.get("device") or "").strip()[:60],
            assignee=_assignee_arg(args.get("assignee")),
            breached=args.get("breached", "") if args.get("breached") in ("1", "0") else "",
        )

    def as_args(self) -> dict:
        """The filters as query-string values (empty ones left out)."""
        values = {"status": self.status, "severity": self.severity, "organisation": self.organisation or "",
                  "device": self.device, "assignee": self.assignee, "breached": self.breached}
        return {key: str(value) for key, value in values.items() if value not in ("", None)}


def _assignee_arg(raw: str | None) -> str:
    """'me', 'none' or a user id; anything else is no filter."""
    raw = (raw or "").strip()
    return raw if raw in ("me", "none") or raw.isdigit() else ""


@dataclass(frozen=True)
class Cursor:
    """A position in the queue: the nearest deadline and id of the last order shown."""

    due: datetime | None
    id: int

    def encode(self) -> str:
        """``<due in UTC>|<id>``, with ``-`` for an order without a running deadline."""
        due = self.due.astimezone(UTC).strftime(CURSOR_FORMAT) if self.due else NO_DUE
        return f"{due}|{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        """The cursor in a query string, or None when absent or malformed (the first page)."""
        due_text, sep, id_text = (raw or "").partition("|")
        if not sep or not id_text.isdigit():
            return None
        if due_text == NO_DUE:
            return cls(None, int(id_text))
        try:
            due = datetime.strptime(due_text, CURSOR_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(due, int(id_text))


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue and the cursor of the next one (None on the last page)."""

    items: list  # rows of QUEUE_COLUMNS
    after: Cursor | None
    next_cursor: Cursor | None


# The running clock whose deadline is the order's nearest one, and the spare-unit flag (PK-5.2: past the
# repair deadline, not resolved, no spare unit provided; ``WorkOrder.spare_unit_due`` for one order), worked
# out by the database for a page of rows rather than from six more timestamps a row.
NEAREST_CLOCK = case(
    *((and_(getattr(WorkOrder, f"state_{name}") == "running",
            getattr(WorkOrder, f"due_{name}") == WorkOrder.next_due), name) for name in CLOCK_NAMES),
    else_=None,
)
SPARE_UNIT_DUE = case(
    (and_(WorkOrder.state_repair == "breached", WorkOrder.resolved_at.is_(None),
          WorkOrder.spare_provided_at.is_(None)), True),
    else_=False,
)


# What a queue row shows, and all a page of the desk reads of an order: plain columns, not entities (loading
# the orders with their organisation and device would cost more than the statement). A row is a tuple with
# these names: id, standard, summary, severity, status, next_due, breached, spare_unit_due, clock (the
# nearest running clock's name), organisation_name, device_code.
QUEUE_COLUMNS = (
    WorkOrder.id, WorkOrder.standard, WorkOrder.summary, WorkOrder.severity, WorkOrder.status,
    WorkOrder.next_due, WorkOrder.breached, SPARE_UNIT_DUE.label("spare_unit_due"), NEAREST_CLOCK.label("clock"),
    Organisation.name.label("organisation_name"), Device.code.label("device_code"),
)


@dataclass(frozen=True)
class QueueShape:
    """Which criteria a queue statement has, without their values: the statement for a shape is built once
    (``queue_select``) and run with the request's values as bind parameters. Composing an ORM statement and
    working out its cache key cost more than running it on every visit to the desk."""

    scope: str  # portal.auth.scoping.scope_of: all, none or some
    status: str  # given, open (the open statuses) or "" (no test: orders with a deadline are open)
    severity: bool
    organisation: bool
    device: bool
    breached: str  # "", "1" or "0"
    assignee: str  # "", "id" or "none"
    part: str  # due_first, due_after, nodue_first or nodue_after


def queue_parameters(filters: QueueFilters, user, part: str) -> tuple[QueueShape, dict]:
    """The shape of one of the queue's statements for these filters and user, and its parameter values."""
    scope, params = scope_of()
    assignee = {"": "", "none": "none"}.get(filters.assignee, "id")
    if assignee == "id":
        params["assignee"] = user.id if filters.assignee == "me" else int(filters.assignee)
    params.update(status=filters.status, severity=filters.severity, organisation=filters.organisation,
                  device=filters.device)
    status = "given" if filters.status else ("" if part.startswith("due") else "open")
    shape = QueueShape(scope, status, bool(filters.severity), bool(filters.organisation), bool(filters.device),
                       filters.breached, assignee, part)
    return shape, params


@lru_cache(maxsize=512)
def queue_select(shape: QueueShape):
    """The queue's statement of a shape, with bind parameters for the values (see ``queue_parameters``)
    and for ``limit`` and, after a cursor, ``cursor_due`` and ``cursor_id``."""
    statement = scoped_by_parameter(
        select(*QUEUE_COLUMNS).select_from(WorkOrder)
        .outerjoin(Organisation, WorkOrder.organisation_id == Organisation.id)
        .outerjoin(Device, WorkOrder.device_id == Device.id),
        WorkOrder.organisation_id, shape.scope)
    criteria = {
        "given": WorkOrder.status == bindparam("status"), "open": WorkOrder.status.in_(OPEN_STATUSES),
        "severity": WorkOrder.severity == bindparam("severity"),
        "organisation": WorkOrder.organisation_id == bindparam("organisation"),
        "device": WorkOrder.device_id.in_(select(Device.id).where(Device.code == bindparam("device"))),
        "1": WorkOrder.breached.is_(True), "0": WorkOrder.breached.is_(False),
        "id": WorkOrder.assignee_id == bindparam("assignee"), "none": WorkOrder.assignee_id.is_(None),
    }
    wanted = (shape.status, shape.severity and "severity", shape.organisation and "organisation",
              shape.device and "device", shape.breached, shape.assignee)
    statement = statement.where(*(criteria[name] for name in wanted if name))
    return _queue_part(statement, shape.part).limit(bindparam("limit"))


def _queue_part(statement, part: str):
    """Orders with a deadline (by deadline) or without one (by id), from the start or after a cursor."""
    cursor_id = bindparam("cursor_id")
    if part == "due_first":
        return statement.where(WorkOrder.next_due.is_not(None)).order_by(WorkOrder.next_due, WorkOrder.id)
    if part == "due_after":
        cursor_due = bindparam("cursor_due", type_=WorkOrder.__table__.c.next_due.type)
        return (statement.where(tuple_(WorkOrder.next_due, WorkOrder.id) > tuple_(cursor_due, cursor_id))
                .order_by(WorkOrder.next_due, WorkOrder.id))
    statement = statement.where(WorkOrder.next_due.is_(None))
    if part == "nodue_after":
        statement = statement.where(WorkOrder.id > cursor_id)
    return statement.order_by(WorkOrder.id)


def queue_rows(filters: QueueFilters, user, part: str, limit: int, after: Cursor | None = None) -> list:
    """Up to ``limit`` rows of one part of the queue."""
    shape, params = queue_parameters(filters, user, part)
    params["limit"] = limit
    if after is not None:
        params.update(cursor_due=after.due, cursor_id=after.id)
    return rows(queue_select(shape), params)


def queue_page(filters: QueueFilters, user, after: Cursor | None, size: int) -> QueuePage:
    """Orders by nearest deadline (none last), then id, after a cursor: keyset paging, never OFFSET.

    Two index-ordered reads instead of one OR: first the orders with a deadline past the cursor, then,
    when the page is not full, those without one by id. Orders with a deadline are open by construction,
    so their read leaves out the open-status test: it only misleads PostgreSQL's row estimate.
    """
    found: list = []
    closed_filter = bool(filters.status) and filters.status not in OPEN_STATUSES
    if (after is None or after.due is not None) and not closed_filter:
        found = queue_rows(filters, user, "due_first" if after is None else "due_after", size + 1, after)
    if len(found) <= size:
        nodue_after = after if after is not None and after.due is None else None
        found += queue_rows(filters, user, "nodue_after" if nodue_after else "nodue_first",
                           size + 1 - len(found), nodue_after)
    items = found[:size]
    more = len(found) > size
    return QueuePage(items, after, Cursor(items[-1].next_due, items[-1].id) if more else None)


def my_orders(user) -> list[WorkOrder]:
    """The open orders assigned to a user, nearest deadline first."""
    statement = (
        scoped(select(WorkOrder), WorkOrder.organisation_id)
        .options(joinedload(WorkOrder.organisation), joinedload(WorkOrder.device))
        .where(WorkOrder.assignee_id == user.id, WorkOrder.status.in_(OPEN_STATUSES))
        .order_by(WorkOrder.next_due.asc().nulls_last(), WorkOrder.id)
    )
    return list(db.session.scalars(statement))


# ----------------------------------------------------------------------------------------------------------
# Choices and look-ups for the desk's forms
# ----------------------------------------------------------------------------------------------------------


def visible_engineers() -> list:
    """Active engineers of providers contracted by an organisation the current user may see, as ``(id,
    name)`` rows (the queue's filter offers them)."""
    scope, params = scope_of()
    return rows(_visible_engineers_select(scope), params)


# Active engineers as (id, name) rows, by username (``User.name``: the display name, else the username).
ENGINEER_CHOICES = select(
    User.id, case((User.display_name != "", User.display_name), else_=User.username).label("name"),
).where(User.role == ENGINEER, User.active.is_(True)).order_by(User.username)
PROVIDER_ENGINEERS = ENGINEER_CHOICES.where(User.provider_id == bindparam("provider_id"))


@lru_cache(maxsize=3)
def _visible_engineers_select(scope: str):
    providers = scoped_by_parameter(select(Contract.provider_id), Contract.organisation_id, scope)
    return ENGINEER_CHOICES.where(User.provider_id.in_(providers))


def provider_engineers(order: WorkOrder) -> list:
    """The active engineers of the order's contracted provider (PK-4.1: no subcontracting), as ``(id,
    name)`` rows (the assign step offers them)."""
    if order.contract is None:
        return []
    return rows(PROVIDER_ENGINEERS, {"provider_id": order.contract.provider_id})


def find_devices(text: str, limit: int = LOOKUP_LIMIT) -> list[Device]:
    """Visible devices whose code or address contains the text, exact code matches first."""
    text = (text or "").strip()
    if not text:
        return []
    statement = (
        scoped(select(Device), Device.organisation_id)
        .options(joinedload(Device.organisation))
        .where(or_(Device.code.icontains(text, autoescape=True),
                   Device.address.icontains(text, autoescape=True)))
        .order_by(case((func.lower(Device.code) == text.lower(), 0), else_=1), Device.code)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def device_by_code(code: str) -> Device | None:
    """The visible device with exactly this code (letters in any case), or None."""
    code = (code or "").strip()
    if not code:
        return None
    statement = scoped(select(Device), Device.organisation_id).where(func.lower(Device.code) == code.lower())
    return db.session.scalars(statement).first()


# ----------------------------------------------------------------------------------------------------------
# The SLA dashboard
# ----------------------------------------------------------------------------------------------------------


def _scoped_orders(statement):
    return scoped(statement, WorkOrder.organisation_id)


def open_by_severity() -> dict[tuple[str, str | None], int]:
    """Open orders per (standard, severity)."""
    statement = _scoped_orders(
        select(WorkOrder.standard, WorkOrder.severity, func.count())
        .where(WorkOrder.status.in_(OPEN_STATUSES))
        .group_by(WorkOrder.standard, WorkOrder.severity)
    )
    return {(standard, severity): number for standard, severity, number in db.session.execute(statement)}


@dataclass(frozen=True)
class ClockAtRisk:
    """A running clock with 80% or more of its time used and its deadline still ahead."""

    order: WorkOrder
    clock: str
    due: datetime
    used: Decimal


def clocks_at_risk(now: datetime, limit: int = RISK_LIMIT) -> tuple[int, list[ClockAtRisk]]:
    """How many running clocks of open, unpaused orders are at 80% or more, and the nearest ones."""
    total, found = 0, []
    for name in CLOCK_NAMES:
        due, warn, state = (getattr(WorkOrder, f"{part}_{name}") for part in ("due", "warn", "state"))
        condition = (state == "running", warn <= now, due > now,
                     WorkOrder.status.in_(OPEN_STATUSES), WorkOrder.status != "paused")
        counted = select(func.count()).select_from(WorkOrder).where(*condition)
        total += db.session.scalar(_scoped_orders(counted))
        nearest = select(WorkOrder).options(joinedload(WorkOrder.organisation)).where(*condition)
        orders = db.session.scalars(_scoped_orders(nearest.order_by(due).limit(limit)))
        found += [_at_risk(order, name, now) for order in orders]
    return total, sorted(found, key=lambda row: row.due)[:limit]


def _at_risk(order: WorkOrder, name: str, now: datetime) -> ClockAtRisk:
    """The share of a clock's time used so far (from its 80% mark back to its start)."""
    due, warn = getattr(order, f"due_{name}"), getattr(order, f"warn_{name}")
    length = (due - warn) * 5  # the 80% mark sits a fifth of the clock's length before the deadline
    start = due - length
    used = Decimal((now - start) / length).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return ClockAtRisk(order, name, due, used)


def breaches_between(start: datetime, end: datetime, now: datetime) -> dict[str, int]:
    """Clocks whose deadline fell in [start, end) and was missed, per clock; overdue running clocks count
    even before the sweep marks them."""
    counts = {}
    for name in CLOCK_NAMES:
        due, state = getattr(WorkOrder, f"due_{name}"), getattr(WorkOrder, f"state_{name}")
        overdue = (state == "running") & (due <= now) & (WorkOrder.status != "paused") \
            & WorkOrder.status.in_(OPEN_STATUSES)
        statement = select(func.count()).select_from(WorkOrder).where(
            due >= start, due < end, or_(state == "breached", overdue)
        )
        counts[name] = db.session.scalar(_scoped_orders(statement))
    return counts


@dataclass(frozen=True)
class Month:
    """A calendar month in the deployment's time zone, as UTC instants [start, end)."""

    label: str
    start: datetime
    end: datetime


def months_until(now: datetime, zone: str, count: int) -> list[Month]:
    """The ``count`` calendar months ending with the one ``now`` falls in (local zone), oldest first."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    year, month = local.year, local.month
    firsts = []
    for _step in range(count + 1):
        firsts.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    firsts.reverse()
    starts = [datetime(y, m, 1, tzinfo=tz).astimezone(UTC) for y, m in firsts[1:]]
    ends = [*starts[1:], _next_month(firsts[-1], tz)]
    return [Month(f"{y:04d}-{m:02d}", start, end)
            for (y, m), start, end in zip(firsts[1:], starts, ends, strict=True)]


def _next_month(year_month: tuple[int, int], tz: ZoneInfo) -> datetime:
    year, month = year_month
    year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Mttr:
    """Mean time to repair of one severity in one month: how many orders and their total repair seconds."""

    count: int = 0
    total_seconds: int = 0

    @property
    def mean_seconds(self) -> Decimal | None:
        """The exact mean in seconds (None without repaired orders)."""
        return Decimal(self.total_seconds) / self.count if self.count else None

    @property
    def mean_hours(self) -> Decimal | None:
        """The mean in hours, to two decimals."""
        mean = self.mean_seconds
        return None if mean is None else (mean / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass
class MttrTable:
    """MTTR per (standard, severity) per month."""

    months: list[Month]
    cells: dict[tuple[str, str, int], Mttr] = field(default_factory=dict)

    def cell(self, standard: str, severity: str, month_index: int) -> Mttr:
        """The figure of one severity in one month (zero orders when none were repaired)."""
        return self.cells.get((standard, severity, month_index), Mttr())

    def series(self, standard: str, severity: str) -> list[tuple[str, Decimal | None, int]]:
        """(month, mean hours, orders) of one severity, oldest month first (for a chart)."""
        found = []
        for index, month in enumerate(self.months):
            cell = self.cell(standard, severity, index)
            found.append((month.label, cell.mean_hours, cell.count))
        return found


def mttr_by_month(months: list[Month]) -> MttrTable:
    """Mean time to repair of the orders resolved in each month, per standard and severity (PK-5.2)."""
    bucket = case(*[(WorkOrder.resolved_at < month.end, index) for index, month in enumerate(months)])
    inner = _scoped_orders(
        select(WorkOrder.standard, WorkOrder.severity, bucket.label("month"), WorkOrder.repair_seconds)
        .where(WorkOrder.resolved_at >= months[0].start, WorkOrder.resolved_at < months[-1].end,
               WorkOrder.repair_seconds.is_not(None), WorkOrder.severity.is_not(None))
    ).subquery()
    keys = (inner.c.standard, inner.c.severity, inner.c.month)
    statement = select(*keys, func.count(), func.sum(inner.c.repair_seconds)).group_by(*keys)
    table = MttrTable(months)
    for standard, severity, month, number, total in db.session.execute(statement):
        table.cells[(standard, severity, int(month))] = Mttr(number, int(total))
    return table


def month_of(now: datetime, zone: str) -> Month:
    """The calendar month ``now`` falls in."""
    return months_until(now, zone, 1)[0]
