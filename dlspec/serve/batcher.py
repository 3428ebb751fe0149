"""Micro-batching: samples of concurrent requests in, one model call per batch, each request's answers out.

A request's samples wait in a queue; a single worker takes the first waiting sample, then gathers
more for up to `wait_ms` milliseconds (or until `max_batch` samples), runs the model once on them in
a thread (so the event loop keeps accepting requests) and hands each request its own answers. Under
load the model sees full batches, so throughput grows with the number of clients; alone, a request
waits at most `wait_ms`, and not at all when no other request is in flight. `max_batch=1` answers
sample by sample.
Imports no web library.
"""
from __future__ import annotations

import asyncio
from typing import Callable


class Batcher:
    """Runs `answer(names, samples, top) -> answers` on batches gathered from concurrent `submit` calls."""

    def __init__(self, answer: Callable, wait_ms: float = 5.0, max_batch: int = 32):
        self.answer, self.wait, self.max_batch = answer, max(0.0, wait_ms) / 1000, max(1, int(max_batch))
        self.queue: asyncio.Queue = asyncio.Queue()
        self.worker = None
        self.active = 0  # requests submitted and not yet answered

    async def submit(self, names: list, samples: list, top: int) -> list:
        """The answers to one request's samples, in order (a request larger than max_batch runs in parts)."""
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work())
        loop = asyncio.get_running_loop()
        futures, token = [], object()
        for name, sample in zip(names, samples):
            future = loop.create_future()
            self.queue.put_nowait((name, sample, top, future, token))
            futures.append(future)
        self.active += 1
        try:
            return list(await asyncio.gather(*futures))
        finally:
            self.active -= 1

    async def _work(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = asyncio.get_running_loop().time() + self.wait
            while len(batch) < self.max_batch:
                if not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                    continue
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0 or len({item[4] for item in batch}) >= self.active:
                    break  # the window is over, or every request waiting is in the batch: none to wait for
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:
                    break
            await self._run(batch)

    async def _run(self, batch: list) -> None:
        by_top: dict = {}  # one model call per `top` asked (answers differ only in how many classes they list)
        for item in batch:
            by_top.setdefault(item[2], []).append(item)
        for top, items in by_top.items():
            try:
                answers = await asyncio.to_thread(self.answer, [i[0] for i in items], [i[1] for i in items], top)
            except Exception as exc:  # handed to each waiting request, which reports it
                for item in items:
                    if not item[3].done():
                        item[3].set_exception(exc)
                continue
            for item, answer in zip(items, answers):
                if not item[3].done():
                    item[3].set_result(answer)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
