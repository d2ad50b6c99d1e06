"""A small progress bar on stderr: redraws in place on a terminal; otherwise (CI logs) prints a line at most every
few seconds, so quick steps stay quiet and slow ones still show they are moving."""

from __future__ import annotations

import sys
import time

LINE_EVERY_SECONDS = 3.0
_drawn: Progress | None = None
"""The bar last drawn in place on a terminal and not closed yet: a message must not land on its line."""


def say_above(message: str) -> None:
    """Print a line on stderr above the bar being drawn, if any, then draw the bar again below it."""
    bar = _drawn
    if bar is not None:
        sys.stderr.write("\r\033[K")
    print(message, file=sys.stderr, flush=True)
    if bar is not None:
        bar.advance(0)


class Progress:
    def __init__(self, label: str, total: int, width: int = 30) -> None:
        self.label, self.total, self.width = label, max(1, total), width
        self.done = 0
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self._last_line = self._started

    def advance(self, step: int = 1, note: str = "") -> None:
        self.done = min(self.total, self.done + step)
        if self._tty:
            global _drawn
            _drawn = self
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            sys.stderr.write(f"\r  {self.label:<22} [{bar}] {self.done}/{self.total} {note:<30}")
            sys.stderr.flush()
        elif time.monotonic() - self._last_line >= LINE_EVERY_SECONDS:
            self._last_line = time.monotonic()
            print(f"  {self.label}: {self.done}/{self.total} {note}", file=sys.stderr, flush=True)

    def close(self) -> None:
        elapsed = time.monotonic() - self._started
        global _drawn
        if _drawn is self:
            _drawn = None
        if self._tty:
            sys.stderr.write("\n")
        print(f"  {self.label}: done in {elapsed:.1f} s", file=sys.stderr, flush=True)
