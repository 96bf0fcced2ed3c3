"""Inline SVG geometry: numbers in, coordinates out. The templates draw; nothing here is HTML.

Every chart is a `Chart`: a fixed viewBox, polylines (as "x,y x,y" strings of rounded numbers), dots
and axis ticks with labels. Rounding to one decimal keeps the output small and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    css: str  # class name: agent | team | model | chance | ideal
    points: str
    label: str = ""


@dataclass(frozen=True)
class Dot:
    css: str
    x: float
    y: float
    r: float
    title: str = ""


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's bottom edge
    lines: tuple[Line, ...]
    dots: tuple[Dot, ...]
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]
    xlabel: str
    ylabel: str
    title: str


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: str
    last_x: float
    last_y: float
    empty: bool


def _r(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[float | None], width: int = 96, height: int = 24, lo: float = 0.0,
              hi: float = 100.0) -> Sparkline:
    """A tiny line of the daily scores (missing days skipped); the last point is drawn as a dot."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if not pts:
        return Sparkline(width, height, "", 0, 0, True)
    span = max(len(values) - 1, 1)
    pad = 2.5

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / span if len(values) > 1 else 0.5)
        y = pad + (height - 2 * pad) * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, v in pts]
    return Sparkline(width, height, " ".join(f"{_r(x)},{_r(y)}" for x, y in coords), coords[-1][0],
                     coords[-1][1], False)


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]], str]], *, x_range: tuple[float, float],
               y_range: tuple[float, float], xticks: Sequence[tuple[float, str]], yticks: Sequence[tuple[float, str]],
               xlabel: str = "", ylabel: str = "", title: str = "", width: int = 640, height: int = 260,
               dots: Sequence[tuple[str, float, float, float, str]] = ()) -> Chart:
    """A line chart: `series` are (css class, [(x, y)...], label); None-free points only."""
    left, top, right_pad, bottom_pad = 44, 12, 12, 34
    right, bottom = width - right_pad, height - bottom_pad
    (x0, x1), (y0, y1) = x_range, y_range
    xs = (right - left) / ((x1 - x0) or 1)
    ys = (bottom - top) / ((y1 - y0) or 1)

    def px(x: float) -> float:
        return round(left + (x - x0) * xs, 1)

    def py(y: float) -> float:
        return round(bottom - (min(max(y, y0), y1) - y0) * ys, 1)

    lines = tuple(Line(css, " ".join(f"{_r(px(x))},{_r(py(y))}" for x, y in pts), label)
                  for css, pts, label in series if pts)
    return Chart(
        width, height, left, top, right, bottom, lines,
        tuple(Dot(css, px(x), py(y), r, t) for css, x, y, r, t in dots),
        tuple(Tick(px(x), label) for x, label in xticks), tuple(Tick(py(y), label) for y, label in yticks),
        xlabel, ylabel, title)


def unit_ticks(fmt) -> list[tuple[float, str]]:
    """0, 0.25 ... 1 as ticks for a probability axis."""
    return [(v, fmt(v)) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]


@dataclass(frozen=True)
class Whisker:
    label: str
    y: float  # the row's centre line
    x: float | None  # the estimate (None: undefined, nothing drawn)
    low: float | None  # the interval's ends (None: no interval)
    high: float | None
    css: str
    title: str


@dataclass(frozen=True)
class WhiskerChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    rows: tuple[Whisker, ...]
    xticks: tuple[Tick, ...]
    refs: tuple[Tick, ...]  # vertical reference lines (thresholds), labelled
    title: str


def whisker_chart(rows: Sequence[tuple[str, float | None, float | None, float | None, str, str]], *,
                  x_range: tuple[float, float], xticks: Sequence[tuple[float, str]],
                  refs: Sequence[tuple[float, str]] = (), title: str = "", width: int = 760,
                  row_height: int = 24, label_width: int = 260) -> WhiskerChart:
    """A dot-and-whisker chart, one row per (label, estimate, low, high, css class, tooltip)."""
    top, bottom_pad, right_pad = 8, 30, 16
    left, right = label_width, width - right_pad
    bottom = top + row_height * max(len(rows), 1)
    x0, x1 = x_range
    xs = (right - left) / ((x1 - x0) or 1)

    def px(x: float | None) -> float | None:
        return None if x is None else round(left + (min(max(x, x0), x1) - x0) * xs, 1)

    out = tuple(Whisker(label, round(top + row_height * (i + 0.5), 1), px(v), px(lo), px(hi), css, tip)
                for i, (label, v, lo, hi, css, tip) in enumerate(rows))
    return WhiskerChart(width, bottom + bottom_pad, left, right, top, bottom, out,
                        tuple(Tick(px(x), label) for x, label in xticks),
                        tuple(Tick(px(x), label) for x, label in refs), title)
