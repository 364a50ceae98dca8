"""Many independent jobs in parallel: in this process, on a local process pool, on a Dask
``LocalCluster`` started here, or on a Dask cluster at an address; results in input
order, whatever ran them (:func:`map_runs`).

**Shared data.** ``shared`` (the traces of a sweep, say) is sent once, not with every job:
to each pool process when it starts, or scattered to every Dask worker
(``scatter(..., broadcast=True)``) before the jobs are submitted. Each job receives it as
its second argument. Jobs and shared data must be picklable and self-contained: a worker
may run in another folder or on another machine and sees none of this machine's files.

**Deadlines (Dask only).** Reaching the scheduler and seeing at least one of its workers
must take at most ``connect_timeout_s`` (:data:`DEFAULT_CONNECT_TIMEOUT_S`); the whole
Dask part (starting a ``LocalCluster`` or connecting, shipping, running, gathering) at most
``timeout_s`` (:data:`DEFAULT_TIMEOUT_S`). A scheduler that refuses connections, accepts
them but never answers, has no workers, or runs past the deadline ends in
:class:`ClusterError` naming its address and the deadline.

**A job's error** comes back in one of three ways, the first failing job's:

* capsim's own input errors (``ScenarioError``, ``WorkloadError``, ``ManifestError``: the
  ``ValueError`` subclasses capsim defines) as they were raised, one line naming the field;
* a worker that cannot import what the job needs, or that died while running it (killed,
  out of memory), as :class:`ClusterError`: the environment, not the input;
* anything else as ``RuntimeError`` chained to the original: a bug in capsim (a worker
  never opens the user's files, so even an ``OSError`` there is one).

Errors of jobs run in this process (one job, or ``processes=1``) are raised unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import warnings
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "MAX_LOCAL_WORKERS",
    "ClusterError",
    "check_scheduler_address",
    "map_runs",
]

DEFAULT_CONNECT_TIMEOUT_S = 30.0
"""Longest wait to reach a Dask scheduler and see one of its workers (30 s)."""
DEFAULT_TIMEOUT_S = 24 * 3600.0
"""Longest a whole Dask map may take, connecting included (24 h)."""
MAX_LOCAL_WORKERS = 256
"""Most worker processes a ``LocalCluster`` started here may have."""
_CLOSE_TIMEOUT_S = 5.0  # closing a client or LocalCluster that no longer answers

_ADDRESS = re.compile(
    r"(?:(?P<scheme>tcp|tls|ws|wss)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)"
    r":(?P<port>[0-9]{1,5})"
)


class ClusterError(Exception):
    """The workers could not be reached or could not run the jobs (module docs): one line
    naming the scheduler's address; an environment problem, not a bug."""


def check_scheduler_address(text: str) -> str:
    """``tcp://HOST:PORT`` (or ``tls://``, ``ws://``, ``wss://``, or ``HOST:PORT``, which
    Dask reads as tcp), returned unchanged; raises ``ValueError`` naming the text."""
    match = _ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"expected a Dask scheduler address tcp://HOST:PORT, got {text!r}")
    return text


def _is_input_error(error: BaseException) -> bool:
    """capsim's own input errors: the ``ValueError`` subclasses capsim defines."""
    return (
        isinstance(error, ValueError)
        and type(error) is not ValueError
        and type(error).__module__.startswith("capsim.")
    )


def _job_error(error: Exception, where: str) -> Exception:
    """What a job's error that crossed a process boundary becomes (module docs)."""
    if _is_input_error(error):
        return error
    if isinstance(error, ImportError):
        return ClusterError(
            f"{where}: a worker cannot import what the run needs ({error}); install the same "
            "capsim version, with the dist extra, on the workers"
        )
    if type(error).__name__ == "KilledWorker" or isinstance(error, BrokenProcessPool):
        return ClusterError(f"{where}: a worker died while running a job: {error}")
    return RuntimeError(
        f"{where}: a run failed on a worker with {type(error).__name__}: {error} (a bug in capsim)"
    )


def _call_with(function: Callable[..., Any], shared: Any, item: Any) -> Any:
    return function(item) if shared is None else function(item, shared)


_POOL_SHARED: Any = None  # what a pool process was started with (its initializer)


def _pool_init(shared: Any) -> None:
    global _POOL_SHARED
    _POOL_SHARED = shared


def _pool_call(function: Callable[..., Any], item: Any) -> Any:
    return _call_with(function, _POOL_SHARED, item)


def _map_pool(
    function: Callable[..., Any], items: Sequence[Any], shared: Any, processes: int | None
) -> list[Any]:
    with ProcessPoolExecutor(
        max_workers=processes, initializer=_pool_init, initargs=(shared,)
    ) as pool:
        try:
            return list(pool.map(partial(_pool_call, function), items))
        except Exception as exc:
            raise _job_error(exc, "a local process pool") from exc


async def _close(resource: Any) -> None:
    """Close a client or cluster, giving up after a few seconds (it may not answer)."""
    if resource is None:
        return
    with contextlib.suppress(Exception):  # best effort: what matters is already raised
        await asyncio.wait_for(resource.close(), _CLOSE_TIMEOUT_S)


