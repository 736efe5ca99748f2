"""Each role's access, as a table of routes × roles: every GET route of the app must be classified here.

Columns: anonymous, admin, clerk (provider A: police + campus), engineer (provider A), requester (police),
auditor (police). 302 for anonymous is the redirect to the sign-in page; 404 is another organisation's
record (answered as if it did not exist) or a record that does not exist. A new GET route fails
``test_every_get_route_is_classified`` until it has a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import url_for
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.plugins import registry
from tests import factories
from tests.test_admin import log_order

ROLES = ("anonymous", "admin", "clerk", "engineer", "requester", "auditor")
MISSING = 999_999


@dataclass(frozen=True)
class Case:
    """One row of the table: an endpoint, its URL arguments built from the world, the status per role."""

    endpoint: str
    statuses: str
    args: Callable[..., dict] = lambda world: {}

    def expected(self, role: str) -> int:
        return int(self.statuses.split()[ROLES.index(role)])


def police_form(world) -> dict:
    """The first form the police-kiosk plugin declares."""
    plugin, form_id = next(key for key in sorted(registry().forms) if key[0] == "police_kiosk")
    return {"plugin": plugin, "form_id": form_id}


def audit_event_of(organisation) -> int:
    """An audit event about one organisation's records."""
    return db.session.scalar(select(AuditEvent.id).where(AuditEvent.organisation_id == organisation.id)
                             .order_by(AuditEvent.id).limit(1))


def record(name: str, attribute: str) -> Callable[..., dict]:
    """URL arguments {name: id of world.<attribute>}."""
    return lambda world: {name: getattr(world, attribute).id}


def order(organisation: str) -> Callable[..., dict]:
    """URL arguments {number: the number of the work order logged for that organisation}."""
    return lambda world: {"number": world.orders[organisation]}


def fixed(**values) -> Callable[..., dict]:
    """URL arguments that do not depend on the world."""
    return lambda world: values


ADMIN_ONLY = "302 200 403 403 403 403"
SIGNED_IN = "302 200 200 200 200 200"
DEVICE_EDITORS = "302 200 200 403 403 403"
AUDITORS = "302 200 403 403 403 200"
ORDER_LOGGERS = "302 200 200 403 200 403"

CASES = (
    #    endpoint                          anon adm clerk eng req aud   URL arguments
    Case("core.home",                      SIGNED_IN),
    Case("core.health",                    "200 200 200 200 200 200"),
    Case("auth.login",                     "200 302 302 302 302 302"),
    Case("auth.set_language",              "302 302 302 302 302 302", fixed(locale="en")),
    # Administration: the admin only.
    Case("admin.index",                    ADMIN_ONLY),
    Case("admin.plugins",                  ADMIN_ONLY),
    Case("admin.organisations",            ADMIN_ONLY),
    Case("admin.organisations_new",        ADMIN_ONLY),
    Case("admin.organisations_edit",       ADMIN_ONLY, record("record_id", "other")),
    Case("admin.organisations_edit",       "302 404 403 403 403 403", fixed(record_id=MISSING)),
    Case("admin.providers",                ADMIN_ONLY),
    Case("admin.providers_new",            ADMIN_ONLY),
    Case("admin.providers_edit",           ADMIN_ONLY, record("record_id", "prov_b")),
    Case("admin.contracts",                ADMIN_ONLY),
    Case("admin.contracts_new",            ADMIN_ONLY),
    Case("admin.contracts_edit",           ADMIN_ONLY, lambda w: {"record_id": w.police.contracts[0].id}),
    Case("admin.service_points",           ADMIN_ONLY),
    Case("admin.service_points_new",       ADMIN_ONLY),
    Case("admin.service_points_edit",      ADMIN_ONLY, record("record_id", "point")),
    Case("admin.users",                    ADMIN_ONLY),
    Case("admin.users_new",                ADMIN_ONLY),
    Case("admin.users_edit",               ADMIN_ONLY, record("record_id", "clerk")),
    # Device archive: everyone signed in sees their organisations' devices; clerks and admins edit.
    Case("devices.index",                  SIGNED_IN),
    Case("devices.labels",                 SIGNED_IN),
    Case("devices.detail",                 SIGNED_IN, record("device_id", "police_device")),
    Case("devices.detail",                 "302 200 200 200 404 404", record("device_id", "campus_device")),
    Case("devices.detail",                 "302 200 404 404 404 404", record("device_id", "other_device")),
    Case("devices.qr",                     SIGNED_IN, record("device_id", "police_device")),
    Case("devices.qr",                     "302 200 404 404 404 404", record("device_id", "other_device")),
    Case("devices.create",                 DEVICE_EDITORS),
    Case("devices.edit",                   DEVICE_EDITORS, record("device_id", "campus_device")),
    Case("devices.edit",                   "302 200 404 403 403 403", record("device_id", "other_device")),
    Case("devices.form_fields",            DEVICE_EDITORS),
    Case("devices.import_devices",         DEVICE_EDITORS),
    Case("devices.import_status",          "302 404 404 403 403 403", fixed(job_id=MISSING)),
    Case("devices.import_template",        DEVICE_EDITORS, fixed(fmt="csv")),
    Case("devices.import_template",        DEVICE_EDITORS, fixed(fmt="xlsx")),
    # The public fault-report page behind each device's QR code: no sign-in.
    Case("public.report",                  "200 200 200 200 200 200", fixed(code="PK-0001")),
    Case("public.report",                  "404 404 404 404 404 404", fixed(code="NO-SUCH-DEVICE")),
    Case("public.thanks",                  "200 200 200 200 200 200", fixed(code="CC-0001")),
    # Plugin forms: everyone signed in reads them; auditors only review, they do not fill in.
    Case("forms.index",                    SIGNED_IN),
    Case("forms.fill",                     "302 200 200 200 200 403", police_form),
    Case("forms.fill",                     "302 404 404 404 404 404", fixed(plugin="nope", form_id="x")),
    Case("forms.submissions",              SIGNED_IN, police_form),
    Case("forms.submission",               "302 404 404 404 404 404",
         lambda world: {**police_form(world), "submission_id": MISSING}),
    # Work orders: everyone signed in sees their organisations' orders; the desk, admins and requesters log.
    Case("workorders.queue",               SIGNED_IN),
    Case("workorders.mine",                SIGNED_IN),
    Case("workorders.dashboard",           SIGNED_IN),
    Case("workorders.new",                 ORDER_LOGGERS),
    Case("workorders.device_lookup",       ORDER_LOGGERS, fixed(q="PK")),
    Case("workorders.classify",            ORDER_LOGGERS),
    Case("workorders.detail",              SIGNED_IN, order("police")),
    Case("workorders.detail",              "302 200 200 200 404 404", order("campus")),
    Case("workorders.detail",              "302 200 404 404 404 404", order("other")),
    Case("workorders.detail",              "302 404 404 404 404 404", fixed(number="WO-NO-SUCH")),
    # Personal API tokens: every role that may use the API (auditors only read in the browser).
    Case("tokens.index",                   "302 200 200 200 200 403"),
    # The JSON API ignores the sign-in session (it is exempt from CSRF): without a bearer token, 401 for all.
    Case("api.openapi",                    "200 200 200 200 200 200"),
    Case("api.list_work_orders",           "401 401 401 401 401 401"),
    Case("api.get_work_order",             "401 401 401 401 401 401", fixed(number="WO-0001")),
    Case("api.get_device",                 "401 401 401 401 401 401", fixed(code="PK-0001")),
    # The audit trail: admins and auditors, each within their organisations.
    Case("audit.index",                    AUDITORS),
    Case("audit.event",                    AUDITORS, lambda w: {"event_id": audit_event_of(w.police)}),
    Case("audit.event",                    "302 200 403 403 403 404",
         lambda world: {"event_id": audit_event_of(world.other)}),
)


