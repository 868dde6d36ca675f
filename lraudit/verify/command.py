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
              help="Python file or module defining custom objects (schedules, layers); replay "
                   "imports it before loading. The fast path reports custom schedules as "
                   "unverifiable. Repeatable.")
@click.option("--rtol", type=click.FloatRange(min=0.0), default=1e-6, show_default=True,
              help="Relative tolerance when comparing learning rates.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--output-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("--replay", type=click.IntRange(min=0), default=None, metavar="K",
              help="Reload the latest checkpoint of each run with Keras and run K real training "
                   "steps (0 = fast path only). Default: 3 when TensorFlow and Keras are "
                   "installed, else 0.")
@click.option("--replay-all", is_flag=True,
              help="Replay every checkpoint that holds optimizer state, not only the latest.")
@click.option("--unsafe", is_flag=True,
              help="Load with Keras safe_mode off (runs code stored in the checkpoint, such as a "
                   "Lambda layer). Only for checkpoints you trust.")
@click.option("--model-factory", metavar="MODULE:FUNCTION",
              help="For formats without an architecture (.weights.h5, TF checkpoints, backups): "
                   "a function returning the compiled model your resume builds (or model, "
                   "optimizer); it may take the checkpoint path. MODULE may be a .py file.")
@click.option("--package-root", "package_roots", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False),
              help="A folder replay may import the modules named by --custom-objects and "
                   "--model-factory from. Replay never imports from the working directory, the "
                   "checkpoint folder or PYTHONPATH. Repeatable.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True, help="Where replay runs; auto: the GPU when TensorFlow sees one.")
@click.option("--strategy", type=click.Choice(["none", "mirrored"]), default="none",
              show_default=True,
              help="Replay under tf.distribute.MirroredStrategy (all GPUs, or two logical CPUs "
                   "on a CPU-only machine), for checkpoints written by distributed training.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Checkpoints read at once. Default: 16 for a remote TARGET (s3://, gs://, "
                   "az://, memory://, any fsspec URL; needs the remote extra), 1 for a local one.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE.png",
              help="Draw the expected schedule, the rate stored at each checkpoint, the replayed "
                   "steps and every restart or jump (needs matplotlib: the plot extra).")
