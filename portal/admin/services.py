"""Administration logic: saving records, constraint violations as field messages, safe deletes, ending a
user's sessions and the plugin overview. No Flask request in here."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, or_, select
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.extensions import db
from portal.plugins import InstalledPlugin, PluginRegistry
from portal.specs import FormSpec, Standard

UNIQUE_MESSAGE = _l("This value is already in use.")
CONFLICT_MESSAGE = _l("The record conflicts with other records and was not saved. Reload the page and retry.")
CHECK_MESSAGES = {
    "ck_contract_period": ("ends_on", _l("The contract cannot end before it starts.")),
    "ck_contract_far_arrival_positive": ("far_arrival_hours", _l("Enter a number of hours greater than 0.")),
    "ck_contract_remote_response_positive": ("remote_response_hours",
                                             _l("Enter a number of hours greater than 0.")),
    "ck_user_account_one_employer": ("provider_id",
                                     _l("A user belongs to an organisation or a provider, not both.")),
    "ck_user_account_role": ("role", _l("Choose one of the roles.")),
}


def search_statement(model, columns, order_by, query: str = ""):
    """Every record of ``model``, or those with ``query`` in one of ``columns`` (case-insensitive)."""
    statement = select(model).order_by(*order_by)
    if query:
        statement = statement.where(or_(*(column.icontains(query, autoescape=True) for column in columns)))
    return statement


def count(model) -> int:
    """How many records of ``model`` exist."""
    return db.session.scalar(select(func.count()).select_from(model))


def constraint_errors(error: IntegrityError, model) -> dict[str | None, str]:
    """Map a unique or check violation of ``model``'s table to {field name: message}; None: the whole form."""
    text = str(error.orig)
    table = model.__tablename__
    for column in model.__table__.columns:
        if column.unique and (f"{table}.{column.name}" in text or f"uq_{table}_{column.name}" in text):
            return {column.name: UNIQUE_MESSAGE}
    for constraint, (field, message) in CHECK_MESSAGES.items():
        if constraint in text:
            return {field: message}
    return {None: CONFLICT_MESSAGE}


def apply(record, values: dict) -> None:
    """Copy values onto the record's mapped columns (other keys are ignored)."""
    columns = {attr.key for attr in inspect(type(record)).column_attrs}
    for key, value in values.items():
        if key in columns:
            setattr(record, key, value)


def commit(record) -> dict[str | None, str]:
    """Save the record; on a constraint violation save nothing and return the field messages."""
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        return constraint_errors(error, type(record))
    return {}


def save(record, values: dict) -> dict[str | None, str]:
    """Apply the values and save; {} on success, else the field messages."""
    apply(record, values)
    return commit(record)


def end_sessions(user: User) -> None:
    """Invalidate every session of the user: the session id carries the version."""
    user.session_version = (user.session_version or 0) + 1


def save_user(user: User, values: dict, password: str | None = None) -> dict[str | None, str]:
    """Save a user; a deactivation or a new password ends the user's sessions at once."""
    was_active = user.id is not None and user.active
    apply(user, values)
    if password:
        user.set_password(password)
    if was_active and not user.active:
        end_sessions(user)
    return commit(user)


def referencing_columns(model) -> list:
    """Every column, in any table of the schema, that is a foreign key to ``model``'s table."""
    target = model.__table__
    return [key.parent for table in db.metadata.sorted_tables for key in table.foreign_keys
            if key.column.table is target]


def blockers(record, labels: dict[str, str]) -> list[tuple[str, int]]:
    """(label, count) of each kind of record that still refers to ``record``, found from the schema's foreign
    keys so that tables added later are covered too; ``labels`` names the tables (else the table name)."""
    found: dict[str, int] = {}
    for column in referencing_columns(type(record)):
        number = db.session.scalar(select(func.count()).select_from(column.table).where(column == record.id))
        if number:
            label = str(labels.get(column.table.name, column.table.name))
            found[label] = found.get(label, 0) + number
    return list(found.items())


def delete(record, labels: dict[str, str]) -> list[tuple[str, int]]:
    """Delete a record nothing refers to; otherwise change nothing and return what refers to it."""
    found = blockers(record, labels)
    if found:
        return found
    db.session.delete(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return blockers(record, labels) or [(str(_l("other records")), 1)]
    return []


@dataclass(frozen=True)
class PluginOverview:
    """What the plugin page shows about one installed plugin."""

    plugin: InstalledPlugin
    standards: list[Standard]
    forms: list[FormSpec]


def contributed_standards(plugins: PluginRegistry, plugin: InstalledPlugin) -> list[Standard]:
    """The validated standards an enabled plugin contributes."""
    hook = getattr(plugin.module, "portal_standards", None)
    if not plugin.enabled or hook is None:
        return []
    return [plugins.standards[standard.id] for standard in hook() or () if standard.id in plugins.standards]


def plugin_overview(plugins: PluginRegistry) -> list[PluginOverview]:
    """Every installed plugin with, for enabled ones, the standards and forms it contributes."""
    return [
        PluginOverview(
            plugin,
            contributed_standards(plugins, plugin),
            [spec for (owner, _id), spec in plugins.forms.items() if owner == plugin.name],
        )
        for plugin in sorted(plugins.installed.values(), key=lambda installed: installed.name)
    ]
