"""Server-rendered SVG charts: the geometry is computed here, ``workorders/_chart.html`` draws it.

No JavaScript and no style attributes (the CSP forbids inline styles): only SVG presentation attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

WIDTH, HEIGHT = 320, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 24, 30  # the target's legend sits above the plot
HEADROOM = Decimal("1.15")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value (None: no data), the count behind it and where it is drawn."""

    label: str
    value: Decimal | None
    count: int
    x: float
    y: float
    width: float
    height: float
    over_target: bool

    @property
    def label_x(self) -> float:
        """The centre of the bar, where its label goes."""
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    value: Decimal
    y: float

    @property
    def label(self) -> str:
        """The value as plain digits (10, not 1E+1)."""
        return f"{self.value.normalize():f}"


@dataclass(frozen=True)
class BarChart:
    """A bar chart with an optional target line, in a WIDTH × HEIGHT view box."""

    title: str
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    target: Decimal | None
    target_y: float | None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM


def nice_step(raw: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 × 10ⁿ at least ``raw`` (grid steps a reader can add up)."""
    power = Decimal(10) ** raw.adjusted()
    return next(power * factor for factor in (1, 2, 5, 10) if raw <= power * factor)


def scale(values: list[Decimal], lines: int = 4) -> tuple[Decimal, Decimal]:
    """The top of the plot and the grid step: room above the largest value, on a round step."""
    largest = max(values, default=Decimal(0)) * HEADROOM
    if largest <= 0:
        return Decimal(1), Decimal(1) / lines
    step = nice_step(largest / lines)
    return step * (largest / step).to_integral_value(rounding=ROUND_CEILING), step


def y_of(value: Decimal, top: Decimal) -> float:
    """The y coordinate of a value (0 at the baseline, ``top`` at the top of the plot)."""
    plot_height = HEIGHT - TOP - BOTTOM
    return round(HEIGHT - BOTTOM - float(value / top) * plot_height, 1)


def ticks_for(top: Decimal, step: Decimal) -> tuple[Tick, ...]:
    """Grid lines every ``step`` from 0 to the top of the plot."""
    count = int(top / step)
    return tuple(Tick((step * i).normalize(), y_of(step * i, top)) for i in range(count + 1))


def bar_chart(title: str, points: list[tuple[str, Decimal | None, int]], target: Decimal | None) -> BarChart:
    """A chart of (label, value, count) points against a target (None: no target line)."""
    values = [value for _label, value, _count in points if value is not None]
    top, step = scale(values + ([target] if target is not None else []))
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    bars = []
    for index, (label, value, count) in enumerate(points):
        y = y_of(value or Decimal(0), top)
        bars.append(Bar(label, value, count, round(LEFT + index * slot + slot * 0.15, 1), y,
                        round(slot * 0.7, 1), round(HEIGHT - BOTTOM - y, 1),
                        value is not None and target is not None and value > target))
    target_y = y_of(target, top) if target is not None else None
    return BarChart(title, tuple(bars), ticks_for(top, step), target, target_y)
