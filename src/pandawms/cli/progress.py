"""A rich progress bar of bytes for upload and download, on stderr.

The storage back ends copy a file in one call; a download lands in a temporary file beside its
destination (ddm/base.landing), so ``following`` watches that file grow from a helper thread to move the
bar within a file, not only between files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

POLL_SECONDS = 0.2  # how often the bar looks at a landing file


class Progress:
    """Bytes done of ``total``; ``advance`` after each file, ``following`` during a download."""

    def __init__(self, total: int, what: str) -> None:
        self._bar = RichProgress(
            TextColumn(what),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=total == 0,
        )
        self._task: TaskID = self._bar.add_task(what, total=total)
        self._done = 0

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    @property
    def completed(self) -> int:
        """Bytes the bar shows as done."""
        return int(self._bar.tasks[0].completed)

    def advance(self, size: int) -> None:
        self._done += size
        self._bar.update(self._task, completed=self._done)

    @contextmanager
    def following(self, destination: Path, size: int) -> Iterator[None]:
        """Move the bar with the landing file of ``destination`` while the block downloads it; when the
        block ends the file counts as done (or as nothing, when it raised)."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(POLL_SECONDS):
                partial = sum(_size(p) for p in destination.parent.glob(f".{destination.name}.part-*"))
                self._bar.update(self._task, completed=self._done + min(partial, size))

        thread = threading.Thread(target=watch, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._bar.update(self._task, completed=self._done)
        self.advance(size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # renamed or removed between the listing and the stat
        return 0
