"""Bulk device import from CSV (UTF-8 with or without BOM, GBK/GB18030) and Excel .xlsx.

The upload is checked at once (readable, known columns, a code column, at least one row); the job then
validates every row and inserts all devices in one transaction, or none when any row is bad. Problems are
stored as codes with parameters and put into words when shown, in the reader's language.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import openpyxl
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.audit.services import acting_as
from portal.auth.models import User
from portal.devices import services
from portal.devices.forms import CODE_PATTERN, MAX_DISTANCE
from portal.devices.models import DEVICE_STATUSES, Device, ImportJob
from portal.extensions import db
from portal.orgs.models import ServicePoint
from portal.types import utcnow

EXTENSIONS = (".csv", ".xlsx")
PROGRESS_EVERY = 200
LOOKUP_CHUNK = 500
SHOWN_ERRORS = 1000
STALE_AFTER = timedelta(hours=1)  # far longer than the largest upload takes; the job's thread must have died

# Each column: its key (also accepted as a header) and the Chinese headers accepted for it; the first
# Chinese header is the one the downloadable template uses.
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("编号", "设备编号"),
    "model": ("型号",),
    "serial_number": ("序列号",),
    "kind": ("类型", "设备类型"),
    "owning_unit": ("使用单位",),
    "address": ("安装地址",),
    "service_point": ("服务网点",),
    "distance_km": ("距离(km)", "距离"),
    "maintainer": ("维护人员",),
    "status": ("状态",),
    "installed_on": ("安装日期",),
    "notes": ("备注",),
}
TEXT_LENGTHS = {"code": 60, "model": 120, "serial_number": 120, "kind": 60, "owning_unit": 200,
                "address": 300, "notes": 5000}
FULL_WIDTH = str.maketrans({"（": "(", "）": ")", "\u3000": " "})

MESSAGES = {
    # the file as a whole
    "extension": _l("Only .csv and .xlsx files can be imported."),
    "empty": _l("The file is empty: it needs a header row and at least one device row."),
    "unreadable": _l("The file could not be read. "
                     "Save it as CSV (UTF-8 or GBK) or Excel .xlsx and try again."),
    "no_code_column": _l("The header row (line 1) has no code column (code or 编号)."),
    "unknown_columns": _l("Unknown columns in the header row: %(columns)s. Accepted: %(accepted)s."),
    "duplicate_columns": _l("Columns given twice in the header row: %(columns)s."),
    "crashed": _l("The import stopped on an unexpected error; nothing was imported. Please try again."),
    "conflict": _l("Some codes were added by someone else during the import; nothing was imported. "
                   "Please try again."),
    # one cell
    "required": _l("A code is required."),
    "too_long": _l("At most %(max)s characters."),
    "bad_code": _l("A code may not contain spaces or the characters / \\ ? # %."),
    "duplicate_in_file": _l("The same code as line %(line)s."),
    "code_used": _l("Code already used by another device."),
    "not_number": _l("Not a number."),
    "distance_range": _l("Enter a distance from 0 to 999999.99 km."),
    "bad_date": _l("Not a date in the form YYYY-MM-DD."),
    "unknown_status": _l("Unknown status; use one of: %(choices)s."),
    "unknown_service_point": _l("No service point with code %(value)s in this organisation."),
    "unknown_maintainer": _l("No engineer with username %(value)s serves this organisation."),
}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; ``code`` names the reason (a key of MESSAGES)."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params

    def __str__(self) -> str:
        return message(self.code, self.params)


class CellError(ValueError):
    """One cell's value is not acceptable."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


def message(code: str, params: dict | None = None) -> str:
    """A problem code put into words in the current language."""
    template = MESSAGES.get(code, MESSAGES["crashed"])
    return str(template) % (params or {}) if params else str(template)


def describe(error: dict) -> dict:
    """A stored problem ready to show: line, column and the message in the current language."""
    return {"line": error.get("line"), "column": error.get("column", ""),
            "message": message(error.get("code", ""), error.get("params"))}


# ----------------------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Sheet:
    """A read file: each column's key and header as written, and the non-empty rows with line numbers."""

    columns: dict[int, tuple[str, str]]
    rows: list[tuple[int, list]] = field(default_factory=list)


