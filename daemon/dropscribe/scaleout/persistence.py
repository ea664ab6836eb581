"""Whether Redis keeps the job book across its own restart: checked once at the start of a
front end or worker, and warned about when it does not.

Without the append-only file a restart of Redis (or a ``FLUSHALL``) loses every job in flight;
the daemons that submitted them then get 404 to their polls and send the recordings again
(``job.lost``), so nothing is lost for good, but each is run and billed again. A user whose
ACL forbids ``CONFIG`` (as a managed Redis often does) cannot be checked: that is said once,
and nothing stops.
"""

from __future__ import annotations

import redis

#: What to do about a Redis that does not keep its data (README "Scaling out").
ADVICE = "run Redis with appendonly yes and appendfsync everysec (README: Scaling out)"


def persistence_problem(client: redis.Redis) -> str | None:
    """Return why the job book may not survive a restart of Redis, or None when it keeps an
    append-only file. Raise redis.RedisError if Redis cannot be asked (CONFIG refused)."""
    appendonly = _config(client, "appendonly")
    if appendonly == "yes":
        return None
    save = _config(client, "save").strip()
    if not save:
        return f"Redis keeps the job book in memory only (appendonly no, no save points); {ADVICE}"
    return (
        f"Redis keeps the job book in snapshots only (appendonly no, save {save!r}): a crash "
        f"loses every job since the last one; {ADVICE}"
    )


def persistence_warning(client: redis.Redis) -> str | None:
    """Return the line to log at start about Redis persistence, or None when it is on. Never
    raises: an ACL that forbids CONFIG, or any error, is said in the line instead."""
    try:
        return persistence_problem(client)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return f"Redis persistence could not be checked: no answer ({type(exc).__name__})"
    except redis.RedisError as exc:
        return (
            f"Redis persistence could not be checked ({type(exc).__name__}: CONFIG GET is "
            f"forbidden to this user, or renamed); make sure of it: {ADVICE}"
        )


def _config(client: redis.Redis, name: str) -> str:
    # Keys and values come back as bytes or text, as the client decodes answers.
    answer = client.config_get(name)
    found = {_text(key): _text(value) for key, value in answer.items()}
    return found.get(name, "")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
