"""DriftQ v1 loopback test broker, one module per concern.

``../driftq_broker.py`` is its command line (options, the ``DRIFTQ_URL=`` line, signals).

    common      constants taken from the real broker's behaviour; the log
    gostrings   Go strings held as Python str, strconv, FNV-1a, int64 wrap-around
    gotime      Go time: Parse(time.RFC3339) and Format(time.RFC3339Nano)
    gojson      Go encoding/json: the encoder, the scanner's error texts, decoding into
                the request structs
    gourl       Go net/url: unescaping, ParseQuery, the mux's path cleaning
    model       the broker's errors and records (envelopes, messages, partitions, leases,
                consume streams) and the retry backoff
    wal         the write-ahead log: its file, the records the broker appends, their replay
    broker      the broker: topics, produce, consume, redelivery, DLQ, idempotency, ack/nack
    metrics     Prometheus text exposition
    httpserver  a small HTTP/1.1 server that behaves like Go's net/http, and its listener
    app         routing and handlers (the real broker's muxes and handlers)

Each module imports only modules above it in this list.  The go* modules know nothing of
DriftQ; httpserver knows the consume streams but not the app or the broker (the listener is
given the app, which is given the broker).
"""
