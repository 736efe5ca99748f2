"""The device archive (PK-7.6): list, detail with history and QR code, create/edit/delete, labels, import."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from portal import jobs
from portal.auth.scoping import get_visible_or_404, scoped, visible_organisation_ids
from portal.auth.session import permission_required
from portal.devices import importer, qr, services
from portal.devices.forms import DeviceForm, ImportForm, choice
from portal.devices.models import DEVICE_STATUSES, Device, ImportJob
from portal.devices.services import SORT_LABELS, DeviceFilters
from portal.extensions import db
from portal.orgs.models import Organisation, ServicePoint
from portal.pagination import page_number, paginate
from portal.plugins import registry
from portal.web import render, wants_fragment

bp = Blueprint("devices", __name__, url_prefix="/devices")

LABELS_PER_PAGE = 200
NO_CHOICE = choice("", "—")


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def visible_organisations() -> list[Organisation]:
    """The organisations the current user may see, by name."""
    return list(db.session.scalars(scoped(services.organisations_statement(), Organisation.id)))


def several_organisations() -> bool:
    """Whether the user sees more than one organisation (then lists show and filter by organisation)."""
    ids = visible_organisation_ids()
    return ids is None or len(ids) > 1


def filtered_page(per_page: int):
    """The filters from the URL and the page of visible devices matching them."""
    filters = DeviceFilters.from_args(request.args)
    statement = scoped(filters.statement(), Device.organisation_id)
    return filters, paginate(statement, page_number(request.args.get("page")), per_page)


def filter_choices() -> dict:
    """The options of the list filters, limited to what the user may see."""
    maintained = select(Device.maintainer_id).where(Device.maintainer_id.is_not(None))
    return {
        "statuses": DEVICE_STATUSES,
        "sorts": SORT_LABELS,
        "kinds": list(db.session.scalars(scoped(services.kinds_statement(), Device.organisation_id))),
        "service_points": list(db.session.scalars(
            scoped(services.service_points_statement(), ServicePoint.organisation_id))),
        "organisations": visible_organisations() if several_organisations() else [],
        "maintainers": services.maintainers_of(scoped(maintained, Device.organisation_id)),
    }


def kind_suggestions(organisation_id: int | None) -> tuple[str, ...]:
    """The device kinds of the standard governing the organisation (none when it has no plugin)."""
    organisation = db.session.get(Organisation, organisation_id) if organisation_id else None
    standard = registry().standard(organisation.standard) if organisation else None
    return standard.device_kinds if standard else ()


def fill_choices(form: DeviceForm, device: Device | None = None) -> int | None:
    """Limit the form's selects to visible organisations and the chosen one's points and engineers."""
    organisations = visible_organisations()
    form.organisation_id.choices = [choice(org.id, org.name) for org in organisations]
    visible_ids = {org.id for org in organisations}
    if form.organisation_id.data is None and organisations:
        form.organisation_id.data = organisations[0].id
    chosen = form.organisation_id.data if form.organisation_id.data in visible_ids else None
    points = db.session.scalars(services.service_points_statement(chosen)) if chosen else []
    form.service_point_id.choices = [NO_CHOICE] + [choice(point.id, f"{point.code} · {point.name}")
                                                for point in points]
    engineers = services.eligible_maintainers(chosen)
    current = device.maintainer if device and device.organisation_id == chosen else None
    if current is not None and current not in engineers:
        engineers.append(current)
    form.maintainer_id.choices = [NO_CHOICE] + [choice(user.id, f"{user.name} ({user.username})")
                                               for user in engineers]
    form.organisation_id.render_kw = {
        "hx-get": url_for(".form_fields", device_id=device.id if device else None),
        "hx-trigger": "change", "hx-target": "#org-fields", "hx-swap": "outerHTML",
        "hx-include": "closest form",
    }
    return chosen


def render_form(form: DeviceForm, device: Device | None, chosen: int | None):
    """The create/edit page."""
    return render("devices/form.html", form=form, device=device, kinds=kind_suggestions(chosen))


def save(form: DeviceForm, device: Device) -> bool:
    """Validate and save; a code taken at the last moment becomes a field error."""
    if not form.validate_on_submit():
        return False
    if services.save_device(device, form.values()):
        return True
    form.code.errors.append(_("Code already used by another device."))
    return False


# ----------------------------------------------------------------------------------------------------------
# List, labels, detail, QR
# ----------------------------------------------------------------------------------------------------------


@bp.route("/")
@permission_required("device.view")
def index():
    """The device archive with search, filters and paging; htmx requests get only the results block."""
    filters, page = filtered_page(current_app.config["PORTAL_PAGE_SIZE"])
    choices = {} if wants_fragment() else filter_choices()
    return render("devices/index.html", block="results", filters=filters, page=page,
                  several=several_organisations(), **choices)


@bp.route("/labels")
@permission_required("device.view")
def labels():
    """Printable QR labels (code, address, QR) for the filtered list, at most 200 per page."""
    filters, page = filtered_page(LABELS_PER_PAGE)
    labels = [(device, qr.device_svg(device.code)) for device in page.items]
    return render("devices/labels.html", filters=filters, page=page, labels=labels)


@bp.route("/<int:device_id>")
@permission_required("device.view")
def detail(device_id: int):
    """A device's archive entry, its QR code, its change history and its fault reports."""
    device = get_visible_or_404(Device, device_id)
    return render("devices/detail.html", device=device, qr_svg=qr.device_svg(device.code),
                  report_url=qr.report_url(device.code), history=services.history(device.id),
                  reports=services.fault_reports(device.id))


