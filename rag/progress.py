"""Progress of long steps: a bar on a terminal, a plain line every `EVERY` seconds in a log."""

from __future__ import annotations

import sys
import time
from typing import Any

EVERY = 10.0  # seconds between progress lines when stderr is not a terminal


class Progress:
    """Count work done out of `total`, in `unit`s; `scale` divides the numbers shown."""

    def __init__(self, total: float, desc: str, unit: str, scale: float = 1.0,
                 enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.scale = total, desc, unit, scale
        self.done = 0.0
        self._last = time.monotonic()
        self._bar: Any = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total / scale, desc=desc, unit=unit, leave=False)

    def update(self, n: float) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n / self.scale)
        elif time.monotonic() - self._last >= EVERY:
            print(f"{self.desc}: {self._fmt(self.done)} of {self._fmt(self.total)} {self.unit}",
                  file=sys.stderr, flush=True)
            self._last = time.monotonic()

    def note(self, text: str) -> None:
        """A line about the step under way (under the bar on a terminal)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def _fmt(self, n: float) -> str:
        return f"{n / self.scale:,.1f}" if self.scale != 1 else f"{n:,.0f}"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
