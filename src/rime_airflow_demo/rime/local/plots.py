"""Bar charts for the HTML reports, drawn with matplotlib's Agg canvas as PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

MAX_BARS = 40


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    ylabel: str,
    limits: Sequence[tuple[float, str]] = (),
) -> str:
    """Return a ``data:image/png;base64,...`` URI of a grouped bar chart.

    ``series`` maps a legend name to one value per label (None draws no bar)
    and ``limits`` draws a dashed horizontal line per ``(value, name)``.
    Only the first ``MAX_BARS`` labels are drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(labels)[:MAX_BARS]
    figure = Figure(figsize=(max(6.0, 0.45 * len(labels) * max(1, len(series))), 3.6), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        heights = [float("nan") if value is None else value for value in list(values)[:MAX_BARS]]
        positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        axes.bar(positions, heights, width=width, label=name)
    for value, name in limits:
        axes.axhline(value, linestyle="--", linewidth=1, color="grey")
        axes.annotate(name, (0, value), fontsize=7, color="grey")
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if len(series) > 1:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