def header_key(header) -> str | None:
    """The column key a header names (English key or Chinese header), or None."""
    text = str(header or "").translate(FULL_WIDTH).strip().lower()
    text = text.replace(" ", "_") if text.isascii() else text.replace(" ", "")
    for key, aliases in COLUMNS.items():
        if text == key or text in aliases:
            return key
    return None


def map_header(cells: list) -> dict[int, tuple[str, str]]:
    """Map header positions to column keys; refuse unknown, repeated or missing code columns."""
    columns: dict[int, tuple[str, str]] = {}
    unknown, seen, repeated = [], set(), []
    for position, cell in enumerate(cells):
        written = str(cell).strip() if cell is not None else ""
        if not written:
            continue
        key = header_key(written)
        if key is None:
            unknown.append(written)
        elif key in seen:
            repeated.append(written)
        else:
            seen.add(key)
            columns[position] = (key, written)
    if unknown:
        raise ImportFileError("unknown_columns", columns=", ".join(unknown), accepted=accepted_headers())
    if repeated:
        raise ImportFileError("duplicate_columns", columns=", ".join(repeated))
    if "code" not in seen:
        raise ImportFileError("no_code_column")
    return columns


def accepted_headers() -> str:
    """Every accepted header, for the message about unknown columns."""
    return ", ".join(f"{key}/{'/'.join(aliases)}" for key, aliases in COLUMNS.items())


def decode(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (BOM or not), else GB18030 (a superset of GBK, as Chinese Excel saves)."""
    if b"\x00" in data[:4096]:
        raise ImportFileError("unreadable")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("unreadable")


def csv_lines(data: bytes) -> Iterator[tuple[int, list]]:
    """(line number where the record starts, cells) for each CSV record."""
    reader = csv.reader(io.StringIO(decode(data), newline=""))
    line = 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFileError("unreadable") from error


def xlsx_lines(data: bytes) -> Iterator[tuple[int, list]]:
    """(row number, cell values) for each row of the workbook's active sheet."""
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # a damaged or foreign file fails in many ways inside openpyxl
        raise ImportFileError("unreadable") from error
    try:
        sheet = workbook.active or workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store wrong dimensions; read every row there is
        yield from enumerate((list(row) for row in sheet.iter_rows(values_only=True)), start=1)
    finally:
        workbook.close()


def is_blank(cells: list) -> bool:
    """Whether a row has no value at all."""
    return all(cell is None or str(cell).strip() == "" for cell in cells)


def read_sheet(data: bytes, filename: str, limit: int | None = None) -> Sheet:
    """Read the header and the non-empty rows (at most ``limit``); ImportFileError when it cannot."""
    extension = Path(filename or "").suffix.lower()
    if extension not in EXTENSIONS:
        raise ImportFileError("extension")
    if not data.strip():
        raise ImportFileError("empty")
    lines = csv_lines(data) if extension == ".csv" else xlsx_lines(data)
    with closing(lines):
        first = next(lines, None)
        if first is None or is_blank(first[1]):
            raise ImportFileError("no_code_column" if first else "empty")
        sheet = Sheet(map_header(first[1]))
        for line, cells in lines:
            if not is_blank(cells):
                sheet.rows.append((line, cells))
                if limit and len(sheet.rows) >= limit:
                    break
    if not sheet.rows:
        raise ImportFileError("empty")
    return sheet


def check_upload(data: bytes, filename: str) -> None:
    """Refuse at once a file that cannot be imported at all (ImportFileError)."""
    read_sheet(data, filename, limit=1)


# ----------------------------------------------------------------------------------------------------------
# Validating rows
# ----------------------------------------------------------------------------------------------------------


def cell_text(value) -> str:
    """A cell as text: whole numbers without '.0', dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


DATE_PATTERN = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
CODE_RE = re.compile(CODE_PATTERN)


def parse_date(value) -> date | None:
    """A date cell: an Excel date, or text YYYY-MM-DD (also YYYY/M/D as Chinese Excel writes it)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    if not text:
        return None
    match = DATE_PATTERN.match(text)
    if not match:
        raise CellError("bad_date")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError as error:
        raise CellError("bad_date") from error


def parse_distance(value) -> Decimal | None:
    """A distance in km: a number from 0 to 999999.99, kept to two decimals."""
    text = cell_text(value).replace(",", "")
    if not text:
        return None
    try:
        distance = Decimal(text)
    except InvalidOperation as error:
        raise CellError("not_number") from error
    if not distance.is_finite():
        raise CellError("not_number")
    distance = distance.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if not Decimal(0) <= distance <= MAX_DISTANCE:
        raise CellError("distance_range")
    return distance


def parse_text(key: str, value) -> str:
    """A text cell within the column's length."""
    text = cell_text(value)
    if len(text) > TEXT_LENGTHS[key]:
        raise CellError("too_long", max=TEXT_LENGTHS[key])
    return text


def status_names() -> dict[str, str]:
    """Every accepted spelling of a status (its key, and its label in each portal language) → key."""
    names = {key: key for key in DEVICE_STATUSES}
    for locale in current_app.config.get("PORTAL_LOCALES", ["en"]):
        with force_locale(locale):
            names.update({str(label).strip().lower(): key for key, label in DEVICE_STATUSES.items()})
    return names


@dataclass
class Lookups:
    """Everything a row is checked against, loaded in a few queries before the rows are read."""

    service_points: dict[str, int]
    maintainers: dict[str, int]
    statuses: dict[str, str]
    used_codes: set[str]


def load_lookups(organisation_id: int, codes: list[str]) -> Lookups:
    """Service points and engineers of the organisation, status names and the codes already in use."""
    points = dict(db.session.execute(
        select(ServicePoint.code, ServicePoint.id).where(ServicePoint.organisation_id == organisation_id)
    ).all())
    maintainers = {user.username: user.id for user in services.eligible_maintainers(organisation_id)}
    wanted = sorted({code for code in codes if code})
    used: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start:start + LOOKUP_CHUNK]
        used.update(db.session.scalars(select(Device.code).where(Device.code.in_(chunk))))
    return Lookups(points, maintainers, status_names(), used)


