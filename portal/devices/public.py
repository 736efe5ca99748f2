"""The public fault-report page opened by scanning a device's QR code (PK-7.2 c): no sign-in."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for

from portal.devices import services
from portal.devices.forms import FaultReportForm
from portal.extensions import limiter
from portal.web import render

bp = Blueprint("public", __name__)

REPORT_LIMIT = "10 per hour"


@bp.route("/r/<code>", methods=["GET", "POST"])
@limiter.limit(REPORT_LIMIT, methods=["POST"])
def report(code: str):
    """Show the device (code, kind, address only) and take a fault report for it."""
    device = services.device_by_code(code)
    if device is None:
        return render("public/unknown.html", status=404, code=code)
    form = FaultReportForm()
    if form.validate_on_submit():
        services.report_fault(device, form.description.data, form.contact_name.data or "",
                              form.contact_phone.data or "")
        return redirect(url_for(".thanks", code=device.code))
    return render("public/report.html", device=device, form=form)


@bp.route("/r/<code>/thanks")
def thanks(code: str):
    """Confirm that the report was received."""
    if services.device_by_code(code) is None:
        return render("public/unknown.html", status=404, code=code)
    return render("public/thanks.html", code=code)
