"""Administration: organisations, providers, contracts, service points, users and the plugin page.

The record pages are generic: each resource declared in ``portal.admin.resources`` gets the endpoints
``admin.<name>`` (list), ``admin.<name>_new``, ``admin.<name>_edit`` and, when it can be deleted,
``admin.<name>_delete``.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from portal.admin import services
from portal.admin.resources import REFERRING_TABLES, RESOURCES, Resource
from portal.auth.session import permission_required
from portal.extensions import db
from portal.pagination import page_number, paginate
from portal.plugins import registry
from portal.web import render

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@permission_required("admin")
def index():
    """The administration home: each resource with its number of records, and the plugin page."""
    counts = {resource.name: services.count(resource.model) for resource in RESOURCES.values()}
    return render("admin/index.html", resources=RESOURCES.values(), counts=counts)


@bp.route("/plugins")
@permission_required("admin")
def plugins():
    """Every installed plugin, and what the enabled ones contribute (read-only)."""
    return render("admin/plugins.html", overview=services.plugin_overview(registry()),
                  setting=current_app.config["PORTAL_PLUGINS"])


def load(resource: Resource, record_id: int):
    """The record, or 404."""
    return db.session.get(resource.model, record_id) or abort(404)


@permission_required("admin")
def record_list(resource: str):
    """List one kind of record, with search and paging (htmx swaps only the results)."""
    spec = RESOURCES[resource]
    query = request.args.get("q", "").strip()
    page = paginate(spec.statement(query), page_number(request.args.get("page")),
                    current_app.config["PORTAL_PAGE_SIZE"])
    return render("admin/list.html", "results", spec=spec, page=page, query=query)


@permission_required("admin")
def record_new(resource: str):
    """Create a record: the empty form, or the saved record and back to the list."""
    return record_form(RESOURCES[resource], None)


@permission_required("admin")
def record_edit(resource: str, record_id: int):
    """Edit a record: the filled form, or the saved record and back to the list."""
    spec = RESOURCES[resource]
    return record_form(spec, load(spec, record_id))


def record_form(spec: Resource, record):
    """Show and process a create or edit form; on any error nothing is saved and the input stays."""
    form = spec.form_class(record)(record=record)
    if form.validate_on_submit():
        target = record if record is not None else spec.model()
        errors = spec.save(target, form)
        if not errors:
            keep_own_session(target)
            flash(_("Saved: %(name)s.", name=target), "success")
            return redirect(url_for(f"admin.{spec.name}"))
        add_errors(form, errors)
    blockers = services.blockers(record, REFERRING_TABLES) if record is not None and spec.deletable else []
    return render("admin/form.html", spec=spec, form=form, record=record, blockers=blockers)


def add_errors(form, errors: dict) -> None:
    """Show errors found while saving next to their fields (None: above the form)."""
    for name, message in errors.items():
        if name is not None and name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            form.form_errors.append(message)


def keep_own_session(user) -> None:
    """An admin who changed their own password stays signed in, with a session of the new version."""
    if user is current_user._get_current_object():
        login_user(user)


@permission_required("admin")
def record_delete(resource: str, record_id: int):
    """Delete a record nothing depends on; otherwise refuse and say what depends on it."""
    spec = RESOURCES[resource]
    record = load(spec, record_id)
    name = str(record)
    found = services.delete(record, REFERRING_TABLES)
    if found:
        what = ", ".join(f"{label}: {number}" for label, number in found)
        flash(_("%(name)s was not deleted because other records depend on it (%(what)s).", name=name,
                what=what), "error")
        return redirect(url_for(f"admin.{spec.name}_edit", record_id=record_id))
    flash(_("Deleted: %(name)s.", name=name), "success")
    return redirect(url_for(f"admin.{spec.name}"))


def register(resource: Resource) -> None:
    """Add the list, create, edit and (when allowed) delete URLs of one resource."""
    base, defaults = f"/{resource.path}", {"resource": resource.name}
    bp.add_url_rule(f"{base}/", resource.name, record_list, defaults=defaults)
    bp.add_url_rule(f"{base}/new", f"{resource.name}_new", record_new, methods=["GET", "POST"],
                    defaults=defaults)
    bp.add_url_rule(f"{base}/<int:record_id>", f"{resource.name}_edit", record_edit, methods=["GET", "POST"],
                    defaults=defaults)
    if resource.deletable:
        bp.add_url_rule(f"{base}/<int:record_id>/delete", f"{resource.name}_delete", record_delete,
                        methods=["POST"], defaults=defaults)


for _resource in RESOURCES.values():
    register(_resource)
