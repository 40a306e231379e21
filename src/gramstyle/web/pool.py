"""The worker pool: as many worker processes as configured, restarted when they die.

Each slot holds one worker process (spawned: no forked torch state) and a duplex pipe
to it, tasks one way and events the other. A pipe has a single writer at each end, so
a worker killed mid-message (``kill -9``, the kernel's out-of-memory killer) can
neither hold a lock another process needs nor garble another worker's messages: its
pipe goes with it. Cancel is a byte in shared memory, read without a lock for the same
reason.

A dead worker is started again after a pause that doubles with each death in a row
(:data:`FIRST_PAUSE` up to :data:`MAX_PAUSE`), so one that dies on start cannot spin
the machine; a worker that lived :data:`STABLE` seconds starts the count afresh. The
pool never gives up on a slot: a job that kills its worker fails (the manager's
concern), the slot does not.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ..settings import Settings
from .worker import Task, worker_main

log = logging.getLogger("gramstyle.web")

FIRST_PAUSE = 0.25  # seconds before the first restart after a death
MAX_PAUSE = 30.0
STABLE = 60.0  # seconds a worker must live for its death to count as a first one


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, in words a user of the job can act on.

    >>> death_reason(-9)
    'the worker died with signal 9 (killed; out of memory?)'
    >>> death_reason(3)
    'the worker exited with code 3'
    """
    if exitcode is None:
        return "the worker stopped"
    if exitcode < 0:
        n = -exitcode
        name = (signal.strsignal(n) or f"signal {n}").lower()
        if n == signal.SIGKILL:  # what the kernel's out-of-memory killer sends
            name += "; out of memory?"
        return f"the worker died with signal {n} ({name})"
    return f"the worker exited with code {exitcode}"


def pause(deaths: int) -> float:
    """Seconds before a slot's worker is started again after ``deaths`` in a row.

    >>> [pause(n) for n in (1, 2, 3, 20)]
    [0.25, 0.5, 1.0, 30.0]
    """
    return min(MAX_PAUSE, FIRST_PAUSE * 2 ** max(0, deaths - 1))


@dataclass
class Slot:
    """One place in the pool: its current worker (None while it waits to restart)."""

    index: int
    process: Any = None  # multiprocessing.Process
    conn: Connection | None = None
    cancel: Any = None  # shared byte: 1 asks the worker to stop its task
    task: Task | None = None
    started: float = 0.0  # time.monotonic() of the current worker's start
    deaths: int = 0  # in a row, each within STABLE seconds of its start
    restart_at: float = 0.0  # when a dead worker is started again
    died: str | None = None  # why the last worker of this slot ended

    @property
    def up(self) -> bool:
        return self.process is not None and self.process.is_alive()


