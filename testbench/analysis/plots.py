"""PNG plots of recordings: measured values over lab time, and what was allowed.

Uses matplotlib's object API on the Agg canvas: no pyplot global state, no display, and
nothing that needs the main thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from testbench.analysis.series import Recording, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# What a plot shows when no channels are named (those present, in this order).
DEFAULT_CHANNELS = ("current_a", "voltage_v", "power_w", "frequency_hz")

Limit = tuple[str, Series | float] | tuple[str, Series | float, str]


def plot_recording(recording: Recording, path: str | Path,
                   channels: Sequence[str] | None = None,
                   limits: Sequence[Limit] | None = None,
                   title: str | None = None) -> Path:
    """Plot channels of ``recording`` over lab time into a PNG at ``path``; returns the path.

    One panel per unit (channels sharing a unit share a panel). ``channels`` defaults to
    the totals present (current, voltage, power, frequency), else every channel.
    ``limits`` are ``(label, value)`` pairs drawn dashed as "allowed" next to the measured
    values: a number is a constant line on the first panel, a :class:`Series` a curve on
    the panel of its unit; a third element (a channel name or unit) picks the panel.
    """
    # Imported here: matplotlib is slow to import and only needed when a plot is asked for.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if channels is None:
        channels = [c for c in DEFAULT_CHANNELS if c in recording] or list(recording.channels)
    if not channels:
        raise ValueError("plot_recording: the recording has no channels to plot")
    series = [recording[name] for name in channels]
    units: list[str] = []
    for s in series:
        if s.unit not in units:
            units.append(s.unit)

    t0 = recording.start_lab_s if len(recording) else 0.0
    # A fixed layout and legend place: the constrained layout and loc="best" (which scans
    # every plotted point) cost more than the rest of the plot on long recordings.
    height_in = 2.6 * len(units) + 0.8
    fig = Figure(figsize=(10, height_in), dpi=100)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.5 / height_in + 0.04,
                        top=1 - 0.5 / height_in, hspace=0.15)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(units), 1, sharex=True, squeeze=False)[:, 0]
    panel = {unit: ax for unit, ax in zip(units, axes, strict=True)}
    for s in series:
        ax = panel[s.unit]
        ax.plot(s.t_lab_s - t0, s.values, label=s.name, linewidth=1.2,
                marker="." if len(s) <= 200 else None, markersize=3)

    for limit in limits or ():
        label, value = limit[0], limit[1]
        target = limit[2] if len(limit) > 2 else None  # type: ignore[misc]
        ax = _limit_axes(panel, recording, axes[0], value, target)
        if isinstance(value, Series):
            ax.plot(value.t_lab_s - t0, value.values, linestyle="--", linewidth=1.5,
                    drawstyle="steps-post", label=label)
        else:
            ax.axhline(float(value), linestyle="--", linewidth=1.5, color="tab:red",
                       label=label)

    for unit, ax in panel.items():
        ax.set_ylabel(unit if unit not in ("", "1") else "(ratio)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("lab time since start [s]")
    fig.suptitle(title or _default_title(recording))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _limit_axes(panel: dict[str, Axes], recording: Recording, first: Axes,
                value: Series | float, target: str | None) -> Axes:
    if target is not None:
        unit = recording.units.get(target, target)
        if unit in panel:
            return panel[unit]
        raise ValueError(f"plot_recording: limit target {target!r} matches no plotted channel "
                         f"or unit (panels: {list(panel)})")
    if isinstance(value, Series) and value.unit in panel:
        return panel[value.unit]
    return first


def _default_title(recording: Recording) -> str:
    instrument = recording.meta.get("instrument")
    span = f"{recording.duration_s:.1f} s" if len(recording) > 1 else f"{len(recording)} samples"
    return f"{instrument} — {span}" if instrument else f"recording — {span}"


__all__ = ["DEFAULT_CHANNELS", "Limit", "plot_recording"]
