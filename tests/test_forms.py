"""The declarative form engine: a plugin's FormSpec rendered, validated, stored and scoped."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.forms import builder
from portal.forms.models import FormSubmission
from portal.plugins import registry
from portal.specs import FieldSpec, FormSpec, SpecError
from tests import factories

POLICE_FORM = "/forms/police_kiosk/problem_feedback"
CAMPUS_FORM = "/forms/campus_card/monitoring_check"
GOOD = {
    "feedback_type": "fault",
    "urgency": "medium",
    "description": "打印机卡纸，无法打印回执",
    "device": "PK-0001",
    "reporter_name": "张警官",
    "reporter_contact": "13800000000",
    "channel": "phone",
}
HTMX = {"HX-Request": "true"}


def stored(db) -> list[FormSubmission]:
    """Every submission in the database, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(FormSubmission).order_by(FormSubmission.id)))


def submit(client, organisation, **changes):
    """Post the police problem-feedback form for an organisation (an id; None leaves the choice out)."""
    data = {**GOOD, "organisation": organisation, **changes}
    return client.post(POLICE_FORM, data={key: value for key, value in data.items() if value is not None})


# --- the forms page ---------------------------------------------------------------------------------------


def test_index_groups_forms_by_plugin_with_their_clauses(client, auth, world):
    auth.login("clerk")
    html = client.get("/forms/").get_data(as_text=True)
    police = html.index('id="plugin-police_kiosk"')
    campus = html.index('id="plugin-campus_card"')
    assert html.index("PK-7.5") > police and html.index("CC-4.3") > campus
    assert 'href="/forms/police_kiosk/problem_feedback"' in html
    assert 'href="/forms/campus_card/monitoring_check"' in html


def test_index_lists_only_forms_for_standards_the_user_sees(client, auth, world):
    auth.login("requester")
    html = client.get("/forms/").get_data(as_text=True)
    assert 'id="form-police_kiosk-problem_feedback"' in html
    assert "campus_card" not in html


def test_auditor_sees_forms_and_submissions_but_no_fill_link(client, auth, world):
    auth.login("auditor")
    html = client.get("/forms/").get_data(as_text=True)
    assert 'href="/forms/police_kiosk/problem_feedback/submissions"' in html
    assert 'href="/forms/police_kiosk/problem_feedback"' not in html


def test_forms_page_needs_sign_in(client, world):
    assert client.get("/forms/").status_code == 302


# --- filling in a form ------------------------------------------------------------------------------------


def test_form_is_rendered_from_its_spec(client, auth, world):
    auth.login("requester")
    response = client.get(POLICE_FORM)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in registry().forms[("police_kiosk", "problem_feedback")].fields:
        assert f'name="{field.name}"' in html
    assert re.search(rf'<option selected value="{world.police.id}">', html), "the only organisation is chosen"
    assert f'hx-post="{POLICE_FORM}"' in html and 'hx-target="#form-block"' in html
    assert '<datalist id="device-options">' in html and '<option value="PK-0001">' in html
    assert "OT-0001" not in html and "CC-0001" not in html


def test_good_values_are_stored_for_the_organisation(client, auth, world, db):
    auth.login("requester")
    response = submit(client, world.police.id)
    [submission] = stored(db)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{POLICE_FORM}/submissions/{submission.id}")
    assert (submission.plugin, submission.form_id) == ("police_kiosk", "problem_feedback")
    assert submission.organisation_id == world.police.id
    assert submission.device_id == world.police_device.id
    assert submission.user_id == world.requester.id
    assert submission.data == GOOD
    assert client.get(response.headers["Location"]).status_code == 200


def test_bad_values_show_errors_next_to_fields_and_keep_input(client, auth, world, db):
    auth.login("requester")
    response = submit(client, world.police.id, urgency="", description="   ", device="NO-SUCH",
                      channel="pigeon")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert stored(db) == []
    for name in ("urgency", "description", "device", "channel"):
        assert re.search(rf'id="{name}"[^>]*is-invalid|is-invalid[^>]*id="{name}"', html), name
        assert f'id="{name}-errors"' in html
    assert 'value="张警官"' in html and 'value="NO-SUCH"' in html
    assert '<option selected value="fault">' in html


def test_a_device_the_user_cannot_see_is_refused(client, auth, world, db):
    auth.login("requester")
    assert 'id="device-errors"' in submit(client, world.police.id, device="OT-0001").get_data(as_text=True)
    assert stored(db) == []


def test_a_device_of_another_organisation_is_refused(client, auth, world, db):
    auth.login("clerk")
    html = submit(client, world.police.id, device="CC-0001").get_data(as_text=True)
    assert 'id="device-errors"' in html
    assert stored(db) == []


def test_device_is_optional(client, auth, world, db):
    auth.login("requester")
    assert submit(client, world.police.id, device="").status_code == 302
    [submission] = stored(db)
    assert submission.device_id is None and submission.data["device"] is None