async def _connect(address: str, connect_timeout_s: float) -> Any:
    """A connected asynchronous client with at least one worker, or ClusterError; the
    client is closed on every way out but success (a deadline's cancellation included)."""
    from distributed import Client

    client: Any = Client(  # type: ignore[no-untyped-call]
        address, asynchronous=True, timeout=connect_timeout_s, set_as_default=False
    )
    try:
        try:
            await asyncio.wait_for(client, connect_timeout_s)
        except TimeoutError:
            raise ClusterError(
                f"{address}: no answer from a Dask scheduler within {connect_timeout_s:g} s "
                "(--connect-timeout)"
            ) from None
        except (OSError, ValueError, TypeError) as exc:
            raise ClusterError(f"{address}: cannot reach the Dask scheduler: {exc}") from None
        try:
            await client.wait_for_workers(1, timeout=connect_timeout_s)
        except TimeoutError:
            raise ClusterError(
                f"{address}: no Dask worker joined the scheduler within "
                f"{connect_timeout_s:g} s (--connect-timeout)"
            ) from None
    except BaseException:
        await _close(client)
        raise
    return client


async def _local_cluster(workers: int, where: str) -> tuple[Any, Any]:
    """A ``LocalCluster`` on 127.0.0.1 and a client of it, or ClusterError."""
    from distributed import Client, LocalCluster

    cluster: Any = None
    try:
        cluster = await LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,  # no dashboard; its HTTP server on any free port:
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            asynchronous=True,
            silence_logs=logging.CRITICAL,  # its workers share our stderr: one line
        )
        client = await Client(cluster, asynchronous=True, set_as_default=False)  # type: ignore[no-untyped-call]
    except Exception as exc:
        await _close(cluster)
        raise ClusterError(f"{where}: cannot start: {type(exc).__name__}: {exc}") from None
    except BaseException:
        await _close(cluster)
        raise
    return cluster, client


async def _map_dask(
    function: Callable[..., Any],
    items: Sequence[Any],
    shared: Any,
    *,
    address: str | None,
    workers: int | None,
    connect_timeout_s: float,
) -> list[Any]:
    where = address or f"a Dask LocalCluster of {workers} worker(s)"
    cluster: Any = None
    client: Any = None
    try:
        if address is not None:
            client = await _connect(address, connect_timeout_s)
        else:
            cluster, client = await _local_cluster(workers or 1, where)
        try:
            if shared is None:
                futures = client.map(function, items, pure=False)
            else:
                [shared_future] = await client.scatter([shared], broadcast=True, hash=False)
                futures = client.map(function, items, [shared_future] * len(items), pure=False)
        except OSError as exc:  # the connection broke
            raise ClusterError(f"{where}: lost the Dask scheduler: {exc}") from None
        try:
            return list(await client.gather(futures))
        except Exception as exc:
            if any(future.status == "error" for future in futures):  # a job raised it
                raise _job_error(exc, where) from exc
            raise ClusterError(  # the scheduler went away: the futures were cancelled
                f"{where}: lost the Dask scheduler while running: {type(exc).__name__}: {exc}"
            ) from None
    finally:
        await _close(client)
        await _close(cluster)


def _ignore_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's handler for errors no one awaited: distributed's own tasks left
    behind when a deadline cancels a gather. What matters was raised already."""


async def _with_deadline(work: Coroutine[Any, Any, list[Any]], timeout_s: float) -> list[Any]:
    asyncio.get_running_loop().set_exception_handler(_ignore_loop_errors)
    return await asyncio.wait_for(work, timeout_s)


def _run_dask(
    function: Callable[..., Any],
    items: Sequence[Any],
    shared: Any,
    *,
    address: str | None,
    workers: int | None,
    timeout_s: float,
    connect_timeout_s: float,
) -> list[Any]:
    """:func:`_map_dask` in an event loop of its own, under the overall deadline, with
    distributed's log and warnings quiet (they would break the one-line error; every
    failure that matters is raised)."""
    where = address or f"a Dask LocalCluster of {workers} worker(s)"
    work = _map_dask(
        function,
        items,
        shared,
        address=address,
        workers=workers,
        connect_timeout_s=min(connect_timeout_s, timeout_s),
    )
    try:
        with _quiet_distributed():
            return asyncio.run(_with_deadline(work, timeout_s))
    except TimeoutError:
        raise ClusterError(
            f"{where}: the Dask sweep did not finish within its deadline of {timeout_s:g} s "
            "(--timeout)"
        ) from None


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed's loggers (each has its own level) and warnings silenced, then restored."""
    import distributed  # noqa: F401 - creates its loggers

    names = [
        name
        for name in logging.root.manager.loggerDict
        if name == "distributed" or name.startswith("distributed.")
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        for name in names:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"distributed(\.|$)")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def map_runs(
    function: Callable[..., Any],
    items: Sequence[Any],
    *,
    shared: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> list[Any]:
    """``[function(item, shared) for item in items]`` (``function(item)`` when ``shared``
    is None), in parallel, results in input order (module docs).

    ``scheduler``: a Dask cluster's address; ``workers``: a Dask ``LocalCluster`` of that
    many single-threaded worker processes (1 to :data:`MAX_LOCAL_WORKERS`); neither: a
    local process pool of ``processes`` (default: the machine's cores), or this process for
    one job or ``processes=1``. Raises ``ValueError`` for arguments out of range.
    """
    if workers is not None and not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ValueError(f"workers: must be 1 to {MAX_LOCAL_WORKERS}, got {workers}")
    if processes is not None and processes < 1:
        raise ValueError(f"processes: must be >= 1, got {processes}")
    for name, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s)):
        if not value > 0:
            raise ValueError(f"{name}: must be > 0, got {value}")
    if scheduler is not None:
        check_scheduler_address(scheduler)
    if scheduler is not None or workers is not None:
        return _run_dask(
            function,
            items,
            shared,
            address=scheduler,
            workers=workers,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
    if len(items) <= 1 or processes == 1:
        return [_call_with(function, shared, item) for item in items]
    return _map_pool(function, items, shared, processes)
