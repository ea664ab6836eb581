"""How work is paced: how much runs at once, how often a submitted job is checked, and how a
failed step is retried."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from dropscribe.config.schema.section import PositiveSeconds, Section, ordered, refuse


class Workers(Section):
    """How much runs at once."""

    transfers: Annotated[int, Field(ge=1, le=64)] = 2
    drain_timeout_seconds: PositiveSeconds = 30.0


class Poll(Section):
    """How often a submitted job is checked, and for how long at most."""

    initial_seconds: PositiveSeconds = 2.0
    max_seconds: PositiveSeconds = 60.0
    deadline_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 6.0

    @model_validator(mode="after")
    def _intervals_in_order(self) -> Poll:
        problems = ordered(self, (("initial_seconds", "max_seconds"),))
        if self.max_seconds > self.deadline_hours * 3600:
            problems.append(
                f"max_seconds ({self.max_seconds:g}) must not be above deadline_hours "
                f"({self.deadline_hours:g}) in seconds"
            )
        refuse(problems)
        return self


class Retry(Section):
    """How a failed step is retried: capped exponential backoff with full jitter, for as long
    as the time budget lasts; and how the pause of an outage probes the service."""

    # None: no count, only the time budget (a transient error is a pause, not a verdict).
    max_attempts: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # 1 s: a flaky service's failed call is tried again within about a second; an outage is
    # the pause's to wait out, not the jobs' own backoff.
    base_seconds: PositiveSeconds = 1.0
    cap_seconds: PositiveSeconds = 300.0
    # 24 hours: like a mail server's deferred queue, an outage of a day is waited out.
    give_up_after_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 24.0
    outage_probe_first_seconds: PositiveSeconds = 5.0
    # 15 s: after an outage of any length, work resumes within seconds of the service's
    # return; a probe is one small call, so probing this often costs the service nothing.
    outage_probe_max_seconds: PositiveSeconds = 15.0
    # An outage (all work pauses) is this many transient failures in a row across jobs, no
    # call going through between them (calls), the first outage_after_seconds ago or more;
    # a service that still answers some calls is flaky: its failed calls are retried.
    outage_min_failures: Annotated[int, Field(ge=1, le=1000)] = 4
    outage_after_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _base_below_cap(self) -> Retry:
        pairs = (
            ("base_seconds", "cap_seconds"),
            ("outage_probe_first_seconds", "outage_probe_max_seconds"),
        )
        refuse(ordered(self, pairs))
        return self
