"""``dropscribe models``: what models are configured and cached, and fetching one ahead.

The engine's libraries are imported only here, when one of these commands runs.
"""

from __future__ import annotations

from typing import TextIO

from dropscribe.config import Settings


def list_models(settings: Settings, out: TextIO) -> None:
    """Print the configured model and every model already in the cache, with where each is."""
    from dropscribe.engine.models import cached_models, info

    configured = info(settings.embedded.model)
    where = configured.path or "not on this host: `dropscribe models pull` fetches it"
    print(f"configured: {configured.spec} ({configured.kind}) {where}", file=out)
    cached = cached_models()
    print("cached:" + ("" if cached else " none"), file=out)
    for model in cached:
        print(f"  {model.spec} {model.path}", file=out)


def pull_model(name: str, out: TextIO) -> None:
    """Fetch a named model into the cache and print where it is. Raise ModelError."""
    from dropscribe.engine.models import pull

    print(f"{name}: {pull(name)}", file=out)
