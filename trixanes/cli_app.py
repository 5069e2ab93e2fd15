"""The ``trixanes`` Typer app and what its commands share: help texts, error exit, --pipeline."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate, process and validate three-energy XANES nano-CT Li maps.",
)


_BACKEND_HELP = ("Reconstruction backend: auto (numba), numba, astra, or cupy (a CUDA GPU; "
                 "needs CuPy, numba's result to float32 rounding).")


def _print_version(value: bool) -> None:
    if value:
        from trixanes._shared.provenance import trixanes_version

        typer.echo(f"trixanes {trixanes_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the trixanes version and exit."),
):
    pass


_PIPELINE_HELP = ("The pipeline to run: 'trixanes' (default), a command template such as "
                  "'python my_pipe.py {pre} {edge} {post} --refs {references} --out {out}' "
                  "(placeholders {pre} {edge} {post} {scans} {references} {out} {scenario} {python}; "
                  "run without a shell), or a Python entry point module:function or file.py:function.")
_TIMEOUT_HELP = "Seconds after which a pipeline command is killed and its run counted as failed."


def _pipeline(spec, timeout_s):
    """The --pipeline option as a pipeline (a usage error is a ValueError, exit 2)."""
    from trixanes.validate.plugin import parse_pipeline

    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"--pipeline-timeout: must be a positive number of seconds, got {timeout_s:g}")
    return parse_pipeline(spec, timeout_s=timeout_s)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


# options that `process`, `series` and `reconstruct` share
