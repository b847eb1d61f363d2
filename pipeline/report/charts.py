"""Inline SVG bar charts: no script, no fonts to fetch, printable as they are."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pipeline.report.model import Count

__all__ = ["Marker", "bar_chart"]

_WIDTH, _HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 26, 40
_CHAR_W = 6.6  # average width of an 11px label character, for spacing axis labels


@dataclass(frozen=True)
class Marker:
    """A vertical line after the bar at `after_index` (e.g. the retention limit)."""

    after_index: int
    label: str


def _ticks(top: int) -> list[int]:
    if top <= 5:
        return list(range(top + 1))
    step = max(1, round(top / 4))
    return list(range(0, top + 1, step))


def bar_chart(
    chart_id: str,
    title: str,
    bars: Sequence[Count],
    *,
    x_label: str,
    markers: Sequence[Marker] = (),
    label_every: int | None = None,
) -> str:
    """One accessible SVG: bars with counts as titles, a y axis, optional vertical markers."""
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    top = max([bar.count for bar in bars] + [1])
    slot = plot_w / max(len(bars), 1)
    widest = max([len(bar.label) for bar in bars] + [1]) * _CHAR_W + 8
    every = label_every or max(1, math.ceil(len(bars) * widest / plot_w))
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _ticks(top):
        y = _TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    for index, bar in enumerate(bars):
        height = plot_h * bar.count / top
        x = _LEFT + index * slot
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.12:.1f}" y="{_TOP + plot_h - height:.1f}" '
            f'width="{slot * 0.76:.1f}" height="{height:.1f}" data-label="{escape(bar.label)}" '
            f'data-count="{bar.count}"><title>{escape(bar.label)}: {bar.count}</title></rect>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{_TOP + plot_h + 14}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    for marker in markers:
        x = _LEFT + (marker.after_index + 1) * slot
        parts.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + plot_h}"/>'
            f'<text class="marker-label" x="{x:.1f}" y="{_TOP - 8}" '
            f'text-anchor="end">{escape(marker.label)}</text>'
        )
    parts.append(
        f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{_TOP + plot_h}" y2="{_TOP + plot_h}" '
        f'class="axis"/><text x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 6}" '
        f'text-anchor="middle" class="axis-label">{escape(x_label)}</text></svg>'
    )
    if not bars:
        parts.insert(
            -1, f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle">none</text>'
        )
    return "".join(parts)