class RowValidator:
    """Checks rows one by one, remembering the codes seen so far in the file."""

    def __init__(self, columns: dict[int, tuple[str, str]], lookups: Lookups):
        self.columns = columns
        self.lookups = lookups
        self.seen_codes: dict[str, int] = {}

    def validate(self, line: int, cells: list) -> tuple[dict, list[dict]]:
        """The device values of a row and the problems found in it (one per bad cell)."""
        values: dict = {"status": "in_service"}
        errors: list[dict] = []
        for position, (key, written) in self.columns.items():
            cell = cells[position] if position < len(cells) else None
            try:
                values.update(self.parse(key, cell, line))
            except CellError as error:
                errors.append({"line": line, "column": written, "code": error.code, "params": error.params})
        return values, errors

    def parse(self, key: str, value, line: int) -> dict:
        """The device attributes one cell gives (CellError when the value is not acceptable)."""
        if key == "code":
            return {"code": self.parse_code(value, line)}
        if key in TEXT_LENGTHS:
            return {key: parse_text(key, value)}
        if key == "distance_km":
            return {"distance_km": parse_distance(value)}
        if key == "installed_on":
            return {"installed_on": parse_date(value)}
        if key == "status":
            return {"status": self.parse_status(value)}
        if key == "service_point":
            point = self.lookup(self.lookups.service_points, value, "unknown_service_point")
            return {"service_point_id": point}
        return {"maintainer_id": self.lookup(self.lookups.maintainers, value, "unknown_maintainer")}

    def parse_code(self, value, line: int) -> str:
        """A required code, valid, unique in the file and not yet in the archive."""
        code = parse_text("code", value)
        if not code:
            raise CellError("required")
        if not CODE_RE.match(code):
            raise CellError("bad_code")
        if code in self.seen_codes:
            raise CellError("duplicate_in_file", line=self.seen_codes[code])
        self.seen_codes[code] = line
        if code in self.lookups.used_codes:
            raise CellError("code_used")
        return code

    def parse_status(self, value) -> str:
        """A status key or its label; empty means in service."""
        text = cell_text(value).lower()
        if not text:
            return "in_service"
        if text not in self.lookups.statuses:
            raise CellError("unknown_status", choices=", ".join(DEVICE_STATUSES))
        return self.lookups.statuses[text]

    @staticmethod
    def lookup(known: dict[str, int], value, problem: str) -> int | None:
        """The id a code or username names; empty means none."""
        text = cell_text(value)
        if not text:
            return None
        if text not in known:
            raise CellError(problem, value=text)
        return known[text]


