"""The police kiosk plugin: its identity, severity table (PK-5.1, PK-5.2), form (PK-7.5), menu and panels."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import session
from flask_babel.speaklater import LazyString
from flask_login import login_user

import plugins.police_kiosk as plugin
from plugins.police_kiosk.formspecs import PROBLEM_FEEDBACK
from plugins.police_kiosk.tables import FAR_DISTANCE_KM, STANDARD
from portal.forms import builder
from portal.forms.models import FormSubmission
from portal.plugins import run_hook
from portal.types import utcnow
from tests import factories

FORM = "/forms/police_kiosk/problem_feedback"


@pytest.fixture
def english(app):
    """A request in English, so panel labels can be asserted."""
    with app.test_request_context():
        session["locale"] = "en"
        yield


def panel(user, organisation_ids, panel_id):
    """One of the plugin's home-page panels as ``{label: value}``, or None when not offered."""
    for built in run_hook("portal_dashboard_panels", user=user, organisation_ids=organisation_ids):
        if built.id == panel_id:
            return dict(built.rows)
    return None


# --- identity and table -----------------------------------------------------------------------------------


def test_identity():
    info = plugin.portal_plugin_info()
    assert (info.name, info.version) == ("police_kiosk", "1.0.0")
    assert isinstance(info.title, LazyString) and isinstance(info.description, LazyString)


def test_standard_identity_and_clock_basis():
    [standard] = plugin.portal_standards()
    assert standard is STANDARD
    assert (standard.id, standard.code) == ("police_kiosk", "DB12/T 1060—2021")
    assert standard.clock_basis == "accepted"
    assert standard.response_met_by == "respond" and standard.follow_up_required
    standard.validate()


def test_severity_table_is_table_2_with_table_1_targets():
    table = [(row.id, row.term, row.rank, row.response_hours, row.arrival_hours, row.repair_hours)
             for row in STANDARD.severities]
    half, two = Decimal("0.5"), Decimal("2")
    assert table == [
        ("urgent", "紧急", 1, half, two, Decimal("2")),
        ("medium", "中等", 2, half, two, Decimal("4")),
        ("minor", "一般", 3, half, two, Decimal("8")),
    ]
    assert all(str(row.description) and row.clause == "PK-5.2" for row in STANDARD.severities)


def test_the_100_km_threshold_is_table_data():
    assert Decimal("100") == FAR_DISTANCE_KM == STANDARD.far_distance_km


def test_device_kinds():
    assert {"自助办证机", "自助签注机", "自助缴款机", "自助拍照机", "出入境自助终端", "交管自助终端"} <= set(
        STANDARD.device_kinds)


def test_severity_is_left_to_a_person():
    assert not hasattr(plugin, "portal_classify_severity")
    assert STANDARD.manual_severity


# --- the problem-feedback form (PK-7.5) -------------------------------------------------------------------


def test_problem_feedback_spec():
    fields = {field.name: field for field in PROBLEM_FEEDBACK.fields}
    assert list(fields) == ["feedback_type", "urgency", "description", "device", "reporter_name",
                            "reporter_contact", "channel"]
    assert [value for value, _label in fields["feedback_type"].choices] == ["service", "business", "fault"]
    assert [value for value, _label in fields["urgency"].choices] == ["urgent", "medium", "minor"]
    assert {"phone", "web", "email", "qr", "sms", "app", "system", "forwarded"} == {
        value for value, _label in fields["channel"].choices}
    assert fields["device"].type == "device" and not fields["device"].required
    assert "PK-7.5" in PROBLEM_FEEDBACK.clauses
    assert plugin.portal_form_specs() == [PROBLEM_FEEDBACK]
    PROBLEM_FEEDBACK.validate()
    builder.form_class(PROBLEM_FEEDBACK)


def test_a_clerk_records_phone_feedback(client, auth, world, db):
    auth.login("clerk")
    response = client.post(FORM, data={
        "organisation": world.police.id, "feedback_type": "service", "urgency": "minor",
        "description": "回访时反映工程师未提前告知到达时间", "device": "", "reporter_name": "李科长",
        "reporter_contact": "022-23456789", "channel": "phone"})
    assert response.status_code == 302
    [submission] = db.session.query(FormSubmission).all()
    assert submission.data["feedback_type"] == "service" and submission.organisation_id == world.police.id


# --- menu and panels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "offered"),
                         [("requester", True), ("other_clerk", True), ("auditor", False)])
def test_the_menu_links_to_the_form_for_those_who_may_fill_it(app, world, username, offered):
    user = getattr(world, username)
    with app.test_request_context():
        login_user(user)
        items = [item for item in run_hook("portal_menu_items", user=user)
                 if item.values == {"plugin": "police_kiosk", "form_id": "problem_feedback"}]
    assert [item.endpoint for item in items] == (["forms.fill"] if offered else [])


def far_kiosks(world):
    """Kiosks around the 100 km line: exactly 100 (far), just under, a retired one, another bureau's."""
    factories.device("PK-0100", world.police, distance_km=Decimal("100"))
    factories.device("PK-0099", world.police, distance_km=Decimal("99.99"))
    factories.device("PK-0150", world.police, distance_km=Decimal("150"), status="retired")
    factories.device("OT-0200", world.other, distance_km=Decimal("200"))


def test_far_kiosks_panel_counts_kiosks_at_or_beyond_100_km(world, english):
    far_kiosks(world)
    label = "Kiosks 100 km or more from their service point"
    without = "… of them with no on-site deadline in the contract"
    own = panel(world.requester, frozenset({world.police.id}), "police-far-kiosks")
    assert (own[label], own[without]) == ("1", "0"), "the bureau's contract sets a far arrival deadline"
    every = panel(world.admin, None, "police-far-kiosks")
    assert (every[label], every[without]) == ("2", "1"), "the other bureau's contract sets none"


def test_feedback_panel_counts_the_last_30_days_by_type(world, english):
    def feedback(kind, organisation, days_ago):
        data = {"feedback_type": kind, "urgency": "minor", "description": "x"}
        factories.save(FormSubmission(plugin="police_kiosk", form_id="problem_feedback", data=data,
                                      organisation=organisation,
                                      submitted_at=utcnow() - timedelta(days=days_ago)))

    feedback("fault", world.police, 1)
    feedback("fault", world.police, 29)
    feedback("service", world.police, 0)
    feedback("business", world.police, 31)
    feedback("business", world.other, 1)
    rows = panel(world.requester, frozenset({world.police.id}), "police-feedback")
    assert rows["Received in the last 30 days"] == "3"
    assert [value for label, value in rows.items() if label.startswith(("Service", "Business", "Fault"))] == [
        "1", "0", "2"]


def test_no_police_panels_for_a_user_who_sees_no_police_organisation(world, english):
    assert panel(world.clerk, frozenset({world.campus.id}), "police-far-kiosks") is None
    assert panel(world.clerk, frozenset({world.campus.id}), "police-feedback") is None


def test_home_page_shows_the_panels_and_the_menu_link(client, auth, world):
    auth.login("requester")
    html = client.get("/").get_data(as_text=True)
    assert 'id="panel-police-far-kiosks"' in html and 'id="panel-police-feedback"' in html
    assert f'href="{FORM}"' in html
