"""The administered resources, declared as data: model, form, list columns, search columns, deletable.

``portal.admin.views`` turns each declaration into a list page with search and paging, a create page and an
edit page (and a delete action when the resource can be deleted), so a new resource is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal.admin import forms, services
from portal.auth.models import User
from portal.auth.roles import ROLE_LABELS
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.plugins import registry
from portal.templating import local_datetime


@dataclass(frozen=True)
class Column:
    """One column of a list page: its heading and how to get the value shown from a record."""

    label: str
    value: Callable[[Any], Any]


def save_record(record, form) -> dict:
    """The default save: the form's values onto the record's columns."""
    return services.save(record, form.values())


def save_user(user: User, form) -> dict:
    """Users: also the password, and the end of their sessions when deactivated."""
    return services.save_user(user, form.values(), form.new_password())


@dataclass(frozen=True)
class Resource:
    """One administered kind of record. Not ``deletable``: never deleted (users are deactivated instead)."""

    name: str
    model: type
    title: str
    new_label: str
    form: type
    columns: tuple[Column, ...]
    search: tuple
    order_by: tuple
    edit_form: type | None = None
    deletable: bool = True
    options: tuple = ()
    save: Callable[[Any, Any], dict] = save_record

    @property
    def path(self) -> str:
        """The URL segment, e.g. ``service-points``."""
        return self.name.replace("_", "-")

    def form_class(self, record) -> type:
        """The form for a new record or for editing an existing one."""
        return self.edit_form if record is not None and self.edit_form else self.form

    def statement(self, query: str = ""):
        """The list query, filtered by the search text."""
        return services.search_statement(self.model, self.search, self.order_by, query).options(*self.options)


def standard_label(standard_id: str) -> str:
    """A standard's title, or its id marked as not enabled."""
    standard = registry().standard(standard_id)
    return standard.title if standard else _l("%(id)s (not enabled)", id=standard_id)


def employer(user: User) -> str:
    """The organisation or provider a user works for, or '' for deployment-wide users."""
    return str(user.organisation or user.provider or "")


ORGANISATIONS = Resource(
    name="organisations",
    model=Organisation,
    title=_l("Organisations"),
    new_label=_l("New organisation"),
    form=forms.OrganisationForm,
    columns=(
        Column(_l("Name"), lambda org: org.name),
        Column(_l("Code"), lambda org: org.code),
        Column(_l("Service standard"), lambda org: standard_label(org.standard)),
        Column(_l("Contact"), lambda org: " ".join(filter(None, (org.contact_name, org.contact_phone)))),
        Column(_l("Active"), lambda org: org.active),
    ),
    search=(Organisation.code, Organisation.name, Organisation.contact_name, Organisation.address),
    order_by=(Organisation.name, Organisation.id),
)

PROVIDERS = Resource(
    name="providers",
    model=Provider,
    title=_l("Providers"),
    new_label=_l("New provider"),
    form=forms.ProviderForm,
    columns=(
        Column(_l("Name"), lambda provider: provider.name),
        Column(_l("Code"), lambda provider: provider.code),
        Column(_l("Business licence number"), lambda provider: provider.licence_number),
        Column(_l("Contact"), lambda provider: " ".join(filter(None, (provider.contact_name,
                                                                        provider.contact_phone)))),
        Column(_l("Active"), lambda provider: provider.active),
    ),
    search=(Provider.code, Provider.name, Provider.licence_number, Provider.contact_name),
    order_by=(Provider.name, Provider.id),
)

CONTRACTS = Resource(
    name="contracts",
    model=Contract,
    title=_l("Contracts"),
    new_label=_l("New contract"),
    form=forms.ContractForm,
    columns=(
        Column(_l("Contract number"), lambda contract: contract.number),
        Column(_l("Organisation"), lambda contract: contract.organisation.name),
        Column(_l("Provider"), lambda contract: contract.provider.name),
        Column(_l("Service standard"), lambda contract: standard_label(contract.standard)),
        Column(_l("Period"), lambda contract: f"{contract.starts_on} – {contract.ends_on or ''}"),
        Column(_l("On-site deadline ≥ 100 km (h)"), lambda contract: contract.far_arrival_hours),
    ),
    search=(Contract.number, Contract.standard, Contract.notes),
    order_by=(Contract.starts_on.desc(), Contract.number),
    options=(selectinload(Contract.organisation), selectinload(Contract.provider)),
)

SERVICE_POINTS = Resource(
    name="service_points",
    model=ServicePoint,
    title=_l("Service points"),
    new_label=_l("New service point"),
    form=forms.ServicePointForm,
    columns=(
        Column(_l("Name"), lambda point: point.name),
        Column(_l("Code"), lambda point: point.code),
        Column(_l("Organisation"), lambda point: point.organisation.name),
        Column(_l("Provider"), lambda point: point.provider.name if point.provider else ""),
        Column(_l("Phone"), lambda point: point.phone),
    ),
    search=(ServicePoint.code, ServicePoint.name, ServicePoint.address, ServicePoint.phone),
    order_by=(ServicePoint.name, ServicePoint.id),
    options=(selectinload(ServicePoint.organisation), selectinload(ServicePoint.provider)),
)

USERS = Resource(
    name="users",
    model=User,
    title=_l("Users"),
    new_label=_l("New user"),
    form=forms.UserCreateForm,
    edit_form=forms.UserEditForm,
    columns=(
        Column(_l("Username"), lambda user: user.username),
        Column(_l("Display name"), lambda user: user.display_name),
        Column(_l("Role"), lambda user: ROLE_LABELS.get(user.role, user.role)),
        Column(_l("Organisation or provider"), employer),
        Column(_l("Active"), lambda user: user.active),
        Column(_l("Last sign-in"), lambda user: local_datetime(user.last_login_at)),
    ),
    search=(User.username, User.display_name, User.email, User.phone, User.role),
    order_by=(User.username,),
    options=(selectinload(User.organisation), selectinload(User.provider)),
    deletable=False,
    save=save_user,
)

# How a table that refers to a record is named when the record cannot be deleted because of it.
REFERRING_TABLES = {
    "device": _l("devices"),
    "contract": _l("contracts"),
    "service_point": _l("service points"),
    "user_account": _l("users"),
    "fault_report": _l("fault reports"),
    "form_submission": _l("form submissions"),
    "import_job": _l("device imports"),
    "work_order": _l("work orders"),
}

RESOURCES: dict[str, Resource] = {
    resource.name: resource for resource in (ORGANISATIONS, PROVIDERS, CONTRACTS, SERVICE_POINTS, USERS)
}
