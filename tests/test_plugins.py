"""Plugin discovery, enabling by PORTAL_PLUGINS, third-party plugins from entry points, spec validation."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.forms.models import FormSubmission
from portal.plugins import ENTRY_POINT_GROUP, registry, run_hook
from portal.specs import FieldSpec, FormSpec, Severity, SpecError, Standard
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "example_plugin"


def install_distribution(folder: Path, monkeypatch, distribution: str, plugin: str, module: str) -> None:
    """Make importlib.metadata find an installed distribution whose entry point in the portal's group
    names ``module`` as plugin ``plugin``: a real ``*.dist-info`` folder on sys.path."""
    info = folder / f"{distribution.replace('-', '_')}-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{plugin} = {module}\n")
    monkeypatch.syspath_prepend(str(folder))


def write_plugin(folder: Path, module: str, body: str) -> None:
    """A one-module plugin on disk, with its identity hook and ``body`` after it."""
    source = f'''
        from portal.hookspecs import hookimpl
        from portal.specs import FieldSpec, FormSpec, PluginInfo, Severity, Standard


        @hookimpl
        def portal_plugin_info():
            return PluginInfo("{module}", "Broken", "0.0.1")
    '''
    (folder / f"{module}.py").write_text(textwrap.dedent(source) + textwrap.dedent(body))


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """docs/example_plugin installed as a third-party distribution (entry point ``visit_survey``)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    install_distribution(tmp_path, monkeypatch, "portal-visit-survey", "visit_survey", "portal_visit_survey")


# --- discovery and enabling -------------------------------------------------------------------------------


def test_both_builtin_plugins_are_discovered_and_enabled(app):
    installed = registry().installed
    for name in ("police_kiosk", "campus_card"):
        plugin = installed[name]
        assert (plugin.source, plugin.enabled, plugin.info.name, plugin.info.version) == (
            "builtin", True, name, "1.0.0")
        assert {"portal_plugin_info", "portal_standards", "portal_form_specs", "portal_menu_items",
                "portal_dashboard_panels"} <= set(plugin.hooks)
    assert "portal_classify_severity" in installed["campus_card"].hooks
    assert "portal_classify_severity" not in installed["police_kiosk"].hooks
    assert set(registry().standards) == {"police_kiosk", "campus_card"}
    assert set(registry().forms) == {("police_kiosk", "problem_feedback"),
                                     ("campus_card", "monitoring_check")}


def test_portal_plugins_enables_only_the_plugins_it_names(app_factory, world):
    app = app_factory(PORTAL_PLUGINS=["campus_card"])
    client = app.test_client()
    with app.app_context():
        plugins = registry()
        assert plugins.installed["police_kiosk"].enabled is False
        assert plugins.installed["campus_card"].enabled is True
        assert plugins.pm.is_blocked("police_kiosk")
        assert plugins.standard("police_kiosk") is None and plugins.standard("campus_card") is not None
        assert [key for key in plugins.forms] == [("campus_card", "monitoring_check")]
    client.post("/login", data={"username": "admin", "password": factories.PASSWORD})
    assert client.get("/forms/police_kiosk/problem_feedback").status_code == 404
    assert client.get("/forms/police_kiosk/problem_feedback/submissions").status_code == 404
    assert client.get("/forms/campus_card/monitoring_check").status_code == 200
    assert "police_kiosk" not in client.get("/forms/").get_data(as_text=True)


def test_a_disabled_plugin_contributes_no_menu_panel_or_classification(app_factory, world):
    app = app_factory(PORTAL_PLUGINS=["police_kiosk"])
    with app.test_request_context():
        plugins = registry()
        assert plugins.hook.portal_classify_severity(standard="campus_card",
                                                     facts={"affected_terminals": 60}) is None
        panels = run_hook("portal_dashboard_panels", user=world.admin, organisation_ids=None)
        assert not [panel for panel in panels if panel.id.startswith("campus")]
        assert [panel for panel in panels if panel.id.startswith("police")]


