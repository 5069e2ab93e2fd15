"""Dask helpers shared by the packages that farm work out: connect, and stream bounded work.

`connect` fails in seconds, with the address in the message, where a bare
``Client(address)`` raises deep inside distributed; `bounded_map` keeps a few
tasks per worker in flight and yields results as they finish, so that results
waiting for the caller (chunks of a volume, bands of a scan) stay few.
Nothing imports dask before a function asks.
"""

from __future__ import annotations

import contextlib

__all__ = ["bounded_map", "connect"]


def connect(scheduler, *, timeout_s: float = 20.0):
    """``(client, owned)``: a `distributed.Client` of ``scheduler`` and whether this call made it.

    Parameters
    ----------
    scheduler : str or distributed.Client
        A scheduler's address (``tcp://host:8786``) or a connected client (returned as is).
    timeout_s : float
        How long to wait for the scheduler.

    Raises
    ------
    ValueError
        No scheduler answers at that address (or the address is malformed).

    Examples
    --------
    >>> connect("notaproto://127.0.0.1:9")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: scheduler 'notaproto://127.0.0.1:9': no Dask scheduler answers there (...
    """
    from dask.distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=timeout_s), True
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"scheduler {scheduler!r}: no Dask scheduler answers there ({exc})") from None


def bounded_map(client, submit, items, *, per_worker: int = 2):
    """Yield ``(item, result)`` for every item, as they finish, with ``per_worker`` tasks per worker in flight.

    Parameters
    ----------
    client : distributed.Client
    submit : callable
        ``submit(item) -> Future``.
    items : iterable
    per_worker : int

    A task's exception is raised here. When the caller stops early (an error,
    or closing the generator), the tasks still running are cancelled and
    waited for (briefly), so that none writes after the caller cleaned up.
    """
    from dask.distributed import as_completed, wait

    todo = list(items)
    ahead = per_worker * max(1, len(client.scheduler_info().get("workers", {})))
    futures = {}

    def start(item):
        fut = submit(item)
        futures[fut] = item
        return fut

    queue = as_completed([start(todo.pop(0)) for _ in range(min(ahead, len(todo)))])
    try:
        for fut in queue:
            result = fut.result()
            item = futures.pop(fut)
            fut.release()
            if todo:
                queue.add(start(todo.pop(0)))
            yield item, result
    finally:
        running = list(futures)
        if running:
            client.cancel(running)
            with contextlib.suppress(Exception):
                wait(running, timeout=30)
