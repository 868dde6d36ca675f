"""`lraudit verify`: check the learning-rate state of the checkpoints under a directory.

Thin: options -> engine -> renderer -> exit code.  Imports only click and the standard library
at module level so that `import lraudit.cli` stays light; the engine (and h5py, lazily inside
the readers) loads when the command runs.
"""

from __future__ import annotations

import os
import sys

import click

_EPILOG = ("Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage error or "
           "unreadable target.")


def _fail(target: str, reason: str) -> None:
    click.echo(f"lraudit verify: {target}: {reason}", err=True)
    raise SystemExit(2)


@click.command("verify", epilog=_EPILOG)
@click.argument("target", type=click.Path())
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True,
              help="Output format; json follows DESIGN.md's verify object, sarif and github are "
                   "the shared CI formats (lraudit.report).")
@click.option("--schedule", "schedule_spec", metavar="SPEC",
              help='Expected schedule: a Keras-style call such as "ExponentialDecay('
                   'initial_learning_rate=0.1, decay_steps=1000, decay_rate=0.96)", a constant '
                   "rate, or a JSON file with a serialized schedule. Default: the earliest "
                   "checkpoint of the run that stores one.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None,
              help="Optimizer steps per epoch; inferred from the run's checkpoints when omitted.")
@click.option("--custom-objects", multiple=True, metavar="FILE_OR_MODULE",
              help="Module defining custom schedules (used by --replay; the fast path reports "
                   "custom schedules as unverifiable). Repeatable.")
@click.option("--rtol", type=click.FloatRange(min=0.0), default=1e-6, show_default=True,
              help="Relative tolerance when comparing learning rates.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--output-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("--replay", type=click.IntRange(min=0), default=0, show_default=True,
              help="Replay K real training steps with Keras (0 = fast path only).")
def verify_command(target: str, output_format: str, schedule_spec: str | None,
                   steps_per_epoch: int | None, custom_objects: tuple[str, ...], rtol: float,
                   fail_on: str, output_file: str | None, replay: int) -> None:
    """Check the learning-rate state of the checkpoints under TARGET.

    TARGET is a checkpoint directory (searched recursively) or one checkpoint file.  Reads each
    checkpoint's optimizer step counter and learning rate without TensorFlow, then reports
    where a resume restarted the schedule, changed it, or jumped the rate.
    """
    from lraudit.findings import Severity, exit_code  # noqa: PLC0415
    from lraudit.verify import render, spec  # noqa: PLC0415
    from lraudit.verify.analyze import Options  # noqa: PLC0415
    from lraudit.verify.discover import TargetError  # noqa: PLC0415
    from lraudit.verify.engine import verify  # noqa: PLC0415
    from lraudit.verify.formats import MissingDependency  # noqa: PLC0415

    schedule = None
    if schedule_spec is not None:
        try:
            schedule = spec.parse_schedule(schedule_spec)
        except spec.SpecError as exc:
            raise click.BadParameter(str(exc), param_hint="--schedule") from None
    for item in custom_objects:
        if item.endswith(".py") and not os.path.isfile(item):
            raise click.BadParameter(f"{item}: no such file", param_hint="--custom-objects")
    if replay > 0:
        click.echo(f"lraudit verify: --replay {replay}: replaying training steps is not available "
                   "in this version; reporting the fast-path checks only (no replay results).",
                   err=True)

    options = Options(schedule=schedule, steps_per_epoch=steps_per_epoch, rtol=rtol)
    try:
        result = verify(target, options)
    except TargetError as exc:
        _fail(target, str(exc))
    except MissingDependency as exc:
        _fail(target, str(exc))
    except Exception as exc:  # noqa: BLE001 - DESIGN.md: internal errors exit 2, never a traceback
        if os.environ.get("LRAUDIT_DEBUG"):
            raise
        _fail(target, f"internal error ({type(exc).__name__}: {exc}); set LRAUDIT_DEBUG=1 for details")

    if not result.rows and not any(run.trace for run in result.runs):
        _fail(target, "no checkpoints found (looked for .keras, .h5, .weights.h5, TF checkpoints, "
                      "SavedModel and BackupAndRestore directories)")

    if output_format == "json":
        text = render.render_json(result)
    elif output_format in ("sarif", "github"):
        from lraudit.report import render as render_report  # noqa: PLC0415

        # checkpoint paths are relative to the target directory (a file target: its directory)
        root = target if os.path.isdir(target) else os.path.dirname(target)
        text = render_report(result.findings, output_format, kind="verify", root=root or None)
    else:
        from lraudit.report.text import use_colour  # noqa: PLC0415

        colour = output_file is None and use_colour(sys.stdout)
        text = render.render_text(result, colour=colour)
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            _fail(output_file, f"cannot write the report ({exc.strerror or exc})")
    else:
        click.echo(text, nl=False)
    raise SystemExit(exit_code(result.findings, Severity.parse(fail_on)))
