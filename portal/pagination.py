"""Offset paging for list pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.extensions import db


@dataclass(frozen=True)
class Page:
    """One page of results."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(raw: str | None) -> int:
    """A page number from the query string; anything unusable is page 1."""
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else 1


def paginate(statement, number: int, per_page: int) -> Page:
    """Run ``statement`` for one page, clamping the number to the last page."""
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    last = max(1, -(-total // per_page))
    number = min(number, last)
    items = list(db.session.scalars(statement.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, total)
