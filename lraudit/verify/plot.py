"""`lraudit verify --plot FILE.png`: the rate a run was supposed to follow and the one it got.

One panel per run, x = optimizer step:
  * the expected schedule as a line (the run's schedule, or --schedule);
  * the rate each checkpoint would resume with, as dots at its stored step counter, and, where
    the fast path knows where the counter should have been, a hollow ring there;
  * the trace's recorded rates (ResumeGuard), as a thin step line;
  * the replayed steps (rate measured while training), as crosses;
  * every finding that breaks the schedule (restart, jump, mismatch, skipped restore) as a
    labelled vertical marker at its checkpoint, so a reader sees where the resume went wrong.

matplotlib is imported only here, with the non-interactive Agg backend (works on CI and over
ssh), and only when --plot is given.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from lraudit.verify import schedules

MARKED = {"LRV002": "restart", "LRV003": "rate mismatch", "LRV004": "schedule changed",
          "LRV005": "jump", "LRV006": "replay mismatch", "LRV007": "restore skipped",
          "LRV010": "step ahead"}
MAX_PANELS = 12


def plot_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _place(row: Any) -> int | None:
    return row.expected_step if row.expected_step is not None else row.info.step


def _curve(schedule: dict, last: int) -> tuple[list[int], list[float]]:
    stride = max(1, last // 400)
    xs = list(range(0, last + 1, stride))
    ys = []
    for x in xs:
        try:
            ys.append(schedules.evaluate(schedule, x))
        except schedules.ScheduleError:
            return [], []
    return xs, ys


def write_plot(result: Any, path: str) -> list[str]:
    """Write the figure; returns the labels of the markers drawn (restarts, jumps...).

    Raises OSError when the file cannot be written.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = [r for r in result.runs if r.rows or (r.trace and r.trace.records)][:MAX_PANELS]
    replay_by_ckpt = {entry["checkpoint"]: entry for entry in result.replay}
    height = 3.2 * max(1, len(runs))
    fig, axes = plt.subplots(max(1, len(runs)), 1, figsize=(13, height), squeeze=False)
    labels: list[str] = []
    for ax, run in zip(axes[:, 0], runs):
        labels.extend(_panel(ax, run, replay_by_ckpt))
    if not runs:
        axes[0, 0].text(0.5, 0.5, "no checkpoints", ha="center", va="center")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return labels


def _panel(ax: Any, run: Any, replay_by_ckpt: dict[str, dict]) -> list[str]:
    steps = [r.info.step for r in run.rows if r.info.step is not None]
    steps += [r.expected_step for r in run.rows if r.expected_step is not None]
    for row in run.rows:
        entry = replay_by_ckpt.get(row.info.display)
        if entry:
            steps += [s["step"] for s in entry["steps"] if s.get("step") is not None]
    if run.trace is not None:
        steps += [rec.step for rec in run.trace.records]
    last = max(steps, default=0) + 2

    if run.schedule is not None and schedules.is_builtin(run.schedule):
        xs, ys = _curve(run.schedule, last)
        if xs:
            ax.plot(xs, ys, color="0.55", lw=1.5,
                    label=("expected: " + schedules.describe(run.schedule).replace(", ", ",\n  ", 1))[:120])
    if run.trace is not None and run.trace.records:
        recs = [r for r in run.trace.records if _finite(r.lr)]
        ax.plot([r.step for r in recs], [r.lr for r in recs], drawstyle="steps-post",
                color="tab:purple", lw=0.8, alpha=0.7, label="trace (rate at each epoch end)")
    # x is the checkpoint's place in the run (epochs x steps/epoch when known), so a restarted
    # counter shows as a rate off the curve, not as a dot hidden on an earlier one.
    stored = [(_place(r), r.lr) for r in run.rows if _place(r) is not None and _finite(r.lr)]
    if stored:
        ax.scatter([s for s, _ in stored], [lr for _, lr in stored], color="tab:blue", zorder=3,
                   s=28, label="rate each checkpoint resumes with")
    moved = [(_place(r), r.info.step) for r in run.rows
             if r.expected_step is not None and r.info.step is not None and r.expected_step != r.info.step]
    for x, counter in moved:
        ax.annotate(f"counter {counter}", xy=(x, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=6,
                    color="tab:blue")
    replayed = []
    for row in run.rows:
        entry = replay_by_ckpt.get(row.info.display)
        base = _place(row)
        if entry and base is not None:
            applied = [s for s in entry["steps"] if s.get("lr_applied") is not None]
            replayed += [(base + k, s["lr_applied"]) for k, s in enumerate(applied)
                         if _finite(s["lr_applied"])]
    if replayed:
        ax.scatter([s for s, _ in replayed], [lr for _, lr in replayed], marker="x",
                   color="tab:red", s=40, zorder=4, label="replayed steps (rate applied)")
    by_path = {r.info.display: r for r in run.rows}
    labelled: set[tuple[str, str]] = set()
    drawn: list[str] = []
    for finding in run.findings:
        kind = MARKED.get(finding.code)
        row = by_path.get(finding.checkpoint or "")
        if kind is None or row is None or _place(row) is None:
            continue
        key = (finding.code, row.info.display)
        if key in labelled:
            continue
        labelled.add(key)
        x = _place(row)
        ax.axvline(x, color="tab:red", ls="--", lw=0.9, alpha=0.8)
        label = f"{finding.code} {kind}\n{row.info.display.split('/')[-1]}"
        drawn.append(label.replace("\n", " at "))
        ax.annotate(label, xy=(x, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(3, -3), textcoords="offset points",
                    va="top", fontsize=7, color="tab:red")
    ax.set_title(f"run {run.display if run.display != '.' else run.run_dir}", fontsize=9, loc="left")
    ax.set_xlabel("optimizer step (checkpoints at their place in the run)")
    ax.set_ylabel("learning rate")
    ax.set_xlim(left=-0.5)
    ax.grid(alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return drawn
