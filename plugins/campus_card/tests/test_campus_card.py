"""The campus card plugin: identity, severity table (CC-4.2), the CC-2 rule at every boundary, the daily
monitoring check (CC-4.3, CC-4.3r), menu and panel."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import session
from flask_babel.speaklater import LazyString
from flask_login import login_user

import plugins.campus_card as plugin
from plugins.campus_card.formspecs import MONITORING_CHECK, current_slot
from plugins.campus_card.severity import classify
from plugins.campus_card.tables import SEVERITY_RULES, STANDARD, Band, SeverityRules
from portal import create_app
from portal.forms import builder
from portal.forms.models import FormSubmission
from portal.forms.services import local_today, start_of_local_day
from portal.plugins import registry, run_hook
from portal.specs import SpecError
from tests import factories
from tests.fixtures import TEST_SETTINGS

FORM = "/forms/campus_card/monitoring_check"


@pytest.fixture
def english(app):
    """A request in English on the test database, so labels can be asserted."""
    with app.test_request_context():
        session["locale"] = "en"
        yield


@pytest.fixture(scope="module")
def rule_app():
    """An app without a database for the pure rule tests (they need only translations)."""
    return create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.fixture
def in_english(rule_app):
    """A request in English on the database-less app."""
    with rule_app.test_request_context():
        session["locale"] = "en"
        yield


# --- identity and table -----------------------------------------------------------------------------------


def test_identity():
    info = plugin.portal_plugin_info()
    assert (info.name, info.version) == ("campus_card", "1.0.0")
    assert isinstance(info.title, LazyString)


def test_standard_runs_its_clocks_from_the_report():
    [standard] = plugin.portal_standards()
    assert standard is STANDARD
    assert (standard.id, standard.clock_basis) == ("campus_card", "reported")
    assert standard.response_met_by == "arrive"
    assert standard.factory_hours == Decimal("240"), "return-to-factory repair: 10 days (CC-4.2)"
    assert "abnormal_account" in standard.service_types
    assert [cause for cause, _label in standard.causes] == ["bank", "backbone_fibre", "third_party"]
    standard.validate()


def test_severity_table_targets_are_cc_4_2():
    table = [(row.id, row.term, row.response_hours, row.repair_hours) for row in STANDARD.severities]
    assert sorted(table) == sorted([
        ("general", "一般", Decimal("1"), Decimal("12")),
        ("larger", "较大", Decimal("0.5"), Decimal("24")),
        ("major", "大", Decimal("0.5"), Decimal("48")),
        ("severe", "严重", Decimal("0.5"), Decimal("72")),
        ("special", "特殊", Decimal("0.5"), None),
    ])
    assert all(row.arrival_hours == row.response_hours for row in STANDARD.severities), "response = arrival"


def test_ranks_put_the_most_severe_first():
    assert [row.id for row in sorted(STANDARD.severities, key=lambda row: row.rank)] == [
        "severe", "major", "larger", "general", "special"]


def test_device_kinds():
    assert {"POS收费机", "圈存机", "业务机", "网络设备", "服务器"} <= set(STANDARD.device_kinds)


def test_descriptions_follow_the_bounds(in_english):
    descriptions = {row.id: str(row.description) for row in STANDARD.severities}
    assert "6–10" in descriptions["larger"] and "2–100" in descriptions["larger"]
    assert "50 or more" in descriptions["severe"] and "1000 or more" in descriptions["severe"]


# --- the CC-2 rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("terminals", "expected"), [
    (1, "general"), (4, "general"), (5, "general"), (6, "larger"), (7, "larger"), (9, "larger"),
    (10, "larger"), (11, "major"), (12, "major"), (48, "major"), (49, "major"), (50, "severe"),
    (51, "severe"), (5000, "severe"),
])
def test_terminal_counts(in_english, terminals, expected):
    assert classify({"affected_terminals": terminals}).severity == expected


@pytest.mark.parametrize(("cardholders", "expected"), [
    (1, "general"), (2, "larger"), (3, "larger"), (99, "larger"), (100, "larger"), (101, "major"),
    (102, "major"), (998, "major"), (999, "major"), (1000, "severe"), (1001, "severe"),
])
def test_cardholder_counts(in_english, cardholders, expected):
    assert classify({"affected_cardholders": cardholders}).severity == expected


@pytest.mark.parametrize(("terminals", "cardholders", "expected"), [
    (5, 2, "larger"), (6, 1, "larger"), (10, 101, "major"), (11, 100, "major"), (49, 1000, "severe"),
    (50, 1, "severe"), (1, 1, "general"), (6, 100, "larger"),
])
def test_both_counts_the_more_severe_class_wins(in_english, terminals, cardholders, expected):
    facts = {"affected_terminals": terminals, "affected_cardholders": cardholders}
    assert classify(facts).severity == expected


@pytest.mark.parametrize("facts", [
    {}, {"affected_terminals": None, "affected_cardholders": None}, {"affected_terminals": 0},
    {"affected_terminals": 0, "affected_cardholders": 0, "cause": None}, {"cause": "power_cut"},
])
def test_neither_count_leaves_the_choice_to_a_person(in_english, facts):
    assert classify(facts) is None


@pytest.mark.parametrize("cause", ["bank", "backbone_fibre", "third_party"])
@pytest.mark.parametrize("counts", [{}, {"affected_terminals": 3}, {"affected_terminals": 80,
                                                                  "affected_cardholders": 5000}])
def test_special_by_cause_whatever_the_counts(in_english, cause, counts):
    assert classify({**counts, "cause": cause}).severity == "special"


def test_another_cause_does_not_make_a_fault_special(in_english):
    assert classify({"affected_terminals": 3, "cause": "terminal_hardware"}).severity == "general"


def test_reasons_name_the_rule_applied(in_english):
    one = classify({"affected_terminals": 7}).reason
    assert "7 affected terminals" in one and "Larger" in one and "6–10" in one and "CC-2" in one
    both = classify({"affected_terminals": 7, "affected_cardholders": 150}).reason
    assert "101–999" in both and "more severe" in both and both.endswith("(CC-2).")
    special = classify({"affected_terminals": 7, "cause": "backbone_fibre"}).reason
    assert "Backbone fibre line" in special and "whatever the counts" in special


def test_the_bounds_are_editable_table_data(in_english):
    stricter = SeverityRules(
        terminals=(Band("general", 1), Band("larger", 3), Band("major", 8), Band("severe", 20)),
        cardholders=SEVERITY_RULES.cardholders, special_causes=("bank",))
    stricter.validate(STANDARD)
    assert classify({"affected_terminals": 3}, stricter).severity == "larger"
    assert classify({"affected_terminals": 20}, stricter).severity == "severe"
    assert classify({"cause": "third_party"}, stricter) is None
    assert "3–7" in classify({"affected_terminals": 4}, stricter).reason


@pytest.mark.parametrize("terminals", [
    (Band("general", 2), Band("larger", 6)),
    (Band("general", 1), Band("larger", 6), Band("major", 6)),
    (Band("general", 1), Band("catastrophic", 6)),
])
def test_broken_bounds_are_refused(terminals):
    with pytest.raises(SpecError):
        SeverityRules(terminals, SEVERITY_RULES.cardholders, ()).validate(STANDARD)


def test_the_hook_classifies_the_campus_standard_only(in_english):
    decision = plugin.portal_classify_severity(standard="campus_card", facts={"affected_cardholders": 2})
    assert decision.severity == "larger"
    assert plugin.portal_classify_severity(standard="police_kiosk", facts={"affected_cardholders": 2}) is None


# --- the monitoring check (CC-4.3) ------------------------------------------------------------------------


def test_monitoring_check_spec():
    fields = {field.name: field for field in MONITORING_CHECK.fields}
    assert [value for value, _label in fields["check_slot"].choices] == ["09:00", "15:00"]
    assert fields["check_date"].type == "date" and fields["check_date"].required
    assert {"system_normal", "pos_uploaded", "faults_found", "action_taken"} <= set(fields)
    assert {"CC-4.3", "CC-4.3r"} == set(MONITORING_CHECK.clauses)
    assert "requester" not in MONITORING_CHECK.roles
    assert plugin.portal_form_specs() == [MONITORING_CHECK]
    MONITORING_CHECK.validate()
    builder.form_class(MONITORING_CHECK)


def test_the_form_defaults_to_today_and_the_slot_due(client, auth, world):
    auth.login("engineer")
    html = client.get(FORM).get_data(as_text=True)
    assert f'value="{local_today().isoformat()}"' in html
    assert f'<option selected value="{current_slot()}">' in html
    assert f'<option selected value="{world.campus.id}">' in html, "the engineer's only campus organisation"


def test_an_engineer_records_a_check(client, auth, world, db):
    auth.login("engineer")
    response = client.post(FORM, data={
        "organisation": world.campus.id, "check_date": "2026-05-04", "check_slot": "15:00",
        "system_normal": "no", "pos_uploaded": "no", "offline_terminals": "3",
        "faults_found": "东区食堂3台POS机离线", "action_taken": "已重启交换机，数据已补传"})
    assert response.status_code == 302
    [submission] = db.session.query(FormSubmission).all()
    assert submission.data == {
        "check_date": "2026-05-04", "check_slot": "15:00", "system_normal": "no", "pos_uploaded": "no",
        "offline_terminals": 3, "faults_found": "东区食堂3台POS机离线",
        "action_taken": "已重启交换机，数据已补传"}


def test_a_check_needs_the_pos_upload_answer(client, auth, world, db):
    auth.login("engineer")
    html = client.post(FORM, data={"organisation": world.campus.id, "check_date": "2026-05-04",
                                   "check_slot": "09:00", "system_normal": "yes"}).get_data(as_text=True)
    assert 'id="pos_uploaded-errors"' in html
    assert db.session.query(FormSubmission).count() == 0


# --- menu and panel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "offered"),
                         [("engineer", True), ("requester", False), ("other_clerk", False)])
def test_the_menu_links_to_the_check_for_provider_staff_of_a_campus(app, world, username, offered):
    user = getattr(world, username)
    with app.test_request_context():
        login_user(user)
        items = [item for item in run_hook("portal_menu_items", user=user)
                 if item.values == {"plugin": "campus_card", "form_id": "monitoring_check"}]
    assert bool(items) == offered


def check(world, slot: str, day: date, submitted_at: datetime, normal: str = "yes", organisation=None):
    """Store a monitoring check directly."""
    data = {"check_date": day.isoformat(), "check_slot": slot, "system_normal": normal, "pos_uploaded": "yes"}
    factories.save(FormSubmission(plugin="campus_card", form_id="monitoring_check", data=data,
                                  organisation=organisation or world.campus, submitted_at=submitted_at))


def monitoring_rows(user, organisation_ids) -> dict | None:
    """The monitoring panel's rows, or None when it is not offered."""
    for panel in run_hook("portal_dashboard_panels", user=user, organisation_ids=organisation_ids):
        if panel.id == "campus-monitoring":
            return dict(panel.rows)
    return None


