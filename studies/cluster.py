"""Run a sweep's scenarios on Dask: a local cluster sized to the machine, or a scheduler address.

Each local worker process gets ``cores // (workers * threads_per_worker)``
numba/OpenMP/SimpleITK threads (or ``task_threads``) so that workers do not
oversubscribe the cores, and the most expensive scenarios start first so no
worker idles at the end of a sweep.
"""

from __future__ import annotations

import logging
import os
import traceback

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def inner_threads(workers: int, threads_per_worker: int) -> int:
    """numba/OpenMP threads per task so that all workers together use the machine's cores."""
    return max(1, (os.cpu_count() or 1) // (workers * threads_per_worker))


def _cost(task) -> float:
    """Relative cost of a scenario, to start the longest first (no idle worker at the end)."""
    acq = task.scenario.acquisition
    iterative = task.options.get("algorithm") in ("sirt", "os-sirt", "cgls")
    return acq.detector_rows * acq.detector_cols ** 2 * (1.0 + (2.0 if iterative else 0.0))


def _after(_dependency, fn, *args, **kwargs):
    # a Dask task that waits for ``_dependency`` (a future resolved before the call)
    return fn(*args, **kwargs)


def run_on_dask(tasks, pending, out_dir, scheduler, workers, threads_per_worker, task_threads, fn,
                keep_files, bar, *, run_scenario, record_error, prerequisites=None,
                band_prerequisites: bool | None = None) -> dict:
    """Run ``pending`` ({cache key: task index}) as Dask tasks; return {key: result row}.

    A worker that dies (out of memory, killed) gives an error row, like a
    scenario that raises. ``bar`` advances once per finished scenario.
    ``run_scenario`` runs one task on a worker and ``record_error`` writes the
    error row of a task whose worker died (`studies.sweep` passes its own).
    ``prerequisites`` ({cache key: (name, callable)}) are run first, once per
    name (the simulation that several scenarios share), and a scenario starts
    when its own is done; one that fails gives its error to those scenarios.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    threads = None
    if scheduler is None:
        threads = task_threads or inner_threads(workers, threads_per_worker)
        env = {v: str(threads) for v in THREAD_VARIABLES}
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                               processes=True, env=env, dashboard_address=None,
                               silence_logs=logging.ERROR)
    client = Client(cluster if cluster is not None else scheduler)
    futures = {}
    first = {}  # prerequisite name -> future, started before any scenario
    done = {}
    try:
        costs = {k: _cost(tasks[i]) for k, i in pending.items()}
        rank = {k: r for r, k in enumerate(sorted(costs, key=costs.get))}
        makers = {}
        for k in pending:
            name, make = (prerequisites or {}).get(k, (None, None))
            if name is not None:
                makers.setdefault(name, make)
        n_workers = len(client.scheduler_info().get("workers", {}))
        if band_prerequisites is None:
            band_prerequisites = 0 < len(makers) < n_workers
        order = sorted(pending.items(), key=lambda item: -costs[item[0]])

        def submit(k, i, after=None):
            futures[client.submit(_after, after, run_scenario, tasks[i], out_dir, cache_key=k, chain=fn,
                                  keep_files=keep_files, threads=threads, key=f"scenario-{k}",
                                  pure=False, retries=0, priority=rank[k])] = k

        if band_prerequisites:
            # one simulation at a time on the whole cluster; its scenarios start as it is done
            for name, make in makers.items():
                try:
                    make(scheduler=client)
                    failed = None
                except Exception as exc:
                    failed = (exc, traceback.format_exc())
                for k, i in order:
                    if (prerequisites or {}).get(k, (None,))[0] != name:
                        continue
                    if failed is None:
                        submit(k, i)
                    else:
                        folder = out_dir / k
                        folder.mkdir(parents=True, exist_ok=True)
                        done[k] = record_error(tasks[i], folder, *failed)
                        bar.update(1)
            for k, i in order:
                if (prerequisites or {}).get(k, (None,))[0] is None:
                    submit(k, i)
        else:
            for name, make in makers.items():
                first[name] = client.submit(make, key=f"prerequisite-{name}", pure=False, retries=0,
                                            priority=len(pending) + 1)
            for k, i in order:
                submit(k, i, first.get((prerequisites or {}).get(k, (None,))[0]))
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                done[k] = fut.result()
            except Exception as exc:  # the worker died (KilledWorker, out of memory, ...)
                task = tasks[pending[k]]
                folder = out_dir / k
                folder.mkdir(parents=True, exist_ok=True)
                done[k] = record_error(task, folder, exc, traceback.format_exc())
            bar.update(1)
    except BaseException:
        client.cancel(list(futures) + list(first.values()))
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return done
