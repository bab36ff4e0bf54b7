"""``panda login`` as the person runs it: a real process whose output a test reads line by line while
it waits (to find the code and the URI), then its exit code and whole output."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import IO

PANDA = [sys.executable, "-m", "pandawms.cli.main"]


class LoginProcess:
    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*PANDA, "login", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env)
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, False), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream: IO[str], into: list[str], lines: bool) -> None:
        for line in stream:
            into.append(line)
            if lines:
                self._lines.put(line)

    def expect(self, text: str, timeout: float = 60) -> str:
        """The first stdout line containing ``text`` (AssertionError with the output after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}: {''.join(self.out)} / {''.join(self.err)}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        code = self.proc.wait(timeout)
        for t in self._readers:
            t.join(10)
        return code, "".join(self.out), "".join(self.err)


@contextlib.contextmanager
def login_process(args: list[str], env: Mapping[str, str]) -> Iterator[LoginProcess]:
    p = LoginProcess(args, env)
    try:
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(10)
