"""Where the Prometheus metrics are served, and the ``host:port`` form of that address."""

from __future__ import annotations

from pydantic import field_validator

from dropscribe.config.schema.section import Section


class Metrics(Section):
    """Where the Prometheus metrics are served; off when ``listen`` is not set."""

    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value


def listen_address(value: str) -> tuple[str, int]:
    """Return (host, port) of ``host:port`` (``[::1]:port`` for IPv6). Raise ValueError if it
    is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9464")
    return host, int(port)
