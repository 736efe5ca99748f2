"""The plain data a plugin hands the core: identity, standards, severity tables, forms, menus, panels.

Plugins return these from their registration hooks (see ``portal.hookspecs``); the core validates them
when the plugin manager loads and turns them into pages, clocks and jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

CORE_SERVICE_TYPES = (
    "repair", "installation", "relocation", "preventive_maintenance", "upgrade", "training", "emergency_support",
)
CLOCK_BASES = ("accepted", "reported")
FIELD_TYPES = ("text", "textarea", "integer", "decimal", "choice", "date", "datetime", "boolean", "device")


class SpecError(ValueError):
    """A plugin handed the core data that does not hold together."""


@dataclass(frozen=True)
class PluginInfo:
    """Who a plugin is: its name (the key used in PORTAL_PLUGINS), title, version and description."""

    name: str
    title: str
    version: str
    description: str = ""
    translations_dir: Path | None = None


@dataclass(frozen=True)
class Severity:
    """One row of a standard's severity table, with its SLA targets in hours (None: no target)."""

    id: str
    label: str
    rank: int
    description: str = ""
    response_hours: Decimal | None = None
    arrival_hours: Decimal | None = None
    repair_hours: Decimal | None = None
    clause: str = ""
    term: str = ""


@dataclass(frozen=True)
class Standard:
    """A service standard a contract can be governed by: its identity, severity table and device kinds."""

    id: str
    code: str
    title: str
    severities: tuple[Severity, ...]
    device_kinds: tuple[str, ...] = ()
    manual_severity: bool = True
    clock_basis: str = "accepted"
    notes: str = ""
    far_distance_km: Decimal | None = None
    factory_hours: Decimal | None = None
    response_met_by: str = "respond"
    follow_up_required: bool = True
    service_types: tuple[str, ...] = CORE_SERVICE_TYPES
    alarm_severity: str | None = None
    causes: tuple[tuple[str, str], ...] = ()

    def severity(self, severity_id: str) -> Severity:
        """The row for a severity id; SpecError if the table has none."""
        for row in self.severities:
            if row.id == severity_id:
                return row
        raise SpecError(f"{self.id}: no severity {severity_id!r}")

    def validate(self) -> None:
        """Refuse a table with duplicate ids or ranks, or negative targets."""
        ids = [row.id for row in self.severities]
        if not ids or len(set(ids)) != len(ids):
            raise SpecError(f"{self.id}: severity ids must be present and unique")
        if len({row.rank for row in self.severities}) != len(ids):
            raise SpecError(f"{self.id}: severity ranks must be unique")
        if self.clock_basis not in CLOCK_BASES:
            raise SpecError(f"{self.id}: clock_basis must be one of {CLOCK_BASES}")
        if self.response_met_by not in ("respond", "arrive"):
            raise SpecError(f"{self.id}: response_met_by must be 'respond' or 'arrive'")
        if self.alarm_severity is not None and self.alarm_severity not in ids:
            raise SpecError(f"{self.id}: alarm_severity {self.alarm_severity!r} is not in the table")
        for row in self.severities:
            for hours in (row.response_hours, row.arrival_hours, row.repair_hours):
                if hours is not None and hours <= 0:
                    raise SpecError(f"{self.id}/{row.id}: targets must be positive hours")


@dataclass(frozen=True)
class SeverityDecision:
    """The answer of a severity classifier: the class and the reason, in words a person can check."""

    severity: str
    reason: str


@dataclass(frozen=True)
class FieldSpec:
    """One field of a declarative form."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    min: Decimal | int | None = None
    max: Decimal | int | None = None
    max_length: int | None = None
    default: Any = None


@dataclass(frozen=True)
class FormSpec:
    """A form a plugin adds without writing a view: the core renders, validates and stores it."""

    id: str
    title: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    clauses: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("admin", "clerk", "engineer", "requester")
    submit_label: str = ""
    plugin: str = ""

    def validate(self) -> None:
        """Refuse unknown field types, duplicate names and choice fields without choices."""
        names = [f.name for f in self.fields]
        if not names or len(set(names)) != len(names):
            raise SpecError(f"form {self.id}: field names must be present and unique")
        for spec in self.fields:
            if spec.type not in FIELD_TYPES:
                raise SpecError(f"form {self.id}: field {spec.name} has unknown type {spec.type!r}")
            if spec.type == "choice" and not spec.choices:
                raise SpecError(f"form {self.id}: choice field {spec.name} has no choices")
            if not spec.name.isidentifier():
                raise SpecError(f"form {self.id}: field name {spec.name!r} is not an identifier")


@dataclass(frozen=True)
class MenuItem:
    """An entry in the navigation: a label, an endpoint, the permission it needs, and its section
    ("main" for the menu bar, "account" for the signed-in user's corner)."""

    label: str
    endpoint: str
    permission: str | None = None
    values: dict = field(default_factory=dict)
    order: int = 100
    section: str = "main"


@dataclass(frozen=True)
class DashboardPanel:
    """A panel on the home page: a title, rows of (label, value) and an optional link."""

    id: str
    title: str
    rows: tuple[tuple[str, str], ...]
    link_label: str = ""
    link_url: str = ""
    clause: str = ""


PanelBuilder = Callable[..., DashboardPanel]