class Pool:
    """``size`` slots of workers. Called with the manager's lock held, except
    :meth:`stop`, which waits for workers that still report to the manager."""

    def __init__(self, ctx: Any, size: int, base: Settings, threads: int, every: float) -> None:
        self.ctx, self.args = ctx, (base, threads, every)
        self.slots = [Slot(i) for i in range(size)]

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        ours, theirs = self.ctx.Pipe(duplex=True)
        try:
            cancel = self.ctx.RawValue("b", 0)
            process = self.ctx.Process(
                target=worker_main,
                name=f"gramstyle-worker-{slot.index}",
                args=(slot.index, theirs, cancel, *self.args),
                daemon=True,
            )
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker's end lives in the worker: its death is our EOF
        slot.process, slot.conn, slot.cancel = process, ours, cancel
        slot.started, slot.task = time.monotonic(), None

    def receive(self, timeout: float) -> list[tuple[Slot, Any]]:
        """The messages the workers sent, waiting up to ``timeout`` seconds for one.

        Called from one thread only (the manager's listener), the only one that
        replaces or closes a slot's pipe while the pool runs.
        """
        conns = {s.conn: s for s in self.slots if s.conn is not None}
        if not conns:
            time.sleep(timeout)
            return []
        out = []
        for conn in wait(list(conns), timeout=timeout):
            out += self.drain(conns[conn])  # type: ignore[index]
        return out

    def drain(self, slot: Slot) -> list[tuple[Slot, Any]]:
        """Every message waiting on the slot's pipe; at its end (EOF), the pipe is closed."""
        out: list[tuple[Slot, Any]] = []
        conn = slot.conn
        while conn is not None:
            try:
                if not conn.poll():
                    break
                out.append((slot, conn.recv()))
            except (EOFError, OSError):  # the worker is gone; what it half-said is lost
                slot.conn = None
                conn.close()
                break
            except Exception:  # a message that does not unpickle: skip it, keep the pipe
                log.exception("worker %d: unreadable message", slot.index)
        return out

    def idle(self) -> list[Slot]:
        return [s for s in self.slots if s.task is None and s.conn is not None and s.up]

    def send(self, slot: Slot, task: Task) -> bool:
        """Hand ``task`` to the slot's worker; False if its pipe is already broken."""
        conn, cancel = slot.conn, slot.cancel
        if conn is None or cancel is None:
            return False
        # Cleared before the task is sent: a cancel meant for the previous task can never
        # stop this one.
        cancel.value = 0
        try:
            conn.send(task)
        except OSError:  # the listener closed it meanwhile, or the worker is gone
            return False
        slot.task = task
        return True

    def cancel(self, slot: Slot) -> None:
        if slot.cancel is not None:
            slot.cancel.value = 1

    def dead(self) -> list[Slot]:
        """Slots whose worker has ended and not yet been buried (see :meth:`bury`)."""
        return [s for s in self.slots if s.process is not None and not s.process.is_alive()]

    def bury(self, slot: Slot) -> tuple[Task | None, str]:
        """Forget the slot's dead worker (its messages read first); schedule the next.

        Returns the task it held and why it died.
        """
        now = time.monotonic()
        slot.process.join(0)
        reason = death_reason(slot.process.exitcode)
        task, slot.task = slot.task, None
        if slot.conn is not None:
            slot.conn.close()
        slot.process = slot.conn = slot.cancel = None
        slot.deaths = 1 if now - slot.started > STABLE else slot.deaths + 1
        slot.restart_at, slot.died = now + pause(slot.deaths), reason
        log.error(
            "worker %d: %s; starting another in %.2g s", slot.index, reason, pause(slot.deaths)
        )
        return task, reason

    def restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None and now >= slot.restart_at:
                try:
                    self._spawn(slot)
                except OSError as e:  # no process or pipe to be had now: like a death
                    slot.deaths += 1
                    slot.restart_at = now + pause(slot.deaths)
                    slot.died = f"a worker could not be started ({e})"
                    log.error("worker %d: %s", slot.index, slot.died)

    def finished_task(self, slot: Slot) -> None:
        """The slot's worker finished a task: it works, so its next death is a first."""
        slot.task, slot.deaths = None, 0

    def alive(self) -> int:
        return sum(s.up for s in self.slots)

    def problems(self) -> list[str]:
        """What is wrong with the pool, one line each (nothing when all workers are up)."""
        now = time.monotonic()
        down = [s for s in self.slots if not s.up]
        if not down:
            return []
        s = down[0]
        when = max(0.0, s.restart_at - now) if s.process is None else 0.0
        why = f"; {s.died}" if s.died else ""
        return [
            f"{len(down)} of {len(self.slots)} workers down (the next starts in {when:.1f} s{why})"
        ]

    def stop(self, timeout: float) -> None:
        """Ask every worker to stop (after its current step), wait, then make sure."""
        for slot in self.slots:
            if slot.task is not None:
                self.cancel(slot)
            conn = slot.conn
            if conn is not None:
                with contextlib.suppress(OSError):  # already gone
                    conn.send(None)
        for slot in self.slots:
            if slot.process is None:
                continue
            slot.process.join(timeout)
            if slot.process.is_alive():
                slot.process.terminate()
                slot.process.join(5)

    def close(self) -> None:
        for slot in self.slots:
            if slot.conn is not None:
                slot.conn.close()
                slot.conn = None