def verify_command(target: str, output_format: str, schedule_spec: str | None,
                   steps_per_epoch: int | None, custom_objects: tuple[str, ...], rtol: float,
                   fail_on: str, output_file: str | None, replay: int | None, replay_all: bool,
                   unsafe: bool, model_factory: str | None, package_roots: tuple[str, ...],
                   device: str, strategy: str, plot_file: str | None, jobs: int | None) -> None:
    """Check the learning-rate state of the checkpoints under TARGET.

    TARGET is a checkpoint directory (searched recursively) or one checkpoint file, local or a
    URL in object storage (s3://bucket/run/, gs://, az://, any fsspec protocol; needs the remote
    extra).  Reads each checkpoint's optimizer step counter and learning rate without
    TensorFlow, then reports where a resume restarted the schedule, changed it, or jumped the
    rate.
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
    if model_factory is not None:
        module_part, sep, func = model_factory.rpartition(":")
        if not sep or not module_part or not func:
            raise click.BadParameter(f"{model_factory!r}: expected MODULE:FUNCTION or FILE.py:FUNCTION",
                                     param_hint="--model-factory")
        if module_part.endswith(".py") and not os.path.isfile(module_part):
            raise click.BadParameter(f"{module_part}: no such file", param_hint="--model-factory")
    if plot_file is not None:
        from lraudit.verify.plot import plot_available  # noqa: PLC0415

        if not plot_available():
            raise click.BadParameter("needs matplotlib: pip install 'lraudit[plot]'",
                                     param_hint="--plot")
    explicit_replay = replay is not None or replay_all
    if replay is None:
        from lraudit.verify.replay import DEFAULT_STEPS, keras_available  # noqa: PLC0415

        replay = DEFAULT_STEPS if keras_available() else 0
    elif replay > 0 or replay_all:
        from lraudit.verify.replay import keras_available  # noqa: PLC0415

        if not keras_available():
            raise click.BadParameter("replay needs TensorFlow and Keras: pip install "
                                     "'lraudit[tf]' (or use --replay 0)", param_hint="--replay")
    if replay_all and replay == 0:
        raise click.BadParameter("--replay-all needs K > 0 steps", param_hint="--replay")

    options = Options(schedule=schedule, steps_per_epoch=steps_per_epoch, rtol=rtol)
    try:
        result = verify(target, options, jobs=jobs, progress=_reading_progress())
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

    replay_failed = False
    if replay > 0:
        try:
            replay_failed = _replay(result, replay, replay_all, unsafe, custom_objects,
                                    model_factory, package_roots, device, strategy, rtol,
                                    schedule, output_format) and explicit_replay
        except Exception as exc:  # noqa: BLE001 - DESIGN.md: internal errors exit 2, no traceback
            if os.environ.get("LRAUDIT_DEBUG"):
                raise
            _fail(target, f"replay: internal error ({type(exc).__name__}: {exc}); set "
                          "LRAUDIT_DEBUG=1 for details")
    if plot_file is not None:
        from lraudit.verify.plot import write_plot  # noqa: PLC0415

        try:
            write_plot(result, plot_file)
        except OSError as exc:
            _fail(plot_file, f"cannot write the plot ({exc.strerror or exc})")

    if output_format == "json":
        text = render.render_json(result)
    elif output_format in ("sarif", "github"):
        from lraudit.report import render as render_report  # noqa: PLC0415

        # checkpoint paths are relative to the target directory (a file target: its directory)
        root = target if os.path.isdir(target) else os.path.dirname(target)
        if "://" in target:
            root = None   # a URL is no file path: locations stay relative to the target
        text = render_report(result.findings, output_format, kind="verify", root=root or None)
    else:
        from lraudit.report.text import use_colour  # noqa: PLC0415

        colour = output_file is None and use_colour(sys.stdout)
        text = render.render_text(result, colour=colour)
    if output_file:
        try:
            # surrogateescape: checkpoint names that are not valid UTF-8 keep their bytes
            with open(output_file, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(text)
        except OSError as exc:
            _fail(output_file, f"cannot write the report ({exc.strerror or exc})")
    else:
        click.echo(text, nl=False)
    code = exit_code(result.findings, Severity.parse(fail_on))
    raise SystemExit(2 if replay_failed and code == 0 else code)


def _reading_progress():
    """`reading checkpoints N/M` on stderr, redrawn in place, only on a terminal (never in CI
    logs or in captured output); None elsewhere."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    import time  # noqa: PLC0415

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        end = "\r" if done < total else "\r" + " " * 40 + "\r"
        click.echo(f"reading checkpoints {done}/{total}" + end, err=True, nl=False)

    return progress


def _replay(result, steps: int, replay_all: bool, unsafe: bool, custom_objects: tuple[str, ...],
            model_factory: str | None, package_roots: tuple[str, ...], device: str,
            strategy: str, rtol: float, schedule: dict | None, output_format: str) -> bool:
    """Run the replay engine on `result`; True when a checkpoint could not be replayed."""
    from lraudit.verify.replay import Settings, run_replay  # noqa: PLC0415

    show = output_format == "text" and sys.stderr.isatty() and not os.environ.get("CI")

    def progress(message: str) -> None:
        if show:
            click.echo(f"lraudit verify: replay: {message}", err=True)

    settings = Settings(device=device, strategy=None if strategy == "none" else strategy,
                        unsafe=unsafe, custom_objects=list(custom_objects),
                        model_factory=model_factory, package_roots=list(package_roots))
    report = run_replay(result, steps, settings, replay_all=replay_all, rtol=rtol,
                        schedule_override=schedule, progress=progress)
    for notice in report.notices:
        click.echo(f"lraudit verify: {notice}", err=True)
    return report.failed > 0
