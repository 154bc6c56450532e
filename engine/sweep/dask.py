"""Sweep points on a running Dask cluster, for when one machine is not enough.

The user starts the cluster, the usual way::

    dask scheduler                                     # on one machine: tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 1 --nworkers N   # on each machine, N = its cores

and names the scheduler (``dltui sweep ... --scheduler tcp://HOST:8786``). Each point goes to the
cluster as one task, :func:`engine.sweep.point.run_point` on a picklable
:class:`~engine.sweep.point.PointTask`; the result carries the run folder's files back, so the
workers need no disk shared with the machine that asked.

Why ``--nthreads 1``: a Dask worker runs as many tasks at once as it has threads, all in one
Python process. A point holds the GIL between kernels and sets BLAS's thread count for the whole
process, so two points in one process slow each other down; one thread per worker process and
one worker process per core (``--nworkers``) keeps every core on one point, as the local
executor does.

A worker that dies mid-point (killed, out of memory, its machine gone) loses its connection to
the scheduler, which gives the point to another worker; a point that kills
``distributed.scheduler.allowed-failures`` workers (3 by default) comes back as a failed point.
An exception inside the task is retried ``RETRIES`` times. The same seed gives the same weights
on any worker, bit for bit, where the workers' CPUs run the same kernels as this machine's.

``distributed`` is an optional dependency (``pip install -e ".[cluster]"``), imported only here
and only when a scheduler is named.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from engine.errors import UserError
from engine.sweep.point import PointResult, PointTask, run_point

CONNECT_TIMEOUT = 10.0
"""Seconds to reach the scheduler before giving up."""

WORKERS_TIMEOUT = 30.0
"""Seconds to wait for a first worker when the scheduler has none."""

RETRIES = 3
"""How many times a point whose task raised is tried again."""

INSTALL_HINT = 'install the cluster extra: pip install -e ".[cluster]"'


def _start_hint(address: str) -> str:
    return (
        f"start a scheduler with `dask scheduler` and, on each machine, workers with "
        f"`dask worker {address} --nthreads 1`; or name another address with --scheduler"
    )


def _distributed() -> Any:
    """The ``distributed`` module, or a UserError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise UserError(
            f"running a sweep on a Dask cluster needs the 'distributed' package ({exc})",
            INSTALL_HINT,
        ) from None
    return distributed


def _check_address(distributed: Any, address: str) -> None:
    """Refuses an address no scheduler can have, before a client is made for it (a client
    given one fails late, and noisily)."""
    try:
        scheme, _ = distributed.comm.parse_address(address)
        distributed.comm.registry.get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            distributed.comm.get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"{address!r} is not a Dask scheduler's address ({exc})",
            "write it as tcp://HOST:8786, as `dask scheduler` prints it",
        ) from None


class DaskExecutor:
    """Runs sweep points as tasks on the Dask scheduler at ``address``.

    Args:
        address: the scheduler, e.g. ``"tcp://HOST:8786"``.
        connect_timeout: seconds to reach it.
        workers_timeout: seconds to wait for a first worker if it has none yet.

    Raises:
        UserError: ``distributed`` is not installed, the scheduler cannot be reached, or it has
            no worker after ``workers_timeout`` seconds.
    """

    def __init__(
        self,
        address: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        workers_timeout: float = WORKERS_TIMEOUT,
    ) -> None:
        distributed = _distributed()
        self.address = address
        self._pending: dict[str, Any] = {}
        _check_address(distributed, address)
        try:
            self._client = distributed.Client(
                address, timeout=connect_timeout, set_as_default=False
            )
        except (OSError, TimeoutError):
            raise UserError(
                f"no Dask scheduler answered at {address!r} within {connect_timeout:g} s",
                _start_hint(address),
            ) from None
        try:
            if not self._client.nthreads():
                self._client.wait_for_workers(1, timeout=workers_timeout)
        except (OSError, TimeoutError):
            self._client.close()
            raise UserError(
                f"the Dask scheduler at {address!r} has no worker "
                f"(none joined within {workers_timeout:g} s)",
                _start_hint(address),
            ) from None

    @property
    def workers(self) -> int:
        """How many points the cluster runs at once now: its workers' threads, summed."""
        return sum(int(n) for n in self._client.nthreads().values())

    def map_unordered(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        """Submits every task, then yields each point's result as it finishes.

        Closing the iterator early (Ctrl-C, an error in the caller) cancels the points not
        finished; a point already running on a worker runs to its end there, and its result
        is dropped.
        """
        distributed = _distributed()
        sweep = uuid.uuid4().hex[:8]
        points = {}
        for task in tasks:
            key = f"dltui-{task.point.name}-{sweep}"
            points[key] = task
            self._pending[key] = self._client.submit(
                run_point, task, key=key, pure=False, retries=RETRIES
            )
        try:
            for future in distributed.as_completed(
                list(self._pending.values()), loop=self._client.loop
            ):
                key = str(future.key)
                self._pending.pop(key, None)
                result = self._result(future, points.pop(key))
                future.release()  # the scheduler can forget the point's files
                yield result
        finally:
            self._cancel()

    def _result(self, future: Any, task: PointTask) -> PointResult:
        """The point's result; a task that failed on every try comes back as a failed point."""
        try:
            result: PointResult = future.result()
            return result
        except ImportError as exc:
            raise UserError(
                f"a worker of the Dask cluster at {self.address!r} cannot import the engine "
                f"({exc})",
                "install dltui, with the same version, in the environment the workers run in",
            ) from None
        except Exception as exc:
            error = f"on the Dask cluster: {type(exc).__name__}: {exc}"
            return PointResult(task.point.id, "failed", error=error)

    def _cancel(self) -> None:
        futures = list(self._pending.values())
        self._pending.clear()
        if futures and self._client.status == "running":
            self._client.cancel(futures)

    def close(self) -> None:
        """Cancels the points not finished and disconnects; the cluster keeps running."""
        self._cancel()
        self._client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