def get_routes(app) -> set[str]:
    """Every endpoint answering GET, except static files."""
    rules = app.url_map.iter_rules()
    return {rule.endpoint for rule in rules if "GET" in rule.methods and rule.endpoint != "static"}


def test_every_get_route_is_classified(app):
    listed = {case.endpoint for case in CASES}
    routes = get_routes(app)
    assert sorted(routes - listed) == [], "add these GET routes to the access table"
    assert sorted(listed - routes) == [], "these endpoints no longer exist"


@pytest.fixture
def portal(app_factory, world):
    """The portal with each request in its own app context (nothing cached in ``g`` across requests), and
    one work order in each organisation."""
    world.orders = {"police": log_order(world.police, world.clerk),
                    "campus": log_order(world.campus, world.clerk),
                    "other": log_order(world.other, world.other_clerk)}
    return app_factory()


def sign_in(client, username: str):
    return client.post("/login", data={"username": username, "password": factories.PASSWORD})


@pytest.mark.parametrize("role", ROLES)
def test_access_table(portal, world, role):
    client = portal.test_client()
    if role != "anonymous":
        assert sign_in(client, role).status_code == 302
    wrong = []
    for case in CASES:
        with portal.test_request_context():
            url = url_for(case.endpoint, **case.args(world))
        status = client.get(url).status_code
        if status != case.expected(role):
            wrong.append(f"{case.endpoint} {url}: {status}, expected {case.expected(role)}")
    assert wrong == []


def test_non_admins_are_refused_every_admin_url_and_method(portal, world):
    """Every admin URL, for every method it accepts (GET, POST), refuses each non-admin role."""
    urls = []
    for rule in portal.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            arguments = {"record_id": world.police.id} if "record_id" in rule.arguments else {}
            with portal.test_request_context():
                url = url_for(rule.endpoint, **arguments)
            urls += [(method, url) for method in sorted(rule.methods & {"GET", "POST"})]
    for role in ("clerk", "engineer", "requester", "auditor"):
        client = portal.test_client()
        sign_in(client, role)
        refused = {(method, url): client.open(url, method=method).status_code for method, url in urls}
        assert set(refused.values()) == {403}, (role, refused)
    anonymous = portal.test_client()
    assert {anonymous.open(url, method=method).status_code for method, url in urls} == {302}
    assert db.session.get(type(world.police), world.police.id) is not None