def test_panel_shows_todays_checks_in_the_portal_time_zone(world, english):
    today = local_today()
    midnight = start_of_local_day(today)
    check(world, "09:00", today, midnight + timedelta(minutes=1))
    check(world, "15:00", today - timedelta(days=1), midnight - timedelta(minutes=1))
    assert monitoring_rows(world.engineer, frozenset({world.campus.id})) == {
        "09:00": "Done", "15:00": "Not done yet"}
    check(world, "15:00", today, midnight + timedelta(minutes=2), normal="no")
    assert monitoring_rows(world.engineer, frozenset({world.campus.id}))["15:00"] == "Done, fault found"


def test_start_of_the_local_day_is_in_the_portal_time_zone(app):
    assert start_of_local_day(date(2026, 5, 4)).isoformat() == "2026-05-04T00:00:00+08:00"


def test_panel_names_each_organisation_when_there_are_several(world, english):
    second = factories.organisation("CCNU2", "第二校区信息化办公室", "campus_card")
    check(world, "09:00", local_today(), start_of_local_day(local_today()), organisation=second)
    rows = monitoring_rows(world.admin, None)
    assert rows[f"{second.name} · 09:00"] == "Done" and rows[f"{world.campus.name} · 09:00"] == "Not done yet"


def test_no_panel_without_a_campus_organisation(world, english):
    assert monitoring_rows(world.requester, frozenset({world.police.id})) is None


def test_the_standard_reaches_the_registry(app):
    assert registry().standard("campus_card") is STANDARD
