"""Forms of the device archive: a device, the public fault report and the import upload."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # older WTForms: plain tuples
    def SelectChoice(value, label):  # noqa: N802 - stands in for the class
        return (value, label)

from portal.devices import services
from portal.devices.models import DEVICE_STATUSES

CODE_PATTERN = r"^[^\s/\\?#%]+$"
MAX_DISTANCE = Decimal("999999.99")
PHONE_PATTERN = re.compile(r"^(?:(?:\+|00)?86)?1[3-9]\d{9}$|^0\d{9,11}$|^[48]00\d{7}$")
PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")


def choice(value, label):
    """One option of a select field."""
    return SelectChoice(value, label)


def strip(value):
    """Drop surrounding blanks from typed text."""
    return value.strip() if isinstance(value, str) else value


def optional_int(value):
    """Coerce a select value to an id, the empty choice to None."""
    if value in (None, "", "None"):
        return None
    return int(value)


def normalise_phone(value: str) -> str:
    """A phone number without spaces, hyphens or brackets."""
    return PHONE_SEPARATORS.sub("", value or "")


def is_phone_number(value: str) -> bool:
    """Whether a value is a mainland China mobile, landline (with area code) or 400/800 number."""
    return bool(PHONE_PATTERN.match(normalise_phone(value)))


class DeviceForm(FlaskForm):
    """A device's archive entry (PK-7.6). Views fill the choices for the chosen organisation."""

    organisation_id = SelectField(_l("Organisation"), coerce=int)
    code = StringField(_l("Code"), filters=[strip], validators=[
        DataRequired(_l("Enter the device code.")), Length(max=60),
        Regexp(CODE_PATTERN, message=_l("A code may not contain spaces or the characters / \\ ? # %.")),
    ])
    model = StringField(_l("Model"), filters=[strip], validators=[Length(max=120)])
    serial_number = StringField(_l("Serial number"), filters=[strip], validators=[Length(max=120)])
    kind = StringField(_l("Kind"), filters=[strip], validators=[Length(max=60)],
                       render_kw={"list": "device-kind-suggestions", "autocomplete": "off"})
    status = SelectField(_l("Status"), default="in_service",
                         choices=[choice(key, label) for key, label in DEVICE_STATUSES.items()])
    owning_unit = StringField(_l("Owning unit"), filters=[strip], validators=[Length(max=200)])
    address = StringField(_l("Installation address"), filters=[strip], validators=[Length(max=300)])
    service_point_id = SelectField(_l("Service point"), coerce=optional_int)
    maintainer_id = SelectField(_l("Maintainer"), coerce=optional_int)
    distance_km = DecimalField(
        _l("Distance to the service point (km)"), places=2,
        validators=[Optional(), NumberRange(min=0, max=MAX_DISTANCE,
                                            message=_l("Enter a distance from 0 to 999999.99 km."))],
    )
    installed_on = DateField(_l("Installed on"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), filters=[strip], validators=[Length(max=5000)], render_kw={"rows": 3})

    def __init__(self, *args, device_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.device_id = device_id

    def validate_code(self, field) -> None:
        """Codes are unique across the portal: they name the device in its QR code."""
        if field.data and services.code_in_use(field.data, self.device_id):
            raise ValidationError(_l("Code already used by another device."))

    def values(self) -> dict:
        """The validated values, keyed by device attribute."""
        return {name: getattr(self, name).data for name in services.EDITABLE_FIELDS}


class FaultReportForm(FlaskForm):
    """What a passer-by tells about a faulty terminal after scanning its QR code (PK-7.2 c)."""

    description = TextAreaField(
        _l("What is wrong?"), filters=[strip],
        validators=[DataRequired(_l("Please describe the fault.")), Length(max=2000)],
        render_kw={"rows": 5, "maxlength": 2000},
    )
    contact_name = StringField(_l("Your name (optional)"), filters=[strip], validators=[Length(max=80)],
                               render_kw={"autocomplete": "name"})
    contact_phone = StringField(
        _l("Your phone number (optional)"), filters=[strip, normalise_phone], validators=[Length(max=40)],
        render_kw={"autocomplete": "tel", "inputmode": "tel", "type": "tel"},
    )

    def validate_contact_phone(self, field) -> None:
        """An optional phone number, but a real one when given."""
        if field.data and not is_phone_number(field.data):
            raise ValidationError(_l("Enter a mobile number (11 digits) or a landline with its area code."))


class ImportForm(FlaskForm):
    """The file to import and the organisation its devices belong to."""

    organisation_id = SelectField(_l("Organisation"), coerce=int)
    file = FileField(_l("CSV or Excel (.xlsx) file"),
                     validators=[FileRequired(_l("Choose a file to import."))],
                     render_kw={"accept": ".csv,.xlsx"})
