"""Notifications: sent once by e-mail to a real local SMTP server and through the SMS hook, in the
recipient's language, with retries recorded."""

from __future__ import annotations

import email
import socket
import threading
import time
from datetime import timedelta
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.hookspecs import hookimpl
from portal.jobs import enqueue
from portal.notify.services import MAX_ATTEMPTS, STALE_AFTER, claim, dispatch, mark_failed
from portal.plugins import registry
from portal.sla.sweep import sweep
from portal.types import utcnow
from portal.workorders.models import Notification, WorkOrder
from portal.workorders.services import NewOrder, apply_step, create_order

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
BASE_URL = "https://portal.example.org"
MAIL_FROM = "O&M Portal <portal@example.org>"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpRecorder:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(envelope)
            self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 30.0) -> list:
        """The messages, once at least ``count`` arrived (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, the SMTP server received {len(self.messages)}")


class SmtpServer:
    """A real SMTP server on a free local port."""

    def __init__(self):
        self.handler = SmtpRecorder()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        return self.handler.messages

    def settings(self) -> dict:
        return {"PORTAL_SMTP_HOST": "127.0.0.1", "PORTAL_SMTP_PORT": str(self.port),
                "PORTAL_MAIL_FROM": MAIL_FROM, "PORTAL_BASE_URL": BASE_URL}


@pytest.fixture
def smtp():
    """A local SMTP server recording what the portal sends."""
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def mail_app(app, smtp):
    """The test app sending its mail to the local server."""
    app.config.update(smtp.settings())
    return app


class SmsGateway:
    """A deployment's SMS gateway, as a plugin: records what it is asked to send."""

    def __init__(self, fail: bool = False):
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    @hookimpl
    def portal_send_sms(self, phone, message):
        if self.fail:
            raise ConnectionError("gateway down")
        self.sent.append((phone, message))
        return f"sms-{len(self.sent)}"


def log_overdue_order(app, world, ago=HOUR, assignee=None) -> WorkOrder:
    """A police urgent order the desk logged ``ago`` (its response clock is overdue after 30 minutes)."""
    with app.test_request_context():
        order = create_order(NewOrder(organisation=world.police, summary="Printer jammed",
                                      device=world.police_device, severity="urgent",
                                      reported_at=utcnow() - ago), world.clerk)
        if assignee is not None:
            apply_step(order, "assign", world.clerk, at=order.reported_at, assignee=assignee)
        db.session.commit()
        return order


def contact(user, locale=None, phone="") -> None:
    user.email = f"{user.username}@example.org"
    user.locale = locale
    user.phone = phone
    db.session.commit()


def rows() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def test_breach_email_reaches_the_requester_with_order_clock_due_time_and_link(mail_app, world, smtp):
    contact(world.requester, locale="en")
    order = log_overdue_order(mail_app, world)
    sweep()
    result = dispatch()
    assert (result.claimed, result.sent) == (1, 1)
    [message] = smtp.handler.wait_for(1)
    assert message["To"] == "requester <requester@example.org>"
    assert message["From"] == MAIL_FROM
    assert message["Subject"] == f"Deadline missed: response of work order {order.number}"
    body = message.get_content()
    local_due = order.due_response.astimezone(ZoneInfo(mail_app.config["PORTAL_TIMEZONE"]))
    assert local_due.strftime("%Y-%m-%d %H:%M") in body
    assert mail_app.config["PORTAL_TIMEZONE"] in body
    assert f"{BASE_URL}/" in body and order.number in body
    assert world.police.name in body and world.police_device.code in body
    [row] = rows()
    assert (row.status, row.attempts, row.error) == ("sent", 1, "")
    assert row.sent_at is not None
    assert message["X-Portal-Notification"] == str(row.id)


