"""Turn a plugin's declarative ``FormSpec`` into a Flask-WTF form class.

Every built form starts with the organisation the submission belongs to, then one field per
``FieldSpec`` in the spec's order, with validators taken from the spec (required, min/max, max_length,
choices). A ``device`` field is a text input (with a list of suggestions) whose code must resolve to a
device the user may see, in the chosen organisation. Nothing here touches the database: the caller hands
the form the organisation choices and a ``find_device`` function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from portal.specs import FieldSpec, FormSpec, SpecError

RESERVED_NAMES = frozenset({"csrf_token", "submit"})
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 4000, "device": 60}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def select_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms select choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def optional_int(value) -> int | None:
    """Coerce a select's value to an int; the blank prompt ('') becomes None."""
    if value in (None, ""):
        return None
    return int(value)


class DeviceField(StringField):
    """A device code; after validation ``device`` holds the Device it resolved to (or None when empty)."""

    device = None


def resolve_device(form: SpecForm, field: DeviceField) -> None:
    """Resolve the typed code to a visible device of the chosen organisation, or refuse it."""
    field.device = None
    code = (field.data or "").strip()
    if not code:
        return
    device = form.find_device(code)
    if device is None:
        raise ValidationError(_l("No device with this code is visible to you."))
    if form.organisation.data is not None and device.organisation_id != form.organisation.data:
        raise ValidationError(_l("This device belongs to another organisation."))
    field.device = device


class SpecForm(FlaskForm):
    """The base of every built form: the organisation first, the spec's fields after it."""

    organisation = SelectField(_l("Organisation"), coerce=optional_int, validators=[InputRequired()])

    spec: FormSpec

    def __init__(self, *args, organisations=(), find_device: Callable | None = None, **kwargs):
        choices = list(organisations)
        if len(choices) == 1:
            kwargs.setdefault("organisation", choices[0][0])
        super().__init__(*args, **kwargs)
        prompt = [] if len(choices) == 1 else [("", _l("Choose an organisation"))]
        self.organisation.choices = select_choices(prompt + choices)
        self.find_device = find_device or (lambda code: None)

    def spec_fields(self):
        """(FieldSpec, bound field) pairs in the spec's order."""
        return [(field_spec, self[field_spec.name]) for field_spec in self.spec.fields]


def _presence(spec: FieldSpec) -> list:
    """The validator that makes a field required or optional (text must hold more than spaces)."""
    if not spec.required:
        return [Optional()]
    return [DataRequired()] if spec.type in ("text", "textarea", "device", "choice") else [InputRequired()]


def _range(spec: FieldSpec) -> list:
    """A NumberRange when the spec sets min or max."""
    return [NumberRange(min=spec.min, max=spec.max)] if spec.min is not None or spec.max is not None else []


def _length(spec: FieldSpec) -> list:
    """A Length limit: the spec's, or a safe default so stored data stays bounded."""
    return [Length(max=spec.max_length or DEFAULT_MAX_LENGTH[spec.type])]


def _choices(spec: FieldSpec) -> list[SelectChoice]:
    """The spec's choices, after a blank prompt unless a default answers the question already."""
    if spec.required and spec.default is not None:
        return select_choices(spec.choices)
    return select_choices([("", _l("Choose…") if spec.required else "—"), *spec.choices])


def _text_field(spec: FieldSpec, **common):
    return StringField(validators=_presence(spec) + _length(spec), **common)


def _textarea_field(spec: FieldSpec, **common):
    return TextAreaField(validators=_presence(spec) + _length(spec), render_kw={"rows": 4}, **common)


def _integer_field(spec: FieldSpec, **common):
    return IntegerField(validators=_presence(spec) + _range(spec), render_kw={"inputmode": "numeric"},
                        **common)


def _decimal_field(spec: FieldSpec, **common):
    return DecimalField(validators=_presence(spec) + _range(spec), render_kw={"inputmode": "decimal"},
                        **common)


def _choice_field(spec: FieldSpec, **common):
    return SelectField(choices=_choices(spec), validators=_presence(spec), **common)


def _date_field(spec: FieldSpec, **common):
    return DateField(validators=_presence(spec), **common)


def _datetime_field(spec: FieldSpec, **common):
    return DateTimeLocalField(format=DATETIME_FORMAT, validators=_presence(spec), **common)


def _boolean_field(spec: FieldSpec, **common):
    return BooleanField(validators=[InputRequired()] if spec.required else [], **common)


def _device_field(spec: FieldSpec, **common):
    render_kw = {"list": f"{spec.name}-options", "autocomplete": "off"}
    return DeviceField(validators=_presence(spec) + _length(spec) + [resolve_device], render_kw=render_kw,
                       **common)


FIELD_BUILDERS = {
    "text": _text_field,
    "textarea": _textarea_field,
    "integer": _integer_field,
    "decimal": _decimal_field,
    "choice": _choice_field,
    "date": _date_field,
    "datetime": _datetime_field,
    "boolean": _boolean_field,
    "device": _device_field,
}


def make_field(spec: FieldSpec):
    """The unbound WTForms field for one FieldSpec."""
    common = {"label": spec.label, "description": spec.help, "default": spec.default}
    return FIELD_BUILDERS[spec.type](spec, **common)


def form_class(spec: FormSpec) -> type[SpecForm]:
    """A SpecForm subclass with one field per FieldSpec; SpecError for a name the base form already uses
    (``organisation``, ``data``, ``errors``, ``csrf_token`` …)."""
    clashing = sorted(name for name in (field_spec.name for field_spec in spec.fields)
                      if name in RESERVED_NAMES or hasattr(SpecForm, name))
    if clashing:
        raise SpecError(f"form {spec.id}: field names {', '.join(clashing)} are reserved")
    attributes = {field_spec.name: make_field(field_spec) for field_spec in spec.fields}
    attributes["spec"] = spec
    return type(f"{spec.plugin or 'plugin'}_{spec.id}_form", (SpecForm,), attributes)


def json_value(spec: FieldSpec, field, zone) -> object:
    """A field's validated value in a JSON-safe shape (datetimes with the deployment's offset)."""
    if spec.type == "device":
        return field.device.code if field.device is not None else None
    value = field.data
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def form_data(form: SpecForm, zone) -> dict:
    """Every spec field's value, keyed by field name, ready for a JSON column."""
    return {spec.name: json_value(spec, field, zone) for spec, field in form.spec_fields()}


def first_device(form: SpecForm):
    """The Device of the form's first device field that has one, else None."""
    for spec, field in form.spec_fields():
        if spec.type == "device" and field.device is not None:
            return field.device
    return None
