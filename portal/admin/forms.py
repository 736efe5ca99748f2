"""The administration forms: one per resource, field names equal to the model's column names."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from portal.auth.roles import ADMIN, AUDITOR, ORGANISATION_ROLES, PROVIDER_ROLES, ROLE_LABELS
from portal.extensions import db
from portal.orgs.models import Organisation, Provider
from portal.plugins import registry

PASSWORD_MIN = 10
EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address such as name@example.cn."))
NO_SPACES = Regexp(r"^\S+$", message=_l("No spaces, please."))


def strip(value):
    """Trim surrounding blanks from text input."""
    return value.strip() if isinstance(value, str) else value


def optional_id(value):
    """A record id from a select, or None for the empty choice."""
    if value in (None, "", "None"):
        return None
    return int(value)


def positive_hours(form, field) -> None:
    """Hours must be more than zero when given."""
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Enter a number of hours greater than 0."))


def text(label, *validators, max_length: int, required: bool = False, kind=StringField, **kwargs):
    """A trimmed text field limited to the column's length; ``kind`` picks the input (e.g. TelField)."""
    first = DataRequired() if required else Optional()
    return kind(label, [first, Length(max=max_length), *validators], filters=[strip], default="", **kwargs)


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def id_choices(model, blank_label) -> list[SelectChoice]:
    """Every record of ``model`` by name for a select, after a blank entry."""
    rows = db.session.execute(select(model.id, model.name).order_by(model.name)).all()
    return options([("", blank_label), *((row.id, row.name) for row in rows)])


def standard_choices(blank_label) -> list[SelectChoice]:
    """The enabled standards for a select, after a blank entry."""
    return options([("", blank_label), *registry().standard_choices()])


class AdminForm(FlaskForm):
    """A form whose field names are model columns; ``values()`` is what gets saved."""

    record = None
    not_saved: tuple[str, ...] = ()

    def __init__(self, *args, record=None, **kwargs):
        super().__init__(*args, obj=record, **kwargs)
        self.record = record
        self.load_choices()

    def load_choices(self) -> None:
        """Fill select fields whose choices come from the database or the plugins."""

    def values(self) -> dict:
        """The validated input keyed by column name."""
        skipped = {"csrf_token", *self.not_saved}
        return {name: field.data for name, field in self._fields.items() if name not in skipped}


class OrganisationForm(AdminForm):
    """A service requester and the standard that governs its service."""

    code = text(_l("Code"), NO_SPACES, max_length=40, required=True)
    name = text(_l("Name"), max_length=200, required=True)
    standard = SelectField(_l("Service standard"), validators=[DataRequired()],
                           invalid_choice_message=_l("Choose one of the enabled standards."))
    contact_name = text(_l("Contact name"), max_length=80)
    contact_phone = text(_l("Contact phone"), max_length=40, kind=TelField)
    contact_email = text(_l("Contact e-mail"), EMAIL, max_length=120, kind=EmailField)
    address = text(_l("Address"), max_length=300)
    active = BooleanField(_l("Active"), default=True)

    def load_choices(self) -> None:
        self.standard.choices = standard_choices(_l("Choose a standard"))


class ProviderForm(AdminForm):
    """An O&M service provider (PK-4.1, PK-4.2)."""

    code = text(_l("Code"), NO_SPACES, max_length=40, required=True)
    name = text(_l("Name"), max_length=200, required=True)
    licence_number = text(_l("Business licence number"), max_length=60)
    contact_name = text(_l("Contact name"), max_length=80)
    contact_phone = text(_l("Contact phone"), max_length=40, kind=TelField)
    address = text(_l("Address"), max_length=300)
    active = BooleanField(_l("Active"), default=True)


class ContractForm(AdminForm):
    """A contract between an organisation and a provider, with its per-contract figures (PK-5.1)."""

    number = text(_l("Contract number"), max_length=60, required=True)
    organisation_id = SelectField(_l("Organisation"), coerce=optional_id, validators=[DataRequired()])
    provider_id = SelectField(_l("Provider"), coerce=optional_id, validators=[DataRequired()])
    standard = SelectField(_l("Service standard"), default="",
                           description=_l(
                               "Keep the organisation's standard unless the contract names another."),
                           invalid_choice_message=_l("Choose one of the enabled standards."))
    starts_on = DateField(_l("Starts on"), validators=[DataRequired()])
    ends_on = DateField(_l("Ends on"), validators=[Optional()])
    far_arrival_hours = DecimalField(
        _l("On-site deadline for terminals 100 km or more away (hours)"), places=2,
        validators=[Optional(), positive_hours, NumberRange(max=Decimal("9999"))],
        description=_l("PK-5.1: 'per contract'. Leave empty when the contract sets no figure."))
    remote_response_hours = DecimalField(
        _l("Remote response deadline (hours)"), places=2,
        validators=[Optional(), positive_hours, NumberRange(max=Decimal("9999"))],
        description=_l("Only when the contract overrides the standard's figure."))
    notes = TextAreaField(_l("Notes"), filters=[strip], default="", validators=[Length(max=4000)])

    def load_choices(self) -> None:
        self.organisation_id.choices = id_choices(Organisation, _l("Choose an organisation"))
        self.provider_id.choices = id_choices(Provider, _l("Choose a provider"))
        self.standard.choices = standard_choices(_l("The organisation's standard"))

    def validate_ends_on(self, field) -> None:
        """A contract ends on or after the day it starts."""
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The contract cannot end before it starts."))

    def validate_standard(self, field) -> None:
        """Left empty, the organisation's standard applies, and it must be enabled."""
        if field.data or self.organisation_id.data is None:
            return
        organisation = db.session.get(Organisation, self.organisation_id.data)
        if organisation is not None and registry().standard(organisation.standard) is None:
            raise ValidationError(_l("The organisation's standard is not enabled; choose an enabled one."))

    def values(self) -> dict:
        """The values, with the organisation's standard when none was chosen."""
        values = super().values()
        if not values["standard"]:
            values["standard"] = db.session.get(Organisation, values["organisation_id"]).standard
        return values