def test_organisation_is_chosen_among_visible_ones_of_the_standard(client, auth, world, db):
    auth.login("admin")
    html = client.get(POLICE_FORM).get_data(as_text=True)
    assert f'value="{world.police.id}"' in html and f'value="{world.other.id}"' in html
    assert f'value="{world.campus.id}"' not in html, "the campus is governed by another standard"
    assert 'id="organisation-errors"' in submit(client, None).get_data(as_text=True)
    assert 'id="organisation-errors"' in submit(client, world.campus.id).get_data(as_text=True)
    assert stored(db) == []
    assert submit(client, world.other.id, device="OT-0001").status_code == 302
    assert stored(db)[0].organisation_id == world.other.id


def test_another_organisation_cannot_be_forced_into_a_submission(client, auth, world, db):
    auth.login("requester")
    html = submit(client, world.other.id, device="").get_data(as_text=True)
    assert 'id="organisation-errors"' in html
    assert stored(db) == []


def test_htmx_post_swaps_only_the_form_block(client, auth, world, db):
    auth.login("requester")
    bad = client.post(POLICE_FORM, data={**GOOD, "organisation": world.police.id, "description": ""},
                      headers=HTMX)
    body = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="form-block">') and 'id="description-errors"' in body
    assert "HX-Request" in bad.headers["Vary"]
    good = client.post(POLICE_FORM, data={**GOOD, "organisation": world.police.id}, headers=HTMX)
    body = good.get_data(as_text=True)
    [submission] = stored(db)
    assert good.status_code == 200 and "<html" not in body
    assert 'id="form-saved"' in body and f"/submissions/{submission.id}" in body
    assert 'value="张警官"' not in body, "a fresh form follows the success message"


def test_a_role_not_in_the_spec_is_refused(client, auth, world):
    auth.login("requester")
    assert client.get(CAMPUS_FORM).status_code == 403


def test_a_role_without_form_submit_is_refused(client, auth, world, db):
    auth.login("auditor")
    assert client.get(POLICE_FORM).status_code == 403
    assert submit(client, world.police.id).status_code == 403
    assert stored(db) == []


def test_no_organisation_under_the_standard_means_nothing_to_fill(client, auth, world, db):
    auth.login("other_clerk")
    response = client.get(CAMPUS_FORM)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="no-organisation"' in html and 'id="spec-form"' not in html
    client.post(CAMPUS_FORM, data={"check_slot": "09:00", "system_normal": "yes", "pos_uploaded": "yes"})
    assert stored(db) == []


def test_unknown_plugin_or_form_is_404(client, auth, world):
    auth.login("admin")
    for url in ("/forms/nope/problem_feedback", "/forms/police_kiosk/nope", "/forms/nope/x/submissions",
                "/forms/police_kiosk/problem_feedback/submissions/999"):
        assert client.get(url).status_code == 404, url


def test_csrf_is_required_and_the_page_carries_the_token(app_factory, world, db):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"username": "requester", "password": factories.PASSWORD, "csrf_token": token})
    page = client.get(POLICE_FORM).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {**GOOD, "organisation": world.police.id}
    assert client.post(POLICE_FORM, data=data, headers=HTMX).status_code == 400
    with app.app_context():
        assert stored(db) == []
    saved = client.post(POLICE_FORM, data=data, headers={**HTMX, "X-CSRFToken": token})
    assert 'id="form-saved"' in saved.get_data(as_text=True)


# --- submissions ------------------------------------------------------------------------------------------


