"""What every section of the schema shares: its model base, the field types used across
sections, and the helpers a validator uses to report its problems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

PositiveSeconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)]


def ordered(section: BaseModel, pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """Return a problem for each (low, high) pair of the section's fields where low > high."""
    return [
        f"{low} ({getattr(section, low):g}) must not be above {high} ({getattr(section, high):g})"
        for low, high in pairs
        if getattr(section, low) > getattr(section, high)
    ]


def refuse(problems: list[str]) -> None:
    """Raise ValueError joining ``problems`` (pydantic reports it at the section) if any."""
    if problems:
        raise ValueError("; ".join(problems))


def _without_nul(value: Path) -> Path:
    # No filesystem call accepts a NUL; refused here, it is a config error, not a crash later.
    if "\x00" in str(value):
        raise ValueError("must not contain a NUL character")
    return value


FilePath = Annotated[Path, AfterValidator(_without_nul)]


class Section(BaseModel):
    """The base of every section: unknown keys are errors, values are frozen, and defaults
    are validated like the user's values."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