class ServicePointForm(AdminForm):
    """A provider's service point serving one organisation."""

    code = text(_l("Code"), NO_SPACES, max_length=40, required=True)
    name = text(_l("Name"), max_length=200, required=True)
    address = text(_l("Address"), max_length=300)
    phone = text(_l("Phone"), max_length=40, kind=TelField)
    organisation_id = SelectField(_l("Organisation"), coerce=optional_id, validators=[DataRequired()])
    provider_id = SelectField(_l("Provider"), coerce=optional_id, validators=[Optional()])

    def load_choices(self) -> None:
        self.organisation_id.choices = id_choices(Organisation, _l("Choose an organisation"))
        self.provider_id.choices = id_choices(Provider, _l("No provider"))


def employer_errors(role: str, organisation_id: int | None, provider_id: int | None) -> dict[str, str]:
    """Which employer a role needs: provider staff a provider, requesters an organisation, admins none."""
    errors = {}
    if role in PROVIDER_ROLES and provider_id is None:
        errors["provider_id"] = _l("Service desk clerks and engineers belong to a provider.")
    if role in ORGANISATION_ROLES and organisation_id is None:
        errors["organisation_id"] = _l("Requesters belong to an organisation.")
    if role not in ORGANISATION_ROLES + (AUDITOR,) and organisation_id is not None:
        errors["organisation_id"] = _l("This role does not belong to an organisation.")
    if role not in PROVIDER_ROLES + (AUDITOR,) and provider_id is not None:
        errors["provider_id"] = _l("This role does not belong to a provider.")
    if role == AUDITOR and organisation_id is not None and provider_id is not None:
        errors["provider_id"] = _l("An auditor reviews one organisation or one provider, not both.")
    return errors


class UserForm(AdminForm):
    """A person who signs in: role, employer and contact details."""

    not_saved = ("password",)

    username = text(_l("Username"), NO_SPACES, max_length=80, required=True)
    display_name = text(_l("Display name"), max_length=120)
    role = SelectField(_l("Role"), choices=options(ROLE_LABELS.items()), validators=[DataRequired()])
    organisation_id = SelectField(_l("Organisation"), coerce=optional_id, validators=[Optional()],
                                  description=_l("Requesters; auditors of one organisation."))
    provider_id = SelectField(_l("Provider"), coerce=optional_id, validators=[Optional()],
                              description=_l("Clerks and engineers; auditors of one provider."))
    email = text(_l("E-mail"), EMAIL, max_length=120, kind=EmailField)
    phone = text(_l("Phone"), max_length=40, kind=TelField)
    active = BooleanField(_l("Active"), default=True,
                          description=_l("A deactivated user is signed out at once and cannot sign in."))

    def load_choices(self) -> None:
        self.organisation_id.choices = id_choices(Organisation, _l("None"))
        self.provider_id.choices = id_choices(Provider, _l("None"))

    def validate(self, extra_validators=None) -> bool:
        """The field checks, then whether the role's employer (organisation or provider) fits."""
        valid = super().validate(extra_validators)
        for name, message in employer_errors(self.role.data, self.organisation_id.data,
                                             self.provider_id.data).items():
            self[name].errors.append(message)
            valid = False
        return valid

    def is_self(self) -> bool:
        """Whether the admin is editing their own account."""
        return self.record is not None and self.record.id == current_user.id

    def validate_active(self, field) -> None:
        """An admin cannot lock themselves out."""
        if not field.data and self.is_self():
            raise ValidationError(_l("You cannot deactivate your own account."))

    def validate_role(self, field) -> None:
        """An admin cannot take away their own administration rights."""
        if field.data != ADMIN and self.is_self():
            raise ValidationError(_l("You cannot take away your own administrator role."))

    def new_password(self) -> str | None:
        """The password to set, if one was typed."""
        return self.password.data or None


class UserCreateForm(UserForm):
    """A new user, with their first password."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=PASSWORD_MIN, max=200)],
                             render_kw={"autocomplete": "new-password"})


class UserEditForm(UserForm):
    """An existing user; a new password is optional."""

    password = PasswordField(_l("Set a new password"),
                             validators=[Optional(), Length(min=PASSWORD_MIN, max=200)],
                             description=_l("Leave empty to keep the current password. A new password "
                                            "signs the user out everywhere."),
                             render_kw={"autocomplete": "new-password"})
