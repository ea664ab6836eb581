"""Server assembly helpers: options, model routing, base URL, listening socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.protocol import StopCheck
from dropscribe.server.embedded import EmbeddedServer, base_url_for, bind_socket
from dropscribe.server.options import ServerOptions, route_specs

TOKEN = "unit-token-0123456789"


def test_bind_socket_declares_tcp_so_asyncio_disables_nagle() -> None:
    with bind_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[1] > 0


def test_route_specs_model_map_overrides_one_path() -> None:
    options = ServerOptions(
        Path("d"), token=TOKEN, model="base.en", model_map={"whisper-large": "x"}
    )
    assert route_specs(options) == {
        "whisper-tiny": "base.en",
        "whisper-small": "base.en",
        "whisper-medium": "base.en",
        "whisper-large": "x",
    }


def test_route_specs_without_model_uses_bundled() -> None:
    assert set(route_specs(ServerOptions(Path("d"), token=TOKEN)).values()) == {"bundled"}


def test_base_url_for_wildcard_host_uses_loopback() -> None:
    assert base_url_for("0.0.0.0", 8750) == "http://127.0.0.1:8750"
    assert base_url_for("::", 8750) == "http://[::1]:8750"


@pytest.mark.parametrize(
    ("field", "value"),
    [("workers", 0), ("port", 70000), ("presign_ttl_seconds", 0), ("max_upload_bytes", 0),
     ("retention_hours", -1), ("model_map", {"../x": "m"}), ("max_gap_seconds", 0.0)],
)  # fmt: skip
def test_server_options_bad_value_raises(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        ServerOptions(Path("d"), token=TOKEN, **{field: value})  # type: ignore[arg-type]


class LoadingEngine:
    """An engine that can load models ahead; ``missing`` names the one that cannot load."""

    def __init__(self, missing: str = "") -> None:
        self.loaded: list[str] = []
        self.missing = missing

    def label(self, spec: str) -> str:
        return spec

    def model(self, spec: str) -> object:
        if spec == self.missing:
            raise EngineError(f"could not load model {spec!r}: not cached")
        self.loaded.append(spec)
        return spec

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        raise EngineError("not used")


def test_load_models_loads_each_mapped_model_once(tmp_path: Path) -> None:
    engine = LoadingEngine()
    options = ServerOptions(
        tmp_path, token=TOKEN, model="base.en", model_map={"whisper-large": "large-v3"}
    )
    EmbeddedServer(options, engine=engine).load_models()
    assert engine.loaded == ["base.en", "large-v3"]


def test_load_models_model_that_cannot_load_raises_engine_error(tmp_path: Path) -> None:
    engine = LoadingEngine(missing="large-v3")
    options = ServerOptions(tmp_path, token=TOKEN, model_map={"whisper-large": "large-v3"})
    with pytest.raises(EngineError, match="large-v3"):
        EmbeddedServer(options, engine=engine).load_models()
