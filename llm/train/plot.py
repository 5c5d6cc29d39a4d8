"""The loss curve of a run as an SVG picture, written by hand (no plotting library).

Training loss is a line, validation loss a line with a dot per evaluation; steps run along x,
loss along y, with round-numbered ticks on both axes.
"""
import math
import os
from html import escape
from pathlib import Path

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 40, 52          # margins around the plot area, pixels
SERIES = (("train_loss", "train", "#1f77b4"), ("val_loss", "val", "#ff7f0e"))


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step - 1e-9)) + 1)]


def loss_curve_svg(records: list[dict], title: str = "loss") -> str:
    """The SVG text of the train/val loss curves in records (metrics.jsonl lines)."""
    points = {key: [(r["step"], r[key]) for r in records
                    if r.get(key) is not None and math.isfinite(r[key])] for key, _, _ in SERIES}
    every = points["train_loss"] + points["val_loss"]
    if not every:
        raise ValueError("no losses to plot: the run logged no step")
    x_ticks = nice_ticks(0, max(step for step, _ in every))
    y_ticks = nice_ticks(min(loss for _, loss in every), max(loss for _, loss in every))
    x_low, x_high, y_low, y_high = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(step):
        return LEFT + (step - x_low) / (x_high - x_low) * plot_width

    def y(loss):
        return TOP + (y_high - loss) / (y_high - y_low) * plot_height

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">'
             f'{escape(title)}</text>']
    for value in x_ticks:
        parts.append(f'<line x1="{x(value):.1f}" y1="{TOP}" x2="{x(value):.1f}" '
                     f'y2="{TOP + plot_height}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x(value):.1f}" y="{TOP + plot_height + 18}" '
                     f'text-anchor="middle">{value:g}</text>')
    for value in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + plot_width}" '
                     f'y2="{y(value):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(value) + 4:.1f}" text-anchor="end">'
                     f'{value:g}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" '
                 'fill="none" stroke="#333"/>')
    parts.append(f'<text x="{LEFT + plot_width / 2}" y="{HEIGHT - 12}" '
                 'text-anchor="middle">step</text>')
    parts.append(f'<text x="16" y="{TOP + plot_height / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {TOP + plot_height / 2})">loss</text>')
    legend_y = TOP + 16
    for key, label, color in SERIES:
        series = points[key]
        if not series:
            continue
        path = " ".join(f"{x(step):.1f},{y(loss):.1f}" for step, loss in series)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                     'stroke-width="1.5"/>')
        if key == "val_loss":
            parts += [f'<circle cx="{x(step):.1f}" cy="{y(loss):.1f}" r="3" fill="{color}"/>'
                      for step, loss in series]
        legend_x = LEFT + plot_width - 110
        parts.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 24}" '
                     f'y2="{legend_y}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{legend_x + 30}" y="{legend_y + 4}">{label} '
                     f'{series[-1][1]:.4f}</text>')
        legend_y += 18
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_loss_curve(path: str | os.PathLike, records: list[dict], title: str = "loss") -> None:
    """Write the loss curve of records to path (an .svg file)."""
    Path(path).write_text(loss_curve_svg(records, title))
