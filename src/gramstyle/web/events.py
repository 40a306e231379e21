"""Who watches which job: server-sent-event subscribers, fed from any thread.

Each subscriber is an asyncio queue read by its event stream on the server's loop;
the manager's threads put into it through the loop (``call_soon_threadsafe``), never
directly. ``None`` ends a stream (the server is stopping, or the job was forgotten).
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any


class Watchers:
    """The subscribers of every job; thread-safe."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._lock = threading.Lock()

    def add(self, job_id: str, first: dict[str, Any]) -> asyncio.Queue:
        """A new subscriber's queue, ``first`` already in it. Call from the loop."""
        q: asyncio.Queue = asyncio.Queue()
        q.put_nowait(first)
        with self._lock:
            self._queues[job_id].add(q)
        return q

    def remove(self, job_id: str, q: asyncio.Queue) -> None:
        with self._lock:
            subs = self._queues.get(job_id)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    del self._queues[job_id]

    def watched(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._queues

    def send(self, job_id: str, item: dict[str, Any] | None) -> None:
        with self._lock:
            subs = list(self._queues.get(job_id, ()))
        for q in subs:
            self._put(q, item)

    def close(self) -> None:
        """End every stream."""
        with self._lock:
            subs = [q for qs in self._queues.values() for q in qs]
        for q in subs:
            self._put(q, None)

    def _put(self, q: asyncio.Queue, item: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(q.put_nowait, item)