# ----------------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------------


def run_import(job_id: int) -> None:
    """Job: read the stored file, validate every row, then insert all the devices or none."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status != "pending":
        return
    stored = Path(job.stored_path)
    user = db.session.get(User, job.user_id)
    with acting_as(user.username if user else "system", job.user_id):
        try:
            process(job)
        except Exception as error:  # record any failure on the job instead of losing it in a thread
            current_app.logger.exception("device import %s failed", job_id)
            db.session.rollback()
            note = f"{type(error).__name__}: {error}"
            fail(db.session.get(ImportJob, job_id), [file_problem("crashed")], note)
        finally:
            stored.unlink(missing_ok=True)


def file_problem(code: str, params: dict | None = None) -> dict:
    """A problem with the whole file, stored like a row problem without a line."""
    return {"line": None, "column": "", "code": code, "params": params or {}}


def fail(job: ImportJob, errors: list[dict], note: str = "") -> None:
    """Finish the job without importing anything."""
    job.status = "failed"
    job.errors = errors
    job.message = note[:2000]
    job.finished_at = utcnow()
    db.session.commit()


def give_up_if_stale(job: ImportJob) -> None:
    """Fail a job still unfinished long after it started (its process was restarted), so polling stops."""
    if job.status in ("pending", "running") and utcnow() - job.created_at > STALE_AFTER:
        Path(job.stored_path).unlink(missing_ok=True)
        fail(job, [file_problem("crashed")], "interrupted: unfinished after an hour")


def process(job: ImportJob) -> None:
    """Validate, then import or report; progress is committed every PROGRESS_EVERY rows."""
    job.status = "running"
    db.session.commit()
    try:
        sheet = read_sheet(Path(job.stored_path).read_bytes(), job.filename)
    except ImportFileError as error:
        fail(job, [file_problem(error.code, error.params)])
        return
    job.total_rows = len(sheet.rows)
    db.session.commit()
    records, errors = validate_rows(job, sheet)
    if errors:
        fail(job, errors)
        return
    insert(job, records)


def validate_rows(job: ImportJob, sheet: Sheet) -> tuple[list[dict], list[dict]]:
    """Check every row against bulk-loaded lookups; returns the device values and every problem."""
    code_position = next(position for position, (key, _w) in sheet.columns.items() if key == "code")
    codes = [cell_text(cells[code_position]) if code_position < len(cells) else ""
             for _line, cells in sheet.rows]
    validator = RowValidator(sheet.columns, load_lookups(job.organisation_id, codes))
    records, errors = [], []
    for index, (line, cells) in enumerate(sheet.rows, start=1):
        values, problems = validator.validate(line, cells)
        records.append(values)
        errors.extend(problems)
        if index % PROGRESS_EVERY == 0:
            job.processed_rows = index
            db.session.commit()
    job.processed_rows = len(sheet.rows)
    db.session.commit()
    return records, errors


def insert(job: ImportJob, records: list[dict]) -> None:
    """Insert every device and finish the job in one transaction (the audit trail is written with it)."""
    organisation_id = job.organisation_id
    db.session.add_all(Device(organisation_id=organisation_id, **values) for values in records)
    job.created_count = len(records)
    job.status = "done"
    job.errors = None
    job.finished_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        fail(db.session.get(ImportJob, job.id), [file_problem("conflict")], str(error.orig)[:500])


# ----------------------------------------------------------------------------------------------------------
# Templates to download
# ----------------------------------------------------------------------------------------------------------


def template_headers(chinese: bool) -> list[str]:
    """The header row of the downloadable template: Chinese headers or the English keys."""
    return [aliases[0] if chinese else key for key, aliases in COLUMNS.items()]


def csv_template(chinese: bool) -> bytes:
    """A CSV template (UTF-8 with BOM, so Excel opens it with the right characters)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(template_headers(chinese))
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_template(chinese: bool) -> bytes:
    """An Excel template with the header row."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = _("Devices")
    sheet.append(template_headers(chinese))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
