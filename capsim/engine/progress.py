"""Progress of a run, for people watching it: one bar per platform in simulated time.

The engine reports ``(platform, simulated seconds done, total)`` at every record row to a
callback. :class:`ProgressBars` draws them with tqdm on stderr. This is a display edge:
tqdm reads the wall clock for its rate, and nothing it reads goes back into a result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Never, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm as Bar  # noqa: N812 - the type of a bar

__all__ = ["ProgressBars", "ProgressCallback"]

ProgressCallback = Callable[[str, float, float], None]


class ProgressBars:
    """A tqdm bar per platform, advanced in simulated seconds; closed when it is done."""

    def __init__(self, file: TextIO | None = None) -> None:
        self._file = file
        self._bars: dict[str, Bar[Never]] = {}

    def __call__(self, platform: str, done_s: float, total_s: float) -> None:
        bar = self._bars.get(platform)
        if bar is None:
            bar = self._bars[platform] = self._new_bar(platform, total_s)
        bar.update(round(done_s) - bar.n)
        if done_s >= total_s:
            bar.close()

    def _new_bar(self, platform: str, total_s: float) -> Bar[Never]:
        from tqdm import tqdm  # imported only when bars are drawn

        return tqdm(
            total=round(total_s),
            desc=f"capsim {platform}",
            unit="sim-s",
            unit_scale=True,
            file=self._file or sys.stderr,
            dynamic_ncols=True,
            mininterval=0.5,
        )
