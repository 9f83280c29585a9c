"""Loopback stand-in for the Qdrant 1.19 REST API, one module per concern.

``../qdrant_server.py`` is its command line (options, the ``QDRANT_URL=`` line, signals).

    errors      ApiError: the status and message of each kind of Qdrant error
    values      float32 arithmetic and distances, JSON text, point ids
    payload     JSON paths in payloads (segment/src/json_path); payload edits and selection
    filters     filters (segment/src/payload_storage/query_checker.rs, condition_checker.rs)
    openapi     Qdrant's OpenAPI document as JSON Schema validators; routes; the legacy
                search operations
    storage     points, collections, aliases
    points      request helpers: vectors and point selectors in, records and scored points out
    search      brute-force search, the universal query API and the legacy search
    handlers    one handler per OpenAPI operation
    app         routing, auth, the response envelopes
    httpserver  the HTTP/1.1 front (http.server), and the log

Each module imports only modules above it in this list.
"""
