"""`lraudit verify` (being built; see the verify issue)."""

import click


@click.command("verify")
@click.argument("target", type=click.Path())
def verify_command(target: str) -> None:
    """Check the learning-rate state of the checkpoints under TARGET."""
    raise click.UsageError("verify is not available yet")