@bp.route("/<int:device_id>/qr.svg", endpoint="qr")
@permission_required("device.view")
def qr_download(device_id: int):
    """The device's QR code as an SVG file."""
    device = get_visible_or_404(Device, device_id)
    svg = qr.svg_document(qr.report_url(device.code), title=device.code)
    return send_file(io.BytesIO(svg), mimetype="image/svg+xml", as_attachment=True,
                     download_name=f"{device.code}.svg", max_age=0)


# ----------------------------------------------------------------------------------------------------------
# Create, edit, delete
# ----------------------------------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@permission_required("device.edit")
def create():
    """Add a device to the archive."""
    form = DeviceForm()
    chosen = fill_choices(form)
    device = Device()
    if save(form, device):
        flash(_("Device %(code)s added.", code=device.code), "success")
        return redirect(url_for(".detail", device_id=device.id))
    return render_form(form, None, chosen)


@bp.route("/<int:device_id>/edit", methods=["GET", "POST"])
@permission_required("device.edit")
def edit(device_id: int):
    """Change a device's archive entry."""
    device = get_visible_or_404(Device, device_id)
    form = DeviceForm(obj=device, device_id=device.id)
    chosen = fill_choices(form, device)
    if save(form, device):
        flash(_("Device %(code)s saved.", code=device.code), "success")
        return redirect(url_for(".detail", device_id=device.id))
    return render_form(form, device, chosen)


@bp.route("/form-fields")
@permission_required("device.edit")
def form_fields():
    """The organisation-dependent part of the device form, for the organisation just chosen."""
    device_id = request.args.get("device_id", type=int)
    device = get_visible_or_404(Device, device_id) if device_id else None
    form = DeviceForm(formdata=request.args, meta={"csrf": False})
    chosen = fill_choices(form, device)
    body = render_block("devices/form.html", "org_fields", form=form, device=device,
                        kinds=kind_suggestions(chosen))
    response = current_app.make_response(body)
    response.headers.add("Vary", "HX-Request")
    return response


@bp.route("/<int:device_id>/delete", methods=["POST"])
@permission_required("device.edit")
def delete(device_id: int):
    """Delete a device that nothing refers to."""
    device = get_visible_or_404(Device, device_id)
    code = device.code
    if services.delete_device(device):
        flash(_("Device %(code)s deleted.", code=code), "success")
        return redirect(url_for(".index"))
    flash(_("Device %(code)s cannot be deleted because fault reports or other records refer to it. "
            "Set its status to retired instead.", code=code), "error")
    return redirect(url_for(".detail", device_id=device_id))


# ----------------------------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------------------------


def import_form(organisation_id: int | None = None) -> ImportForm:
    """The upload form with the visible organisations to import into."""
    form = ImportForm()
    form.organisation_id.choices = [choice(org.id, org.name) for org in visible_organisations()]
    if organisation_id is not None and not form.is_submitted():
        form.organisation_id.data = organisation_id
    return form


def start_import(form: ImportForm) -> ImportJob | None:
    """Check the uploaded file, store it and queue its job; None (and a field error) when it is unusable."""
    upload = form.file.data
    data = upload.read()
    filename = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        importer.check_upload(data, filename)
    except importer.ImportFileError as error:
        form.file.errors.append(str(error))
        return None
    uploads = Path(current_app.instance_path) / "uploads"
    job = services.start_import(form.organisation_id.data, current_user.id, filename, data, uploads)
    jobs.submit(importer.run_import, job.id)
    return db.session.get(ImportJob, job.id)


def job_context(job: ImportJob | None) -> dict:
    """The job and its problems in the reader's language (at most SHOWN_ERRORS of them)."""
    problems = (job.errors or []) if job else []
    return {"job": job, "problems": [importer.describe(p) for p in problems[:importer.SHOWN_ERRORS]],
            "problem_count": len(problems)}


@bp.route("/import", methods=["GET", "POST"])
@permission_required("device.import")
def import_devices():
    """Upload a CSV or Excel file of devices; the import runs as a job whose progress the page polls."""
    form = import_form()
    job = start_import(form) if form.validate_on_submit() else None
    if job is not None and not wants_fragment():
        return redirect(url_for(".import_status", job_id=job.id))
    return render("devices/import.html", block="import_panel", form=form, **job_context(job))


@bp.route("/import/<int:job_id>")
@permission_required("device.import")
def import_status(job_id: int):
    """An import's progress and outcome; htmx polls it until the job is finished."""
    job = get_visible_or_404(ImportJob, job_id)
    importer.give_up_if_stale(job)
    return render("devices/import.html", block="job_status", form=import_form(job.organisation_id),
                  **job_context(job))


@bp.route("/import/template.<fmt>")
@permission_required("device.import")
def import_template(fmt: str):
    """An empty import file with the header row, as CSV or Excel (Chinese headers in Chinese)."""
    chinese = str(get_locale()).startswith("zh")
    if fmt == "csv":
        data, mimetype = importer.csv_template(chinese), "text/csv"
    elif fmt == "xlsx":
        data = importer.xlsx_template(chinese)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"devices-template.{fmt}", max_age=0)