def test_each_recipient_reads_the_message_in_their_own_language(mail_app, world, smtp):
    contact(world.requester, locale="en")
    contact(world.clerk, locale="zh_CN")
    order = log_overdue_order(mail_app, world)
    sweep()
    dispatch()
    messages = {message["To"].addresses[0].username: message for message in smtp.handler.wait_for(2)}
    assert messages["requester"]["Subject"] == f"Deadline missed: response of work order {order.number}"
    with mail_app.test_request_context():
        from flask_babel import force_locale, gettext

        with force_locale("zh_CN"):
            expected = gettext("Deadline missed: %(clock)s of work order %(number)s",
                               clock=gettext("response"), number=order.number)
    assert messages["clerk"]["Subject"] == expected


def test_warning_email_goes_to_the_assignee(mail_app, world, smtp):
    contact(world.engineer, locale="en")
    contact(world.requester, locale="en")
    order = log_overdue_order(mail_app, world, ago=25 * MINUTE, assignee=world.engineer)
    sweep()
    dispatch()
    [message] = smtp.handler.wait_for(1)
    assert message["To"].addresses[0].username == "engineer"
    assert message["Subject"].startswith(f"Deadline near: response of work order {order.number}")


def test_a_second_dispatch_sends_nothing(mail_app, world, smtp):
    contact(world.requester)
    contact(world.clerk)
    log_overdue_order(mail_app, world)
    sweep()
    assert dispatch().sent == 2
    assert dispatch().claimed == 0
    sweep()
    assert dispatch().claimed == 0
    time.sleep(0.2)
    assert len(smtp.messages) == 2


def test_concurrent_dispatches_never_send_a_row_twice(mail_app, world, smtp):
    contact(world.requester)
    contact(world.clerk)
    contact(world.engineer)
    for _ in range(6):
        log_overdue_order(mail_app, world, assignee=world.engineer)
    assert sweep().breach_notifications == 18
    results, errors = [], []

    def worker():
        try:
            with mail_app.app_context():
                results.append(dispatch(limit=5))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    while dispatch(limit=5).claimed:
        pass
    assert errors == []
    messages = smtp.handler.wait_for(18)
    time.sleep(0.2)
    ids = [message["X-Portal-Notification"] for message in smtp.messages]
    assert len(ids) == len(set(ids)) == 18 == len(messages)
    assert {row.status for row in rows()} == {"sent"}
    assert {row.attempts for row in rows()} == {1}


def test_an_unreachable_mail_server_is_retried_then_given_up(app, world):
    app.config.update(PORTAL_SMTP_HOST="127.0.0.1", PORTAL_SMTP_PORT=str(free_port()))
    contact(world.requester)
    log_overdue_order(app, world)
    sweep()
    first = dispatch()
    assert (first.claimed, first.sent, first.retrying) == (1, 0, 1)
    [row] = rows()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in row.error
    dispatch()
    last = dispatch()
    assert last.failed == 1
    [row] = rows()
    assert (row.status, row.attempts) == ("failed", 3)
    assert dispatch().claimed == 0


def test_a_refused_recipient_is_recorded_and_the_rest_are_sent(mail_app, world, smtp):
    async def refuse_requester(server, session, envelope, address, rcpt_options):
        if address.startswith("requester@"):
            return "550 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handler.handle_RCPT = refuse_requester
    contact(world.requester)
    contact(world.clerk)
    log_overdue_order(mail_app, world)
    sweep()
    result = dispatch()
    assert (result.sent, result.retrying) == (1, 1)
    by_user = {row.recipient.username: row for row in rows()}
    assert by_user["clerk"].status == "sent"
    assert by_user["requester"].status == "pending" and "550" in by_user["requester"].error


def test_sms_goes_through_the_plugin_hook(mail_app, world, smtp):
    gateway = SmsGateway()
    registry().pm.register(gateway, name="test-sms-gateway")
    contact(world.requester, locale="en", phone="13900000001")
    order = log_overdue_order(mail_app, world)
    sweep()
    result = dispatch()
    assert (result.claimed, result.sent) == (2, 2)
    [(phone, text)] = gateway.sent
    assert phone == "13900000001"
    assert order.number in text and BASE_URL in text
    assert len(smtp.handler.wait_for(1)) == 1
    assert {(row.channel, row.status) for row in rows()} == {("email", "sent"), ("sms", "sent")}
    assert dispatch().claimed == 0
    assert len(gateway.sent) == 1


