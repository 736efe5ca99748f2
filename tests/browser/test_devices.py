"""The device archive in a real browser: live search and filters through htmx, the CSV import with its
progress bar, and the public report page on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.orgs.models import Organisation
from tests import factories

pytestmark = pytest.mark.browser

CAMPUS_FAULTY = ("CC-0002", "CC-0005", "CC-0008")
IMPORT_ROWS = 3000
IMPORT_TIMEOUT_MS = 90_000


def seed_devices() -> None:
    """Nine more campus terminals (three faulty) and a faulty police kiosk, beside the world's devices."""
    campus = factories.db.session.scalar(select(Organisation).where(Organisation.code == "CCNU"))
    police = factories.db.session.scalar(select(Organisation).where(Organisation.code == "TJPSB"))
    for number in range(2, 11):
        code = f"CC-{number:04d}"
        status = "faulty" if code in CAMPUS_FAULTY else "in_service"
        factories.device(code, campus, kind="POS收费机", status=status)
    factories.device("PK-0002", police, status="faulty")


def shown_codes(page) -> list[str]:
    return page.locator("#device-results tr[data-code]").evaluate_all("rows => rows.map(r => r.dataset.code)")


def mark_document(page) -> None:
    """Tag the current document; the tag survives htmx swaps and disappears on a full page load."""
    page.evaluate("() => { window.portalTestDocument = true; }")


def same_document(page) -> bool:
    return page.evaluate("() => window.portalTestDocument === true")


def test_search_and_status_filter_update_the_list_in_place_and_survive_a_reload(page, live_server, login):
    live_server.run(seed_devices)
    login(page, "clerk")
    page.goto("/devices/")
    rows = page.locator("#device-results tr[data-code]")
    expect(rows).to_have_count(12)
    mark_document(page)

    page.locator("#device-search").press_sequentially("CC-0", delay=40)

    expect(rows).to_have_count(10)
    assert all(code.startswith("CC-") for code in shown_codes(page))
    expect(page).to_have_url(re.compile(r"[?&]q=CC-0"))

    page.locator("#status-filter").select_option("faulty")

    expect(rows).to_have_count(len(CAMPUS_FAULTY))
    assert sorted(shown_codes(page)) == list(CAMPUS_FAULTY)
    expect(page).to_have_url(re.compile(r"[?&]status=faulty"))
    expect(page).to_have_url(re.compile(r"[?&]q=CC-0"))
    assert same_document(page), "the list was replaced by a full page load instead of an htmx swap"

    page.reload()

    assert not same_document(page)
    expect(page.locator("#status-filter")).to_have_value("faulty")
    expect(page.locator("#device-search")).to_have_value("CC-0")
    expect(rows).to_have_count(len(CAMPUS_FAULTY))
    assert sorted(shown_codes(page)) == list(CAMPUS_FAULTY)


def import_csv(rows: int) -> bytes:
    """A valid device file for the police organisation of the world: ``rows`` kiosks."""
    lines = ["code,model,serial_number,kind,owning_unit,address,service_point,distance_km,maintainer,status,"
             "installed_on,notes"]
    lines += [f"IMP-{n:05d},JW-K300,SN{n:08d},自助办证机,和平分局南营门派出所,"
              f"天津市和平区南京路{n % 300 + 1}号,SP-01,{n % 150}.5,engineer,in_service,2025-03-01,批量导入"
              for n in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def record_import_states(page) -> None:
    """Keep, in the page, every status the import panel shows (the page polls the job while it runs)."""
    page.evaluate("""() => {
        window.portalImportStates = [];
        new MutationObserver(() => {
            const job = document.querySelector("#import-job");
            const states = window.portalImportStates;
            if (job && states[states.length - 1] !== job.dataset.status) states.push(job.dataset.status);
        }).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")


def test_import_of_3000_rows_shows_progress_until_done(page, live_server, login):
    login(page, "clerk")
    page.goto("/devices/import")
    form = page.locator("#import-form")
    form.locator("select[name=organisation_id]").select_option(label="天津市公安局和平分局")
    form.locator("input[type=file]").set_input_files(
        {"name": "kiosks.csv", "mimeType": "text/csv", "buffer": import_csv(IMPORT_ROWS)})

    record_import_states(page)

    form.locator("#import-submit").click()

    progress = page.locator("#import-progress")
    expect(progress).to_be_visible()
    result = page.locator("#import-result")
    expect(result).to_be_visible(timeout=IMPORT_TIMEOUT_MS)
    expect(result).to_have_attribute("data-status", "done")
    expect(result).to_have_attribute("data-created", str(IMPORT_ROWS))
    expect(result).to_contain_text(str(IMPORT_ROWS))
    expect(progress).to_have_attribute("max", str(IMPORT_ROWS))
    expect(progress).to_have_attribute("value", str(IMPORT_ROWS))
    states = page.evaluate("() => window.portalImportStates")
    assert {"pending", "running"} & set(states), f"the page never showed the import under way: {states}"
    assert states[-1] == "done"


def test_public_report_page_fits_a_phone(phone_page, live_server):
    code = live_server.world["police_device"]

    phone_page.goto(f"/r/{code}")

    expect(phone_page.locator("body")).to_contain_text(code)
    expect(phone_page.locator("html")).to_have_attribute("lang", "zh-CN")
    overflow = phone_page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