def test_an_unknown_plugin_name_is_a_clear_error(app_factory):
    with pytest.raises(SpecError, match="PORTAL_PLUGINS names plugins that are not installed: nope"):
        app_factory(PORTAL_PLUGINS=["campus_card", "nope"])


def test_the_severity_hook_answers_for_the_campus_standard_only(app):
    decide = registry().hook.portal_classify_severity
    with app.test_request_context():
        assert decide(standard="campus_card", facts={"affected_terminals": 11}).severity == "major"
        assert decide(standard="police_kiosk", facts={"affected_terminals": 11}) is None


# --- third-party plugins ----------------------------------------------------------------------------------


def test_a_third_party_plugin_is_found_through_its_entry_point(example_plugin, app_factory, world, db):
    assert "visit_survey" in {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    app = app_factory()
    with app.app_context():
        plugin = registry().installed["visit_survey"]
        assert (plugin.enabled, plugin.source, plugin.info.version) == (
            True, "entry point (portal-visit-survey)", "1.0.0")
        assert plugin.hooks == ["portal_form_specs", "portal_menu_items", "portal_plugin_info"]
    client = app.test_client()
    client.post("/login", data={"username": "requester", "password": factories.PASSWORD})
    form = client.get("/forms/visit_survey/satisfaction").get_data(as_text=True)
    assert 'name="score"' in form and 'name="work_confirmed"' in form
    response = client.post("/forms/visit_survey/satisfaction",
                           data={"organisation": world.police.id, "score": "5", "work_confirmed": "y"})
    assert response.status_code == 302
    with app.app_context():
        [submission] = db.session.scalars(select(FormSubmission)).all()
        assert (submission.plugin, submission.data) == (
            "visit_survey", {"score": 5, "work_confirmed": True, "comments": None})


def test_a_third_party_plugin_can_be_left_disabled(example_plugin, app_factory):
    app = app_factory(PORTAL_PLUGINS=["police_kiosk", "campus_card"])
    with app.app_context():
        assert registry().installed["visit_survey"].enabled is False
        assert ("visit_survey", "satisfaction") not in registry().forms


# --- validation of what plugins contribute ----------------------------------------------------------------

DUPLICATE_SEVERITY = '''
    @hookimpl
    def portal_standards():
        row = Severity("high", "High", 1)
        return [Standard("broken", "B-1", "Broken", (row, Severity("high", "Again", 2)))]
'''
UNKNOWN_FIELD_TYPE = '''
    @hookimpl
    def portal_form_specs():
        return [FormSpec("broken", "Broken", (FieldSpec("colour", "Colour", "colour-picker"),))]
'''


@pytest.mark.parametrize(("module", "body", "message"), [
    ("dup_severity_plugin", DUPLICATE_SEVERITY, "broken: severity ids must be present and unique"),
    ("bad_field_plugin", UNKNOWN_FIELD_TYPE, "field colour has unknown type 'colour-picker'"),
])
def test_a_plugin_with_invalid_specs_stops_the_app(tmp_path, monkeypatch, app_factory, module, body, message):
    write_plugin(tmp_path, module, body)
    install_distribution(tmp_path, monkeypatch, module.replace("_", "-"), module, module)
    with pytest.raises(SpecError, match=message):
        app_factory()


def test_spec_validation_errors():
    rows = (Severity("high", "High", 1), Severity("high", "Again", 2))
    with pytest.raises(SpecError, match="ids must be present and unique"):
        Standard("s", "S-1", "S", rows).validate()
    with pytest.raises(SpecError, match="ranks must be unique"):
        Standard("s", "S-1", "S", (Severity("a", "A", 1), Severity("b", "B", 1))).validate()
    with pytest.raises(SpecError, match="unknown type"):
        FormSpec("f", "F", (FieldSpec("x", "X", "signature"),)).validate()
    with pytest.raises(SpecError, match="has no choices"):
        FormSpec("f", "F", (FieldSpec("x", "X", "choice"),)).validate()
    with pytest.raises(SpecError, match="must be present and unique"):
        FormSpec("f", "F", (FieldSpec("x", "X"), FieldSpec("x", "Y"))).validate()