def test_sms_failures_are_recorded(mail_app, world, smtp):
    gateway = SmsGateway(fail=True)
    registry().pm.register(gateway, name="test-sms-gateway")
    contact(world.requester, phone="13900000001")
    log_overdue_order(mail_app, world)
    sweep()
    dispatch()
    sms = [row for row in rows() if row.channel == "sms"]
    assert [(row.status, row.attempts) for row in sms] == [("pending", 1)]
    assert "gateway down" in sms[0].error
    registry().pm.unregister(gateway)
    dispatch()
    dispatch()
    [row] = [row for row in rows() if row.channel == "sms"]
    assert row.status == "failed" and "no SMS gateway" in row.error


def test_the_sweep_job_sends_its_notifications_when_jobs_run_eagerly(mail_app, world, smtp):
    mail_app.config["PORTAL_JOBS_EAGER"] = True
    contact(world.requester)
    log_overdue_order(mail_app, world)
    outcome = enqueue("sla.sweep").result(timeout=30)
    assert (outcome["breaches"], outcome["notifications"]) == (1, 1)
    assert len(smtp.handler.wait_for(1)) == 1
    assert [row.status for row in rows()] == ["sent"]


def stuck(row: Notification, ago: timedelta, attempts: int = 1) -> None:
    """Leave a row as a worker that died while sending it would: claimed ``ago``, never marked."""
    row.status, row.attempts, row.claimed_at = "sending", attempts, utcnow() - ago
    db.session.commit()


def test_a_row_stuck_in_sending_by_a_dead_worker_is_sent_by_a_later_dispatch(mail_app, world, smtp):
    contact(world.requester)
    log_overdue_order(mail_app, world)
    sweep()
    [row] = rows()
    stuck(row, ago=STALE_AFTER + MINUTE)
    outcome = dispatch()
    assert (outcome.claimed, outcome.sent) == (1, 1)
    assert len(smtp.handler.wait_for(1)) == 1
    [row] = rows()
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_row_another_worker_is_still_sending_is_left_alone(mail_app, world, smtp):
    contact(world.requester)
    log_overdue_order(mail_app, world)
    sweep()
    [row] = rows()
    stuck(row, ago=STALE_AFTER - MINUTE)
    assert dispatch().claimed == 0
    [row] = rows()
    assert (row.status, row.attempts) == ("sending", 1)
    time.sleep(0.2)
    assert smtp.messages == []


def test_a_stuck_row_out_of_attempts_is_failed_with_the_reason(mail_app, world, smtp):
    contact(world.requester)
    log_overdue_order(mail_app, world)
    sweep()
    [row] = rows()
    stuck(row, ago=STALE_AFTER + MINUTE, attempts=MAX_ATTEMPTS)
    assert dispatch().claimed == 0
    [row] = rows()
    assert row.status == "failed" and "stopped before it finished" in row.error


def test_a_late_worker_cannot_undo_the_claim_of_the_worker_that_took_its_row_over(mail_app, world, smtp):
    """The dead worker's failure, reported late, leaves the row to the worker that claimed it since."""
    contact(world.requester)
    log_overdue_order(mail_app, world)
    sweep()
    [row] = rows()
    late_claim = utcnow() - STALE_AFTER - MINUTE
    stuck(row, ago=STALE_AFTER + MINUTE)
    with Session(db.engine) as session:
        assert claim(session, utcnow()) == [row.id]
        assert mark_failed(session, row.id, late_claim, OSError("too late")) == "pending"
    [row] = rows()
    assert (row.status, row.error) == ("sending", "the worker sending it stopped before it finished "
                                                  f"(no answer for {STALE_AFTER})")