def add_submissions(world, count: int, organisation=None) -> list[FormSubmission]:
    """Store ``count`` problem-feedback submissions directly, one minute apart."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    records = [FormSubmission(plugin="police_kiosk", form_id="problem_feedback",
                              organisation=organisation or world.police, user=world.requester,
                              data={**GOOD, "description": f"问题 {number}"},
                              submitted_at=start + timedelta(minutes=number))
               for number in range(count)]
    factories.save(*records)
    return records


def test_submissions_are_listed_newest_first_and_paged(client, auth, world):
    add_submissions(world, 27)
    auth.login("clerk")
    first = client.get(f"{POLICE_FORM}/submissions").get_data(as_text=True)
    assert first.count('<tr id="submission-') == 25
    assert first.index("问题 26") < first.index("问题 25")
    fragment = client.get(f"{POLICE_FORM}/submissions?page=2", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="results">')
    assert body.count('<tr id="submission-') == 2 and "问题 0" in body


def test_submissions_are_scoped_to_visible_organisations(client, auth, world):
    ours = add_submissions(world, 1)[0]
    theirs = add_submissions(world, 1, world.other)[0]
    auth.login("requester")
    html = client.get(f"{POLICE_FORM}/submissions").get_data(as_text=True)
    assert f'id="submission-{ours.id}"' in html and f'id="submission-{theirs.id}"' not in html
    assert client.get(f"{POLICE_FORM}/submissions/{ours.id}").status_code == 200
    assert client.get(f"{POLICE_FORM}/submissions/{theirs.id}").status_code == 404


def test_a_submission_under_another_forms_url_is_404(client, auth, world):
    ours = add_submissions(world, 1)[0]
    auth.login("admin")
    assert client.get(f"{CAMPUS_FORM}/submissions/{ours.id}").status_code == 404


def test_submission_page_shows_labels_not_codes(client, auth, world):
    submission = add_submissions(world, 1)[0]
    client.get("/lang/en")
    auth.login("requester")
    html = client.get(f"{POLICE_FORM}/submissions/{submission.id}").get_data(as_text=True)
    assert "Fault: spare parts, fault handling" in html and "Medium" in html and "问题 0" in html


# --- the builder, field type by field type ----------------------------------------------------------------

EVERY_TYPE = FormSpec(
    id="every_type", title="Every type", plugin="test",
    fields=(
        FieldSpec("name", "Name", "text", required=True, max_length=5),
        FieldSpec("notes", "Notes", "textarea"),
        FieldSpec("count", "Count", "integer", required=True, min=1, max=10),
        FieldSpec("amount", "Amount", "decimal", min=Decimal("0"), max=Decimal("99.5")),
        FieldSpec("colour", "Colour", "choice", required=True, choices=(("red", "Red"), ("blue", "Blue"))),
        FieldSpec("day", "Day", "date", required=True),
        FieldSpec("moment", "Moment", "datetime"),
        FieldSpec("agreed", "Agreed", "boolean", required=True),
        FieldSpec("kiosk", "Kiosk", "device"),
    ),
)
WIDGETS = {"name": 'type="text"', "notes": "<textarea", "count": 'type="number"', "amount": 'type="number"',
           "colour": "<select", "day": 'type="date"', "moment": 'type="datetime-local"',
           "agreed": 'type="checkbox"', "kiosk": 'list="kiosk-options"'}


class FakeDevice:
    """Stands in for a resolved device (the builder only reads code and organisation)."""

    def __init__(self, code: str, organisation_id: int):
        self.code, self.organisation_id, self.id = code, organisation_id, 7


def build(app, data: dict):
    """Build and validate the every-type form from posted data."""
    devices = {"K-1": FakeDevice("K-1", 1), "K-2": FakeDevice("K-2", 2)}
    with app.test_request_context(method="POST", data=data):
        form = builder.form_class(EVERY_TYPE)(organisations=[(1, "A")], find_device=devices.get)
        return form, form.validate(), {name: str(form[name]) for name in WIDGETS}


def test_every_field_type_renders_its_widget(app):
    _form, _valid, rendered = build(app, {})
    for name, widget in WIDGETS.items():
        assert widget in rendered[name], name


def test_every_field_type_refuses_bad_values(app):
    bad = {"organisation": "1", "name": "toolong", "count": "11", "amount": "abc", "colour": "green",
           "day": "2026-02-30", "moment": "yesterday", "kiosk": "K-2"}
    form, valid, _rendered = build(app, bad)
    assert not valid
    assert set(form.errors) == {"name", "count", "amount", "colour", "day", "moment", "agreed", "kiosk"}


def test_every_field_type_stores_json_safe_values(app):
    good = {"organisation": "1", "name": " Li ", "count": "3", "amount": "12.50", "colour": "blue",
            "day": "2026-05-04", "moment": "2026-05-04T09:30", "agreed": "y", "kiosk": "K-1"}
    form, valid, _rendered = build(app, good)
    assert valid, form.errors
    data = builder.form_data(form, ZoneInfo("Asia/Shanghai"))
    assert data == {"name": "Li", "notes": None, "count": 3, "amount": "12.50", "colour": "blue",
                    "day": "2026-05-04", "moment": "2026-05-04T09:30:00+08:00", "agreed": True,
                    "kiosk": "K-1"}
    assert json.loads(json.dumps(data)) == data
    assert builder.first_device(form).code == "K-1"
    assert date.fromisoformat(data["day"]).weekday() == 0


def test_optional_fields_may_stay_empty(app):
    form, valid, _rendered = build(app, {"organisation": "1", "name": "Li", "count": "1", "colour": "red",
                                         "day": "2026-05-04", "agreed": "y"})
    assert valid, form.errors
    assert builder.first_device(form) is None


@pytest.mark.parametrize("name", ["organisation", "data", "errors", "csrf_token"])
def test_a_field_name_the_form_already_uses_is_refused(name):
    spec = FormSpec(id="clash", title="Clash", fields=(FieldSpec(name, "Clash"),))
    with pytest.raises(SpecError, match="reserved"):
        builder.form_class(spec)
