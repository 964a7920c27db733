"""Turning expected failures into one-line command-line errors."""

from __future__ import annotations

import functools
from typing import Callable

import click


def user_errors(func: Callable) -> Callable:
    """Report bad input (``ValueError`` and its subclasses), file-system errors and memory exhaustion
    as a one-line ``click.ClickException`` instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except MemoryError as exc:
            raise click.ClickException("out of memory; use smaller images, --size or --limit") from exc
        except ValueError as exc:
            message = str(exc).strip().splitlines()
            raise click.ClickException(message[0] if message else type(exc).__name__) from exc

    return wrapper
