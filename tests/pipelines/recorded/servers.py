"""Offline stand-ins for the live services: Open-Meteo FlatBuffers payloads built with the
`flatbuffers` builder in the openmeteo_sdk schema, and a threaded HTTP server on 127.0.0.1
that routes paths to handlers and serves files with HTTP Range support (for GDAL /vsicurl/).

Nothing here was recorded from the real services (the build machine has no internet); the
payloads follow the wire formats as the installed clients read them. See README.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

import flatbuffers
import numpy as np


def _variable(builder: flatbuffers.Builder, variable: int, unit: int, values: np.ndarray, previous_day: int = 0,
              ensemble_member: int = 0) -> int:
    vector = builder.CreateNumpyVector(np.asarray(values, dtype="<f4"))
    builder.StartObject(13)  # VariableWithValues: variable, unit, value, values, ... (slots 0..12)
    builder.PrependInt16Slot(11, previous_day, 0)  # previous_day: the previous-runs API's
    builder.PrependInt16Slot(10, ensemble_member, 0)  # ensemble_member: the ensemble API's, 0 the control
    builder.PrependUOffsetTRelativeSlot(3, vector, 0)
    builder.PrependUint8Slot(1, unit, 0)
    builder.PrependUint8Slot(0, variable, 0)
    return builder.EndObject()


def weather_message(lat: float, lon: float, start_s: int, variables: list[tuple], model: int = 1) -> bytes:
    """One size-prefixed WeatherApiResponse with an hourly block starting at `start_s` (unix s); each
    variable is (variable, unit, values), (variable, unit, values, previous_day) or (variable, unit,
    values, previous_day, ensemble_member)."""
    builder = flatbuffers.Builder(1024)
    offsets = [_variable(builder, *variable) for variable in variables]
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    vector = builder.EndVector()
    n = len(variables[0][2])
    builder.StartObject(4)  # VariablesWithTime: time, time_end, interval, variables
    builder.PrependUOffsetTRelativeSlot(3, vector, 0)
    builder.PrependInt64Slot(1, start_s + 3600 * n, 0)
    builder.PrependInt64Slot(0, start_s, 0)
    builder.PrependInt32Slot(2, 3600, 0)
    hourly = builder.EndObject()
    builder.StartObject(15)  # WeatherApiResponse; hourly is slot 11
    builder.PrependUOffsetTRelativeSlot(11, hourly, 0)
    builder.PrependFloat32Slot(0, lat, 0)
    builder.PrependFloat32Slot(1, lon, 0)
    builder.PrependUint8Slot(5, model, 0)
    builder.FinishSizePrefixed(builder.EndObject())
    return bytes(builder.Output())


Handler = Callable[[str, dict, bytes], tuple[int, dict, bytes]]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1: `routes` maps a path prefix to a handler
    (method, query, body) -> (status, headers, body); `files` serves a folder with Range support."""

    def __init__(self, files: Path | None = None) -> None:
        self.routes: dict[str, Handler] = {}
        self.files = files
        self.log: list[str] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append(f"{method} {self.path}")
                query = parse_qs(parts.query) if method != "POST" else parse_qs(body.decode())
                for prefix, handler in server.routes.items():
                    if parts.path.startswith(prefix):
                        status, headers, payload = handler(method, query, body)
                        return self._send(status, headers, payload, method)
                if server.files is not None and (server.files / parts.path.lstrip("/")).is_file():
                    return self._file(server.files / parts.path.lstrip("/"), method)
                self._send(404, {}, b"not found", method)

            def _file(self, path: Path, method: str) -> None:
                data = path.read_bytes()
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if not match:
                    return self._send(200, {"Accept-Ranges": "bytes"}, data, method)
                first = int(match[1])
                last = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
                headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {first}-{last}/{len(data)}"}
                self._send(206, headers, data[first:last + 1], method)

            def _send(self, status: int, headers: dict, payload: bytes, method: str) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if method != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_HEAD(self) -> None:
                self._reply("HEAD")

            def do_POST(self) -> None:
                self._reply("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
