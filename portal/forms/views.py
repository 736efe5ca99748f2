"""Plugin forms: one generic set of pages renders, validates and stores every FormSpec a plugin declares."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.session import permission_required
from portal.forms import services
from portal.pagination import page_number, paginate
from portal.web import render, wants_fragment

bp = Blueprint("forms", __name__, url_prefix="/forms")


def spec_or_404(plugin: str, form_id: str):
    """The enabled plugin's form spec, or 404 (unknown form, unknown or disabled plugin)."""
    spec = services.get_spec(plugin, form_id)
    if spec is None:
        abort(404)
    return spec


@bp.route("/")
@permission_required("form.view")
def index():
    """The forms of the enabled plugins, grouped by plugin, with the clauses each serves."""
    return render("forms/index.html", groups=services.form_groups(current_user))


@bp.route("/<plugin>/<form_id>", methods=["GET", "POST"])
@permission_required("form.view")
def fill(plugin: str, form_id: str):
    """Show a plugin's form; store a valid submission (htmx swaps only the form block)."""
    spec = spec_or_404(plugin, form_id)
    if not services.may_fill(current_user, spec):
        abort(403)
    organisations = services.eligible_organisations(spec)
    form = services.make_form(spec, organisations)
    if organisations and form.validate_on_submit():
        submission = services.save_submission(form, current_user)
        return saved(spec, organisations, submission)
    return render_fill(spec, organisations, form)


def render_fill(spec, organisations, form, submission=None):
    """The form page, or only its form block for htmx."""
    return render("forms/fill.html", "form_block", spec=spec, form=form, organisations=organisations,
                  device_codes=device_codes(spec, organisations), submission=submission)


def device_codes(spec, organisations) -> list[str]:
    """Suggestions for device fields, only queried when the form has one."""
    if not any(field.type == "device" for field in spec.fields):
        return []
    return services.device_suggestions(organisations)


def saved(spec, organisations, submission):
    """After a submission: htmx gets a fresh form with the success message, others a redirect."""
    if wants_fragment():
        fresh = services.make_form(spec, organisations, formdata=None)
        return render_fill(spec, organisations, fresh, submission)
    flash(_("Thank you: the form has been saved."), "success")
    return redirect(url_for("forms.submission", plugin=spec.plugin, form_id=spec.id,
                            submission_id=submission.id))


@bp.route("/<plugin>/<form_id>/submissions")
@permission_required("form.view")
def submissions(plugin: str, form_id: str):
    """The submissions of a form from the organisations the user may see, newest first, paged."""
    spec = spec_or_404(plugin, form_id)
    page = paginate(services.submissions_statement(spec), page_number(request.args.get("page")),
                    current_app.config["PORTAL_PAGE_SIZE"])
    return render("forms/submissions.html", "results", spec=spec, page=page,
                  columns=services.summary_fields(spec), display_value=services.display_value,
                  may_fill=services.may_fill(current_user, spec))


@bp.route("/<plugin>/<form_id>/submissions/<int:submission_id>")
@permission_required("form.view")
def submission(plugin: str, form_id: str, submission_id: int):
    """One submission; another organisation's answers 404 as if it did not exist."""
    spec = spec_or_404(plugin, form_id)
    record = services.get_submission(spec, submission_id)
    if record is None:
        abort(404)
    return render("forms/submission.html", spec=spec, submission=record,
                  rows=services.display_rows(spec, record.data))
