"""Timeline pictures of a report, drawn with matplotlib's Agg backend into PNG bytes.

No pyplot: each picture is its own ``Figure`` (no global state, safe off the main thread). Two pictures:

- :func:`identity_timeline_png`: one lane per camera an identity was seen in, one bar per sighting, and a line
  for each match that ties two of its sightings (solid green: confirmed; dashed grey: automatic) labelled
  with its distance;
- :func:`overview_timeline_png`: one lane per identity (the first ``max_rows``), bars coloured by camera.

Times are drawn in UTC. Identity names are user text: ``$`` is escaped so matplotlib never reads it as maths.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from app.report.model import IdentityReport, Report

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 100
WIDTH_IN = 11.0  # 1100 px at 100 dpi: the width of the HTML page's content
# Fixed margins in inches (a layout engine would draw every figure twice to measure it).
_BOTTOM_IN = 0.55
_TOP_IN = 0.12
_LEGEND_TOP_IN = 0.32
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
_CONFIRMED = "#1a7f37"
_AUTO = "#6e7781"
_MAX_DISTANCE_LABELS = 12
_MIN_SPAN_S = 60.0  # a short stay is drawn on a minute-wide axis, not stretched over the whole picture
_STYLE: dict[RcKeyType, Any] = {"font.size": 8, "axes.edgecolor": "#8c959f", "axes.linewidth": 0.6, "xtick.color": "#404040",
          "ytick.color": "#202020"}


def camera_colors(cameras: Sequence[str]) -> dict[str, str]:
    """A stable colour per camera name (sorted names take the palette in turn)."""
    return {cam: _PALETTE[i % len(_PALETTE)] for i, cam in enumerate(sorted(set(cameras)))}


def _plain(text: str, limit: int = 28) -> str:
    """User text as a matplotlib label: shortened, with ``$`` escaped (no mathtext)."""
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def _num(dt: datetime) -> float:
    return float(mdates.date2num(dt.astimezone(timezone.utc).replace(tzinfo=None)))


def _x_range(start: datetime, end: datetime) -> tuple[float, float, float]:
    """Axis limits with a margin, and the smallest bar width that stays visible (all in days)."""
    span = (end - start).total_seconds()
    pad = timedelta(seconds=max(span * 0.04, (_MIN_SPAN_S - span) / 2))
    x0, x1 = _num(start - pad), _num(end + pad)
    return x0, x1, (x1 - x0) * 0.004


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _figure(height_in: float, width_in: float, *, left_in: float, right_in: float, top_in: float) -> tuple[Figure, Any]:
    height_in = height_in + _BOTTOM_IN + top_in
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left_in / width_in, right=1 - right_in / width_in, bottom=_BOTTOM_IN / height_in,
                        top=1 - top_in / height_in)
    return fig, fig.add_subplot()


def _time_axis(ax: Any, start: datetime, end: datetime) -> None:
    """Clock times on the x axis; the date (or dates) and the zone in its label."""
    width_in = ax.figure.get_figwidth()
    locator = mdates.AutoDateLocator(minticks=2, maxticks=max(4, int(width_in * 0.8)), tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if start.date() == end.date():
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=timezone.utc))
        ax.set_xlabel(f"time (UTC) on {start:%Y-%m-%d}", color="#59636e")
    else:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=timezone.utc))
        ax.set_xlabel(f"time (UTC), {start:%Y-%m-%d} to {end:%Y-%m-%d}", color="#59636e")
    ax.grid(axis="x", color="#d0d7de", linewidth=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def identity_timeline_png(
    identity: IdentityReport, colors: Mapping[str, str], *, width_in: float = WIDTH_IN, dpi: int = DPI
) -> bytes:
    """Where and when one identity was seen: lanes = cameras (in order of first sighting), bars = sightings.

    ``width_in`` is the picture's width in inches at 8-point text; ``dpi`` its resolution.
    """
    lanes = {cam: i for i, cam in enumerate(identity.camera_names)}
    x0, x1, min_w = _x_range(identity.first_seen, identity.last_seen)
    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure(0.22 + 0.36 * len(lanes), width_in, left_in=1.3, right_in=1.4, top_in=_TOP_IN)
        for x in identity.sightings:
            left = _num(x.start)
            ax.broken_barh([(left, max(_num(x.end) - left, min_w))], (lanes[x.camera] - 0.32, 0.64),
                           facecolors=colors.get(x.camera, _PALETTE[0]), edgecolors="#24292f", linewidth=0.4)
        by_track = {x.track_id: x for x in identity.sightings}
        drawn: set[str] = set()
        n_labels = 0
        for link in identity.matches:
            a, b = by_track.get(link.track_a), by_track.get(link.track_b)
            if a is None or b is None or link.status == "rejected":
                continue
            if b.start < a.start:
                a, b = b, a
            xa, xb = _num(a.end), _num(b.start)
            ya, yb = lanes[a.camera], lanes[b.camera]
            confirmed = link.status == "confirmed"
            ax.plot([xa, xb], [ya, yb], color=_CONFIRMED if confirmed else _AUTO,
                    linestyle="-" if confirmed else (0, (3, 2)), linewidth=1.4 if confirmed else 1.0, zorder=3)
            drawn.add(link.status)
            # a label only where the line is long enough to carry it (the tables list every distance)
            room = abs(xb - xa) > 0.08 * (x1 - x0) or ya != yb
            if n_labels < _MAX_DISTANCE_LABELS and link.distance >= 0 and room:
                ax.annotate(f"{link.distance:.2f}", ((xa + xb) / 2, (ya + yb) / 2), fontsize=7, ha="center",
                            va="center", color="#24292f", zorder=4,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
                n_labels += 1
        ax.set_xlim(x0, x1)
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_yticks(range(len(lanes)), [_plain(c, 18) for c in lanes])
        _time_axis(ax, identity.first_seen, identity.last_seen)
        handles = []
        if "confirmed" in drawn:
            handles.append(Line2D([], [], color=_CONFIRMED, linewidth=1.4, label="confirmed match"))
        if "auto" in drawn:
            handles.append(Line2D([], [], color=_AUTO, linestyle=(0, (3, 2)), label="automatic match"))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
        return _png(fig, dpi)


def overview_timeline_png(
    report: Report, colors: Mapping[str, str], *, max_rows: int = 40, width_in: float = WIDTH_IN, dpi: int = DPI
) -> bytes | None:
    """All cameras at a glance: one lane per identity (the first ``max_rows``), bars coloured by camera.

    None when the report has no identities.
    """
    shown = report.identities[:max_rows]
    if not shown:
        return None
    x0, x1, min_w = _x_range(min(i.first_seen for i in shown), max(i.last_seen for i in shown))
    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure(0.1 + 0.22 * len(shown), width_in, left_in=2.0, right_in=0.25, top_in=_LEGEND_TOP_IN)
        for row, ident in enumerate(shown):
            for x in ident.sightings:
                left = _num(x.start)
                ax.broken_barh([(left, max(_num(x.end) - left, min_w))], (row - 0.34, 0.68),
                               facecolors=colors.get(x.camera, _PALETTE[0]), linewidth=0)
        ax.set_xlim(x0, x1)
        ax.set_ylim(len(shown) - 0.5, -0.5)
        ax.set_yticks(range(len(shown)), [_plain(i.label) for i in shown])
        _time_axis(ax, min(i.first_seen for i in shown), max(i.last_seen for i in shown))
        cams = sorted({x.camera for i in shown for x in i.sightings})
        ax.legend(handles=[Patch(facecolor=colors[c], label=_plain(c, 18)) for c in cams], loc="lower left",
                  bbox_to_anchor=(0.0, 1.0), ncol=min(len(cams), 6), frameon=False, fontsize=7)
        return _png(fig, dpi)
