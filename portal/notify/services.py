"""Sending the notifications the sweep queues (job ``notify.dispatch``).

A dispatch claims pending rows in one atomic ``UPDATE … SET status = 'sending' WHERE status = 'pending' …
RETURNING id`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never send the same row and a job
delivered twice sends nothing the second time. Each claimed row is written in the recipient's language
(subject, body and SMS text from ``templates/notify/<kind>.txt``) and sent by e-mail (SMTP) or through the
``portal_send_sms`` hook, then marked ``sent``, or put back to ``pending`` with its error until it has
failed ``MAX_ATTEMPTS`` times, when it stays ``failed``.

A row left in ``sending`` for ``STALE_AFTER`` by a worker that died while sending is put back (``pending``,
or ``failed`` when out of attempts) by the next dispatch. Its recipient may then read it twice, since a lost
worker cannot tell whether it had sent it, which is better than never. A late failure from that worker
leaves the row alone; a late success marks it sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import lazy_gettext as _l
from jinja2_fragments import render_block
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.routing import BuildError

from portal.extensions import db
from portal.jobs import job
from portal.notify.mail import MailSettings, Outbox, build_message
from portal.plugins import registry
from portal.types import utcnow
from portal.workorders.models import STATUSES, Notification, WorkOrder

MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=15)  # far longer than a batch takes to send
BATCH_SIZE = 200
ERROR_LENGTH = 1000
ORDER_ENDPOINT = "workorders.detail"
CLOCK_LABELS = {
    "response": _l("response"),
    "arrival": _l("arrival on site"),
    "repair": _l("repair"),
    "factory": _l("return from the factory"),
}

notifications = Notification.__table__


class NotSent(Exception):
    """A notification that could not be sent (no gateway, no address); the message says why."""


@dataclass(frozen=True)
class Message:
    """What one recipient reads: e-mail subject and body, and the SMS text."""

    subject: str
    body: str
    sms: str


@dataclass(frozen=True)
class DispatchResult:
    """What one dispatch did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


# --------------------------------------------------------------------------------------------------------
# Claiming and marking rows
# --------------------------------------------------------------------------------------------------------


def retry_or_fail():
    """The status a row goes back to: pending for another try, or failed once it has had MAX_ATTEMPTS."""
    return case((notifications.c.attempts >= MAX_ATTEMPTS, "failed"), else_="pending")


def reclaim_stale(session: Session, now: datetime) -> None:
    """Put back the rows a worker claimed more than STALE_AFTER ago and never marked: pending again, or
    failed when they have had every attempt (rows claimed before claims were timed count as stale)."""
    claimed = notifications.c.claimed_at
    status = retry_or_fail()
    reason = f"the worker sending it stopped before it finished (no answer for {STALE_AFTER})"
    session.execute(
        update(notifications)
        .where(notifications.c.status == "sending", or_(claimed.is_(None), claimed < now - STALE_AFTER))
        .values(status=status, error=reason)
    )


