"""Running the registry: our ASGI application on granian (a Rust HTTP server) in this
process, on uvloop, until SIGINT or SIGTERM.

granian's embedded server keeps everything in one process: upload sessions live in
memory between requests, and killing the process ends the server (nothing is left
running behind it). HTTP parsing and socket I/O run on granian's Rust threads, the
registry's Python code on the event loop; whole blobs go out through pathsend, which
granian sends from Rust.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from capsa.errors import InvalidArgument
from capsa.registry.http.app import make_app
from capsa.registry.options import ServeOptions


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (every address) or `[V6]:PORT`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidArgument(
            f"invalid address {text!r}", hint="expected HOST:PORT, e.g. 127.0.0.1:5000"
        )
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _logging(options: ServeOptions) -> dict[str, Any]:
    """granian's logging, sent to stderr; its own chatter kept to errors."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "generic": {"()": "logging.Formatter", "fmt": "capsa registry: %(message)s"},
            "access": {"()": "logging.Formatter", "fmt": "%(message)s"},
        },
        "handlers": {
            "console": {
                "formatter": "generic",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "capsa.registry": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def serve(options: ServeOptions) -> None:
    """Serve until a signal stops the server. Raises CapsaError for bad options."""
    import uvloop
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    app = make_app(options)
    server = Server(
        app,
        address=options.host,
        port=options.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        # Bigger reads: fewer, larger body messages for the Python side of an upload.
        http1_settings=HTTP1Settings(max_buffer_size=4 << 20),
        websockets=False,
        backlog=1024,
        log_enabled=True,
        log_level=LogLevels.error,
        log_dictconfig=_logging(options),
        log_access=options.access_log,
        ssl_cert=options.tls_cert,
        ssl_key=options.tls_key,
        ssl_protocol_min=SSLProtocols.tls12,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()

    try:
        uvloop.run(main())
    except OSError as error:
        raise InvalidArgument(
            f"cannot serve on {options.host}:{options.port}: {error.strerror or error}",
            hint="is another server using that port?",
        ) from None
    finally:
        sys.stderr.flush()
