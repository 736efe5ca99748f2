"""Imports every model module so that the metadata (and Alembic) sees the whole schema."""

from portal.audit.models import AuditEvent  # noqa: F401
from portal.auth.models import User  # noqa: F401
from portal.devices.models import Device, FaultReport, ImportJob  # noqa: F401
from portal.forms.models import FormSubmission  # noqa: F401
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint  # noqa: F401
from portal.workorders.models import (  # noqa: F401
    ApiToken,
    IdempotencyKey,
    Notification,
    WorkOrder,
    WorkOrderEvent,
)