def claim(session: Session, now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Atomically take up to ``limit`` pending notifications for this worker, stamped claimed at ``now``;
    their ids, oldest first. Stale claims are put back first.

    Two statements in one transaction: lock the ids (SKIP LOCKED on PostgreSQL, so two workers never take
    the same row), then mark exactly those rows. A single UPDATE … WHERE id IN (subquery … LIMIT … FOR UPDATE)
    lets PostgreSQL re-run the subquery per row when statistics are stale (minutes after a large sweep).
    The ``status = 'pending'`` guard keeps SQLite's serialised writers from taking a row twice."""
    reclaim_stale(session, now)
    pending = (
        select(notifications.c.id)
        .where(notifications.c.status == "pending")
        .order_by(notifications.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    candidates = list(session.execute(pending).scalars())
    if not candidates:
        session.commit()
        return []
    statement = (
        update(notifications)
        .where(notifications.c.status == "pending", notifications.c.id.in_(candidates))
        .values(status="sending", attempts=notifications.c.attempts + 1, claimed_at=now)
        .returning(notifications.c.id)
    )
    ids = sorted(session.execute(statement).scalars())
    session.commit()
    return ids


def still_ours(notification_id: int, claimed_at: datetime):
    """The row is still in the claim this worker made (not put back and claimed by another since)."""
    return (notifications.c.id == notification_id, notifications.c.status == "sending",
            notifications.c.claimed_at == claimed_at)


def mark_sent(session: Session, notification_id: int, now: datetime) -> None:
    """The row was sent (even when a late worker says so after its claim was put back: then it is not sent
    again, unless another worker has already taken it)."""
    session.execute(update(notifications)
                    .where(notifications.c.id == notification_id, notifications.c.status != "sent")
                    .values(status="sent", sent_at=now, error=""))
    session.commit()


def mark_failed(session: Session, notification_id: int, claimed_at: datetime, error: Exception) -> str:
    """The send failed: back to pending for another try, or failed for good after MAX_ATTEMPTS; the row's
    status afterwards."""
    status = retry_or_fail()
    reason = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
    row = session.execute(
        update(notifications)
        .where(*still_ours(notification_id, claimed_at))
        .values(status=status, error=reason)
        .returning(notifications.c.status)
    ).scalar_one_or_none()
    session.commit()
    return row or "pending"  # put back and perhaps claimed by another worker since: not this one's to count


# --------------------------------------------------------------------------------------------------------
# Writing the message
# --------------------------------------------------------------------------------------------------------


def order_url(order: WorkOrder) -> str:
    """The order's page, absolute with PORTAL_BASE_URL (built outside any request)."""
    adapter = current_app.url_map.bind("localhost")
    try:
        path = adapter.build(ORDER_ENDPOINT, {"number": order.number})
    except BuildError:
        path = f"/orders/{order.number}"  # the desk blueprint's URL, for apps built without it
    return f"{current_app.config.get('PORTAL_BASE_URL', '')}{path}"


def severity_label(order: WorkOrder) -> str:
    """The severity as the governing standard names it (its id when the standard is not enabled)."""
    standard = registry().standard(order.standard)
    if standard is None or not order.severity:
        return order.severity or ""
    return str(standard.severity(order.severity).label)


def message_context(notification: Notification) -> dict:
    """What the templates show: the order, the clock, its deadline in the deployment's time zone, the URL."""
    order = notification.work_order
    due = getattr(order, f"due_{notification.clock}")
    return {
        "recipient": notification.recipient.name,
        "number": order.number,
        "clock": str(CLOCK_LABELS[notification.clock]),
        "due": format_datetime(due, "yyyy-MM-dd HH:mm") if due else "",
        "zone": current_app.config.get("PORTAL_TIMEZONE", "UTC"),
        "summary": order.summary,
        "organisation": order.organisation.name,
        "device": order.device.code if order.device else "",
        "severity": severity_label(order),
        "status": str(STATUSES.get(order.status, order.status)),
        "url": order_url(order),
    }


def recipient_locale(notification: Notification) -> str:
    """The recipient's saved language, else the deployment's default."""
    supported = current_app.config.get("PORTAL_LOCALES", [])
    locale = notification.recipient.locale
    return locale if locale in supported else current_app.config["BABEL_DEFAULT_LOCALE"]


def compose(notification: Notification) -> Message:
    """The message in the recipient's language."""
    template = f"notify/{notification.kind}.txt"
    environment = current_app.jinja_env
    with force_locale(recipient_locale(notification)):
        context = message_context(notification)
        parts = {block: render_block(environment, template, block, **context).strip()
                 for block in ("subject", "body", "sms")}
    return Message(" ".join(parts["subject"].split()), parts["body"] + "\n", " ".join(parts["sms"].split()))


# --------------------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------------------


def send_email(notification: Notification, message: Message, outbox: Outbox) -> None:
    """Send the e-mail; raises on failure."""
    recipient = notification.recipient
    if not recipient.email:
        raise NotSent("the recipient has no e-mail address")
    headers = {"X-Portal-Notification": str(notification.id),
               "X-Portal-Work-Order": notification.work_order.number}
    outbox.send(build_message(outbox.settings, recipient.name, recipient.email, message.subject,
                              message.body, headers))


def send_sms(notification: Notification, message: Message) -> None:
    """Hand the SMS to the plugin implementing ``portal_send_sms``; raises when none sends it."""
    phone = notification.recipient.phone
    if not phone:
        raise NotSent("the recipient has no phone number")
    reference = registry().hook.portal_send_sms(phone=phone, message=message.sms)
    if reference is None:
        raise NotSent("no SMS gateway accepted the message (no plugin implements portal_send_sms)")


def deliver(notification: Notification, outbox: Outbox) -> None:
    """Send one notification by its channel; raises on failure."""
    message = compose(notification)
    if notification.channel == "sms":
        send_sms(notification, message)
    else:
        send_email(notification, message, outbox)


def load(session: Session, ids: list[int]) -> list[Notification]:
    """The claimed notifications with their order and recipient."""
    statement = (
        select(Notification)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
        .options(joinedload(Notification.recipient),
                 joinedload(Notification.work_order).joinedload(WorkOrder.organisation),
                 joinedload(Notification.work_order).joinedload(WorkOrder.device))
    )
    return list(session.scalars(statement))


def dispatch(limit: int = BATCH_SIZE) -> DispatchResult:
    """Claim pending notifications and send them; safe to run twice at once or twice in a row."""
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    claimed_at = utcnow()
    with Session(db.engine, expire_on_commit=False) as session:
        ids = claim(session, claimed_at, limit)
        if not ids:
            return DispatchResult()
        with Outbox(MailSettings.from_app(current_app)) as outbox:
            for notification in load(session, ids):
                outcome = send_one(session, notification, claimed_at, outbox)
                counts[outcome] += 1
    return DispatchResult(claimed=len(ids), **counts)


def send_one(session: Session, notification: Notification, claimed_at: datetime, outbox: Outbox) -> str:
    """Send and mark one claimed notification: ``sent``, ``retrying`` or ``failed``."""
    notification_id = notification.id
    try:
        deliver(notification, outbox)
    except Exception as error:  # SMTP, network or a plugin's gateway: record it and carry on with the rest
        status = mark_failed(session, notification_id, claimed_at, error)
        return "failed" if status == "failed" else "retrying"
    mark_sent(session, notification_id, utcnow())
    return "sent"


@job("notify.dispatch")
def dispatch_job() -> dict:
    """The periodic job: send what is pending."""
    return asdict(dispatch())
