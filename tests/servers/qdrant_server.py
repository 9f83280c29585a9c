#!/usr/bin/env python3
"""Loopback stand-in for the Qdrant 1.19 REST API, for the libqdrantc test suite.

Usage:
    /usr/bin/python3 tests/servers/qdrant_server.py [--host 127.0.0.1] [--port 0]
        [--api-key KEY] [--version 1.19.0] [--spec PATH] [--verbose]

Prints exactly one line ``QDRANT_URL=http://HOST:PORT`` on stdout and serves until
SIGTERM/SIGINT.  Everything else goes to stderr (and only with --verbose, or on
internal errors).

Every request is validated against the operation it matches in Qdrant's OpenAPI
document (path parameters, query parameters, JSON body).  A request the real
server would refuse at its extractor/validator layer is answered with Qdrant's
status code (400 for deserialisation errors, 422 for validation errors), the
standard error envelope, and a message starting ``OpenAPI validation failed:``;
a line is also appended to the file named by $QDRANT_VIOLATIONS_FILE.

State is kept in memory and searched by brute force.  The behaviour (messages,
status codes, defaults, ordering, score post-processing) follows the Qdrant
1.19.0 sources (qdrant/qdrant, tag v1.19.0); see the comments next to each
piece.  Standard library + jsonschema only.

This script is the command line; the server is the package ``qdrant/`` next to
it, one module per concern (see ``qdrant/__init__.py``).  The names the
self-test uses in-process are importable from here too.
"""

import argparse
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[:1] != [HERE]:
    sys.path.insert(0, HERE)    # find the package whatever the current directory
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

from qdrant import httpserver  # noqa: E402
from qdrant.app import App  # noqa: E402
from qdrant.httpserver import Handler, Server  # noqa: E402
from qdrant.openapi import Spec, check_schema, default_spec_path, parse_version  # noqa: E402

# what test_qdrant_server.py reaches in-process
__all__ = ['main', 'Spec', 'check_schema', 'default_spec_path']


def main(argv=None):
    ap = argparse.ArgumentParser(description="Qdrant REST test server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--version", default="1.19.0")
    ap.add_argument("--spec", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    httpserver.VERBOSE = args.verbose
    spec_path = args.spec or default_spec_path()
    try:
        spec = Spec(spec_path, parse_version(args.version))
    except (OSError, ValueError) as e:
        sys.stderr.write("qdrant_server: cannot load OpenAPI spec %s: %s\n" % (spec_path, e))
        return 2
    app = App(spec, args.version, args.api_key, os.environ.get("QDRANT_VIOLATIONS_FILE"))
    Handler.app = app
    httpd = Server((args.host, args.port), Handler)
    host, port = httpd.server_address[:2]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    shown = host if ":" not in host else "[%s]" % host
    sys.stdout.write("QDRANT_URL=http://%s:%d\n" % (shown, port))
    sys.stdout.flush()
    while not stop.wait(0.2):
        pass
    httpd.shutdown()
    httpd.server_close()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
