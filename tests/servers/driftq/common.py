"""Constants taken from the real broker's behaviour, and the log."""

import sys


# ---------------------------------------------------------------------------
# Constants taken from the real broker's behaviour
# ---------------------------------------------------------------------------

ACK_TIMEOUT_NS = 2_000_000_000        # default lease / ack timeout (2 s)
REDELIVER_TICK = 0.25                 # redelivery loop period
MAX_INFLIGHT = 2                      # per (topic, group, partition)
MAX_PARTITION_MSGS = 100              # backpressure: messages
MAX_PARTITION_BYTES = 64 * 1024       # backpressure: key+value bytes
IDEM_TTL_NS = 10 * 60 * 1_000_000_000  # idempotency key lifetime
IDEM_MIN_LEASE_NS = 250_000_000
IDEM_MAX_LEASE_NS = 10 * 60 * 1_000_000_000
ROUTING_LABEL = 'test-label'          # stock driftqd installs a TestRouter
ROUTING_META = {'source': 'router'}
HTTP_TIMEOUT = 5.0                    # ReadTimeout (and idle timeout) of driftqd
MAX_HEADER_BYTES = (1 << 20) + 4096
MAX_POST_HANDLER_READ = 256 << 10
BUFFER_BEFORE_CHUNKING = 2048
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

VERBOSE = False  # --verbose (set by driftq_broker.py)


def log(msg):
    sys.stderr.write('driftq_broker: %s\n' % msg)
    sys.stderr.flush()
