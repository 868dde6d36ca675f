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


def write_plot(result: Any, path: str) -> None:
    """Write the figure; raises OSError when the file cannot be written."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = [r for r in result.runs if r.rows or (r.trace and r.trace.records)][:MAX_PANELS]
    replay_by_ckpt = {entry["checkpoint"]: entry for entry in result.replay}
    height = 3.2 * max(1, len(runs))
    fig, axes = plt.subplots(max(1, len(runs)), 1, figsize=(10, height), squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        _panel(ax, run, replay_by_ckpt)
    if not runs:
        axes[0, 0].text(0.5, 0.5, "no checkpoints", ha="center", va="center")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _panel(ax: Any, run: Any, replay_by_ckpt: dict[str, dict]) -> None:
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
                    label=f"expected: {schedules.describe(run.schedule)}"[:90])
    if run.trace is not None and run.trace.records:
        recs = [r for r in run.trace.records if _finite(r.lr)]
        ax.plot([r.step for r in recs], [r.lr for r in recs], drawstyle="steps-post",
                color="tab:purple", lw=0.8, alpha=0.7, label="trace (rate at each epoch end)")
    stored = [(r.info.step, r.lr) for r in run.rows if r.info.step is not None and _finite(r.lr)]
    if stored:
        ax.scatter([s for s, _ in stored], [lr for _, lr in stored], color="tab:blue", zorder=3,
                   s=28, label="rate each checkpoint resumes with")
    moved = [(r.expected_step, r.expected_lr) for r in run.rows
             if r.expected_step is not None and _finite(r.expected_lr) and r.expected_step != r.info.step]
    if moved:
        ax.scatter([s for s, _ in moved], [lr for _, lr in moved], facecolors="none",
                   edgecolors="tab:green", s=60, zorder=3, label="where the checkpoint should be")
    replayed = []
    for row in run.rows:
        entry = replay_by_ckpt.get(row.info.display)
        if entry:
            replayed += [(s["step"], s["lr_applied"]) for s in entry["steps"] if _finite(s.get("lr_applied"))]
    if replayed:
        ax.scatter([s for s, _ in replayed], [lr for _, lr in replayed], marker="x",
                   color="tab:red", s=40, zorder=4, label="replayed steps (rate applied)")
    by_path = {r.info.display: r for r in run.rows}
    labelled: set[tuple[str, str]] = set()
    for finding in run.findings:
        kind = MARKED.get(finding.code)
        row = by_path.get(finding.checkpoint or "")
        if kind is None or row is None or row.info.step is None:
            continue
        key = (finding.code, row.info.display)
        if key in labelled:
            continue
        labelled.add(key)
        x = row.info.step
        ax.axvline(x, color="tab:red", ls="--", lw=0.9, alpha=0.8)
        ax.annotate(f"{finding.code} {kind}\n{row.info.display.split('/')[-1]}", xy=(x, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(3, -3), textcoords="offset points",
                    va="top", fontsize=7, color="tab:red")
    ax.set_title(f"run {run.display}", fontsize=9, loc="left")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_xlim(left=-0.5)
    ax.grid(alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper right")
