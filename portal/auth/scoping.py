"""Organisation scoping: which organisations' records a user may see."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from flask import abort, g, has_request_context
from flask_login import current_user
from sqlalchemy import Boolean, Integer, any_, bindparam, false, func, null, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from portal.auth.roles import ADMIN, AUDITOR
from portal.database import entity_columns, loaded, rows
from portal.extensions import db
from portal.orgs.models import Contract, Organisation

# Built once (every page runs it): the organisations a provider is contracted by.
PROVIDER_ORGANISATIONS = select(Contract.organisation_id).where(Contract.provider_id == bindparam("provider_id"))


class VisibleOrganisation(NamedTuple):
    """An active organisation a user may see, as choices and menus show it."""

    id: int
    code: str
    name: str
    standard: str


def organisation_ids_for(user, covered: frozenset[int] | None = None) -> frozenset[int] | None:
    """The organisations a user may see; None means every organisation (deployment staff). ``covered``: the
    organisations of the user's provider's contracts, when already read (``user_with_organisations``)."""
    if user.role == ADMIN:
        return None
    if user.provider_id is not None:
        if covered is None:
            covered = frozenset(row[0] for row in rows(PROVIDER_ORGANISATIONS, {"provider_id": user.provider_id}))
        return covered
    if user.organisation_id is not None:
        return frozenset({user.organisation_id})
    if user.role == AUDITOR:
        return None
    return frozenset()


def user_with_organisations(user_id: int):
    """The user with this id (None if there is none) and, read by the same statement, the organisations
    their provider's contracts cover (or their own organisation), kept for this request as the user's
    scope and visible organisations: a signed-in page then sends no statement of its own for either.
    ``forget_visible`` drops them when the caller does not sign the user in."""
    from portal.auth.models import User

    found = rows(_user_with_organisations_select(), {"user_id": user_id})
    if not found:
        return None
    user = loaded(User, found[0])
    joined = [(VisibleOrganisation(*row[-5:-1]), row[-1]) for row in found[1:]]
    ids = organisation_ids_for(user, frozenset(organisation.id for organisation, _active in joined))
    if has_request_context():
        g.visible_org_ids = (user.get_id(), ids)
        if ids is not None:
            g.visible_organisations = (user.get_id(), [organisation for organisation, active in joined if active])
    return user


@lru_cache(maxsize=1)
def _user_with_organisations_select():
    """The user by id, then one row for each organisation their provider's contracts or their own
    organisation name, by organisation name: the user's row holds the user's columns (``database.loaded``
    makes the entity) and no organisation; an organisation's row its id, code, name, standard and whether it
    is active, and no user's columns (a page would read and convert them again for each organisation)."""
    from portal.auth.models import User

    user_columns = entity_columns(User)
    organisation_columns = (Organisation.id, Organisation.code, Organisation.name, Organisation.standard,
                            Organisation.active)
    nothing = [null().label(f"no_{index}") for index in range(len(user_columns))]
    the_user = select(*user_columns, *(type_coerce(null(), column.type).label(f"covered_{column.key}")
                                       for column in organisation_columns)).where(User.id == bindparam("user_id"))
    covered = func.coalesce(Contract.organisation_id, User.organisation_id)
    organisations = (select(*nothing, *organisation_columns)
                     .select_from(User).outerjoin(Contract, Contract.provider_id == User.provider_id)
                     .join(Organisation, Organisation.id == covered)
                     .where(User.id == bindparam("user_id")))
    by_name = the_user.union_all(organisations).subquery()
    return select(by_name).order_by(by_name.c[len(user_columns) + 2].nulls_first())


def visible_organisation_ids() -> frozenset[int] | None:
    """The current user's visible organisations, computed once per request."""
    user_id = current_user.get_id() if current_user.is_authenticated else None
    cached = g.get("visible_org_ids")
    if cached is None or cached[0] != user_id:
        ids = organisation_ids_for(current_user) if user_id else frozenset()
        g.visible_org_ids = cached = (user_id, ids)
    return cached[1]


def visible_organisations() -> list:
    """The active organisations the current user may see, by name (for choices and menus; not entities);
    read once per request (the menu, the filters and the forms of one page all ask), or with the signed-in
    user (``user_with_organisations``)."""
    if not has_request_context():
        return _read_visible_organisations()
    user_id = current_user.get_id() if current_user.is_authenticated else None
    cached = g.get("visible_organisations")
    if cached is None or cached[0] != user_id:
        g.visible_organisations = cached = (user_id, _read_visible_organisations())
    return cached[1]


def _read_visible_organisations() -> list[VisibleOrganisation]:
    scope, params = scope_of()
    return [VisibleOrganisation(*row) for row in rows(_visible_organisations_select(scope), params)]


@lru_cache(maxsize=3)
def _visible_organisations_select(scope: str):
    statement = (select(Organisation.id, Organisation.code, Organisation.name, Organisation.standard)
                 .where(Organisation.active.is_(True)).order_by(Organisation.name))
    return scoped_by_parameter(statement, Organisation.id, scope)


def forget_visible() -> None:
    """Drop what the previous request worked out about the user's organisations (the app context, and so
    ``g``, can outlive a request: in tests, or a CLI command serving several)."""
    g.pop("visible_org_ids", None)
    g.pop("visible_organisations", None)


def scoped(statement, column):
    """Restrict a select to rows whose organisation column the current user may see."""
    ids = visible_organisation_ids()
    if ids is None:
        return statement
    return statement.where(column.in_(ids)) if ids else statement.where(false())


def scope_of() -> tuple[str, dict]:
    """The current user's scope for a statement built once (``scoped_by_parameter``): ``all`` (every
    organisation), ``none`` or ``some``, and the bind parameters it needs."""
    ids = visible_organisation_ids()
    if ids is None:
        return "all", {}
    return ("some", {"scope": sorted(ids)}) if ids else ("none", {})


class InScope(ColumnElement):
    """``column`` is one of the organisations in the bind parameter ``scope`` (a list of ids). On PostgreSQL
    ``column = ANY(:scope)``, one array parameter however many organisations there are; elsewhere an
    expanding ``IN``, which SQLAlchemy writes out anew, one parameter per id, on every execution."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column) -> None:
        self.column = column.__clause_element__() if hasattr(column, "__clause_element__") else column

    @property
    def _from_objects(self) -> list:
        return self.column._from_objects


@compiles(InScope)
def _in_scope(element: InScope, compiler, **kw) -> str:
    return compiler.process(element.column.in_(bindparam("scope", expanding=True)), **kw)


@compiles(InScope, "postgresql")
def _in_scope_postgresql(element: InScope, compiler, **kw) -> str:
    return compiler.process(element.column == any_(bindparam("scope", type_=ARRAY(Integer))), **kw)


def scoped_by_parameter(statement, column, scope: str):
    """``scoped`` for a statement built once and run many times: the organisations come as the bind
    parameter ``scope`` (``scope_of`` gives the scope and the parameter; ``InScope`` the test)."""
    if scope == "all":
        return statement
    if scope == "none":
        return statement.where(false())
    return statement.where(InScope(column))


def can_see(organisation_id: int | None) -> bool:
    """Whether the current user may see a record of this organisation."""
    ids = visible_organisation_ids()
    return ids is None or organisation_id in ids


def get_visible_or_404(model, record_id):
    """Load a record the user may see, or answer 404 as if it did not exist."""
    record = db.session.get(model, record_id)
    if record is None or not can_see(record.organisation_id):
        abort(404)
    return record
