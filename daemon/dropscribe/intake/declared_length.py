"""What a file's container declares about its length, and how a file falls short of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Reads a file: (offset, count) -> at most ``count`` bytes from ``offset``.
ReadAt = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Shortfall:
    """A file shorter than its container declares: ``declared`` and ``present`` are counted
    in ``unit`` ("bytes", or "samples" for FLAC); ``declared`` is 0 when the container says
    only that something is missing (an MP4 without its index)."""

    container: str
    declared: int
    present: int
    unit: str = "bytes"

    @property
    def reason(self) -> str:
        """Return why the file is refused, to follow its name in a sentence."""
        if self.unit == "samples":
            return (
                f"is truncated: its {self.container} header declares {self.declared} samples, "
                f"the whole frames present end at sample {self.present}"
            )
        if not self.declared:
            return (
                f"is truncated: its {self.container} index (moov box) is missing, "
                f"{self.present} bytes are present"
            )
        return (
            f"is truncated: its {self.container} header declares {self.declared} bytes, "
            f"{self.present} are present"
        )
