#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""DriftQ v1 loopback test broker.

Speaks the DriftQ v1 HTTP API the way the real broker (``driftqd`` from
DriftQ-Core, commit dd3f222) does on the wire, as described in
``/work/shared/spec/driftq-v1.md``.  Written from scratch in Python (standard
library only); it models the observable behaviour of the Go broker, including
Go's ``encoding/json``, ``time.Parse``, ``net/url`` and ``net/http`` quirks that
leak into responses.

Usage::

    /usr/bin/python3 driftq_broker.py [--host 127.0.0.1] [--port 0]
                                      [--data-dir DIR] [--fsync] [--verbose]

On start it prints exactly one line ``DRIFTQ_URL=http://HOST:PORT`` to stdout,
then serves until SIGTERM/SIGINT and exits 0.  Logs go to stderr and are quiet
unless ``--verbose`` is given.  ``--data-dir`` enables a write-ahead log
(``DIR/driftq.wal``) so that a restart keeps what the real broker keeps.

This script is the command line; the broker is the package ``driftq/`` next to
it, one module per concern (see ``driftq/__init__.py``).  The names the
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

from driftq import common  # noqa: E402
from driftq.app import App  # noqa: E402
from driftq.broker import Broker  # noqa: E402
from driftq.common import REDELIVER_TICK, log  # noqa: E402
from driftq.gojson import (PRODUCE_SPEC, go_decode_struct, go_decoder_decode,  # noqa: E402
                           go_unmarshal_value, jstr)
from driftq.gostrings import fnv32a, go_quote  # noqa: E402
from driftq.gotime import GoTimeError, go_time_parse_rfc3339  # noqa: E402
from driftq.gourl import parse_query  # noqa: E402
from driftq.httpserver import Server  # noqa: E402
from driftq.metrics import go_float  # noqa: E402
from driftq.model import (IDEM_FAILED, IDEM_PENDING, BrokerError, Envelope, IdemItem,  # noqa: E402
                          RetryPolicy, compute_backoff_ns)
from driftq.wal import WAL  # noqa: E402

# what test_driftq_broker.py reaches in-process
__all__ = ['main', 'Broker', 'BrokerError', 'Envelope', 'GoTimeError', 'IDEM_FAILED', 'IDEM_PENDING',
           'IdemItem', 'PRODUCE_SPEC', 'RetryPolicy', 'compute_backoff_ns', 'fnv32a', 'go_decode_struct',
           'go_decoder_decode', 'go_float', 'go_quote', 'go_time_parse_rfc3339', 'go_unmarshal_value',
           'jstr', 'parse_query']


def main(argv=None):
    ap = argparse.ArgumentParser(description='DriftQ v1 loopback test broker')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--data-dir', default=None, help='keep a write-ahead log in DIR/driftq.wal')
    ap.add_argument('--fsync', action='store_true', help='fsync the WAL after every record')
    ap.add_argument('--verbose', action='store_true', help='log requests to stderr')
    args = ap.parse_args(argv)
    common.VERBOSE = args.verbose
    threading.stack_size(1 << 20)

    wal = None
    broker = Broker()
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        path = os.path.join(args.data_dir, 'driftq.wal')
        broker.replay(path)
        wal = WAL(path, args.fsync)
        broker.wal = wal

    app = App(broker)
    try:
        srv = Server(args.host, args.port, app)
    except OSError as e:
        log('listen failed: %s' % e)
        return 1

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (AttributeError, ValueError):
        pass

    host = args.host
    if ':' in host:
        host = '[' + host + ']'
    sys.stdout.write('DRIFTQ_URL=http://%s:%d\n' % (host, srv.port))
    sys.stdout.flush()
    if common.VERBOSE:
        log('listening on %s:%d (wal=%s)' % (host, srv.port, wal.path if wal else 'off'))

    threading.Thread(target=srv.accept_loop, daemon=True).start()

    def ticker():
        while not stop.wait(REDELIVER_TICK):
            try:
                broker.tick()
            except Exception as e:  # pragma: no cover - defensive
                log('redelivery error: %r' % (e,))
    threading.Thread(target=ticker, daemon=True).start()

    while not stop.wait(1.0):
        pass
    srv.shutdown()
    broker.mu.acquire(timeout=0.3)   # let an in-progress WAL write finish
    if wal is not None:
        wal.close()
    if common.VERBOSE:
        log('stopped')
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
