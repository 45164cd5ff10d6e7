"""A static server for dist/site/ with what Pyodide and PyScript need.

- `.wasm` as `application/wasm` (anything else makes loadPyodide hang);
- COOP/COEP/CORP on every response: PyScript's worker needs
  SharedArrayBuffer, i.e. cross-origin isolation (so does multi-threaded
  ONNX Runtime Web);
- `Cache-Control: no-cache` so a rebuilt site is picked up at once while
  unchanged files still revalidate cheaply (Last-Modified → 304).
"""

from __future__ import annotations

import argparse
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".py": "text/x-python",
    ".toml": "application/toml",
    ".css": "text/css",
    ".html": "text/html",
}


class SiteRequestHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self) -> None:
        if self.server.isolation_headers:  # type: ignore[attr-defined]
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def make_server(
    site: Path, host: str, port: int, *, verbose: bool = False, isolation_headers: bool = True
) -> ThreadingHTTPServer:
    handler = functools.partial(SiteRequestHandler, directory=str(site))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    server.isolation_headers = isolation_headers  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--no-isolation-headers", dest="isolation_headers", action="store_false",
        help="act like a plain static host (the service worker then supplies COOP/COEP)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"serve: {args.site} holds no built site (run scripts/build-site)", file=sys.stderr)
        return 1
    server = make_server(args.site, args.host, args.port, verbose=args.verbose,
                         isolation_headers=args.isolation_headers)
    host, port = server.server_address[:2]
    print(f"taskloom is served at http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
