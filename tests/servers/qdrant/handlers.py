"""The handlers, one per OpenAPI operation (HANDLERS, by operationId)."""

import bisect

from .errors import (ApiError, already_exists, bad_input, bad_request, collection_missing,
                     not_found, violation)
from .filters import (FilterContext, _is_int, _is_number, check_filter, parse_datetime,
                      validate_filter)
from .payload import (deep_copy, merge_map, merge_metadata, payload_remove, payload_set_by_key,
                      payload_values)
from .points import (_with_vector_arg, parse_insert_operation, prepare_point_vectors, record_json,
                     require_points, select_points, update_result)
from .search import run_legacy_search, run_query
from .storage import Collection, Point, _INVALID_NAME_CHARS, _apply_diff, _vector_params_echo
from .values import id_key, id_out, id_sort_key


# --------------------------------------------------------------------------
# Handlers.  Each gets (app, req) and returns the `result` value (or raises).

class Req:
    __slots__ = ("path", "query", "body", "headers")

    def __init__(self, path, query, body, headers):
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers


def h_get_collections(app, r):
    return {"collections": [{"name": n} for n in sorted(app.store.collections)]}


def h_get_collection(app, r):
    return app.store.resolve(r.path["collection_name"]).info()


def _check_collection_name(name, strict):
    # src/actix/api/mod.rs: StrictCollectionPath / CollectionPath
    if not 1 <= len(name.encode("utf-8")) <= 255:
        raise violation(422, "Validation error in path parameters: [collection_name: must be from 1 to "
                             "255 characters]")
    bad = _INVALID_NAME_CHARS if strict else "/\0"
    for ch in bad:
        if ch in name:
            raise violation(422, 'Validation error in path parameters: [collection_name: collection name '
                                 'cannot contain "%s" char]' % ch)


def h_create_collection(app, r):
    name = r.path["collection_name"]
    _check_collection_name(name, True)
    body = r.body
    vectors = body.get("vectors")
    if isinstance(vectors, dict) and not ("size" in vectors and isinstance(vectors.get("size"), int)):
        for vname in vectors:
            if len(vname.encode("utf-8")) > 200:
                raise bad_input("Validation error in body: [vectors: vector name must be at most 200 bytes long]")
            for ch in _INVALID_NAME_CHARS:
                if ch in vname:
                    raise bad_input('Validation error in body: [vectors: vector name cannot contain "%s" char]' % ch)
    st = app.store
    if name in st.collections:
        raise already_exists("Collection `%s` already exists!" % name)
    if name in st.aliases:
        raise bad_input("Can't create collection with name %s. Alias with the same name already exists" % name)
    if body.get("shard_number") == 0:
        raise bad_input("`shard_number` cannot be 0")
    st.collections[name] = Collection(name, body)
    return True


def h_update_collection(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    b = r.body
    if b.get("vectors"):
        for vname, diff in b["vectors"].items():
            if vname not in coll.vectors:
                raise bad_input("Not existing vector name error: %s" % vname)
            p = coll.vectors[vname]
            for k, v in (diff or {}).items():
                if v is None:
                    continue
                if k == "hnsw_config":
                    p[k] = _apply_diff(dict(p.get(k) or {}), v)
                else:
                    p[k] = v
            coll.vectors[vname] = _vector_params_echo(p)
        coll.params["vectors"] = coll.vectors_echo()
    for n, p in (b.get("sparse_vectors") or {}).items():
        coll.sparse[n] = _apply_diff(dict(coll.sparse.get(n) or {}), p)
        coll.params["sparse_vectors"] = coll.sparse
    for k, v in (b.get("params") or {}).items():
        if v is not None:
            coll.params[k] = v
    if b.get("hnsw_config"):
        _apply_diff(coll.hnsw, b["hnsw_config"])
    for k, v in (b.get("optimizers_config") or {}).items():
        if v is not None:
            coll.optimizers[k] = None if (k == "max_optimization_threads" and v == "auto") else v
    if b.get("quantization_config") is not None:
        q = b["quantization_config"]
        coll.quantization = None if q == "Disabled" else q
    if b.get("strict_mode_config") is not None:
        coll.strict_mode = _apply_diff(dict(coll.strict_mode or {}), b["strict_mode_config"])
    # lib/storage/src/content_manager/toc/collection_meta_ops.rs update_collection -> Collection::
    # update_metadata (1.19.0): with no metadata yet the patch becomes the metadata exactly as
    # sent (its null values stay, as null); otherwise merge_map (see merge_metadata).  The
    # collection is looked up first (get_collection_unchecked: an alias resolves, an unknown name
    # is 404 "Collection `x` doesn't exist!", as for every other part of the PATCH).
    if b.get("metadata") is not None:
        if coll.metadata is None:
            coll.metadata = deep_copy(b["metadata"])
        else:
            coll.metadata = merge_metadata(coll.metadata, b["metadata"])
    return True


def h_delete_collection(app, r):
    name = r.path["collection_name"]
    st = app.store
    # TableOfContent::delete_collection: aliases of the collection go first; an alias name
    # does not delete its target.
    for a in [a for a, c in st.aliases.items() if c == name]:
        del st.aliases[a]
    return st.collections.pop(name, None) is not None


def h_collection_exists(app, r):
    try:
        app.store.resolve(r.path["collection_name"])
        return {"exists": True}
    except ApiError:
        return {"exists": False}


def h_update_aliases(app, r):
    st = app.store
    # TableOfContent::update_aliases: applied in order, no rollback on failure.
    for action in r.body["actions"]:
        if "create_alias" in action:
            a = action["create_alias"]
            if a["collection_name"] not in st.collections:
                raise collection_missing(a["collection_name"])
            if a["alias_name"] in st.collections:
                raise already_exists("Collection `%s` already exists!" % a["alias_name"])
            st.aliases[a["alias_name"]] = a["collection_name"]
        elif "delete_alias" in action:
            st.aliases.pop(action["delete_alias"]["alias_name"], None)
        elif "rename_alias" in action:
            a = action["rename_alias"]
            old = a["old_alias_name"]
            if old not in st.aliases:
                raise not_found("Alias %s does not exists!" % old)
            target = st.aliases.pop(old)
            st.aliases[a["new_alias_name"]] = target
    return True


def h_get_aliases(app, r):
    st = app.store
    out = []
    for cname in sorted(st.collections):
        for a in sorted(a for a, c in st.aliases.items() if c == cname):
            out.append({"alias_name": a, "collection_name": cname})
    return {"aliases": out}


def h_get_collection_aliases(app, r):
    name = r.path["collection_name"]
    st = app.store
    return {"aliases": [{"alias_name": a, "collection_name": name}
                        for a in sorted(a for a, c in st.aliases.items() if c == name)]}


def _wait(r):
    return bool(r.query.get("wait", False))


def h_create_field_index(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    fs = r.body.get("field_schema")
    if fs is None:
        raise bad_request("Can't auto-detect field type, please specify `field_schema` in the request")
    kind = fs if isinstance(fs, str) else fs["type"]
    coll.indexes[r.body["field_name"]] = (kind, fs)
    return update_result(coll.next_op(), _wait(r))


def h_delete_field_index(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    coll.indexes.pop(r.path["field_name"], None)
    return update_result(coll.next_op(), _wait(r))


def _apply_upsert(coll, body, op):
    entries = parse_insert_operation(coll, body)
    mode = body.get("update_mode") or "upsert"
    uf = body.get("update_filter")
    validate_filter(uf)
    ctx = FilterContext(coll)
    for key, vectors, payload in entries:
        old = coll.points.get(key)
        if old is not None:
            if mode == "insert_only":
                continue
            if uf is not None and not check_filter(uf, old, old.payload, ctx):
                continue
        elif mode == "update_only":
            continue
        coll.put_point(Point(key, vectors, payload if payload is not None else {}, op))


def h_upsert_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_upsert(coll, r.body, op)
    return update_result(op, _wait(r))


def _apply_delete(coll, body):
    keys, _ = select_points(coll, body)
    for k in keys:
        coll.remove_point(k)


def h_delete_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_delete(coll, r.body)
    return update_result(op, _wait(r))


def _touch(p, op):
    p.version = op


def _apply_set_payload(coll, body, op, overwrite):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    key = body.get("key")
    for k in keys:
        p = coll.points[k]
        if overwrite:
            p.payload = deep_copy(body["payload"])
        elif key is not None:
            payload_set_by_key(p.payload, key, body["payload"])
        else:
            merge_map(p.payload, body["payload"])
        _touch(p, op)


def _apply_delete_payload(coll, body, op):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for k in keys:
        p = coll.points[k]
        for key in body["keys"]:
            payload_remove(p.payload, key)
        _touch(p, op)


def _apply_clear_payload(coll, body, op):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for k in keys:
        p = coll.points[k]
        p.payload = {}
        _touch(p, op)


def _apply_update_vectors(coll, body, op):
    uf = body.get("update_filter")
    validate_filter(uf)
    ctx = FilterContext(coll)
    updates = []
    for i, pv in enumerate(body["points"]):
        key = id_key(pv["id"])
        updates.append((key, prepare_point_vectors(coll, pv["vector"], "points[%d].vector" % i)))
    require_points(coll, [k for k, _ in updates])
    for key, vectors in updates:
        p = coll.points[key]
        if uf is not None and not check_filter(uf, p, p.payload, ctx):
            continue
        p.vectors = dict(p.vectors)
        p.vectors.update(vectors)
        p._vjson = None
        _touch(p, op)


def _apply_delete_vectors(coll, body, op):
    if body.get("points") is None and body.get("filter") is None:
        keys, explicit = [], False
    else:
        keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for name in body["vector"]:
        if name not in coll.vectors:
            raise bad_input("Not existing vector name error: %s" % name)
    for k in keys:
        p = coll.points[k]
        p.vectors = {n: v for n, v in p.vectors.items() if n not in body["vector"]}
        p._vjson = None
        _touch(p, op)


def _payload_op(apply, **kw):
    def handler(app, r):
        coll = app.store.resolve(r.path["collection_name"])
        if r.body.get("points") is None and r.body.get("filter") is None and apply is not _apply_delete_vectors:
            # shard/src/operations/payload_ops.rs: PointsSelectorValidationError (serde)
            raise violation(400, "Format error in JSON body: Either list of point ids or filter must be provided")
        op = coll.next_op()
        apply(coll, r.body, op, **kw)
        return update_result(op, _wait(r))
    return handler


def h_clear_payload(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_clear_payload(coll, r.body, op)
    return update_result(op, _wait(r))


def h_update_vectors(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_update_vectors(coll, r.body, op)
    return update_result(op, _wait(r))


def h_batch_update(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    wait = _wait(r)
    results = []
    for operation in r.body["operations"]:
        (kind, body), = operation.items()
        if kind in ("set_payload", "overwrite_payload", "delete_payload") and \
                body.get("points") is None and body.get("filter") is None:
            raise violation(400, "Format error in JSON body: Either list of point ids or filter must be provided")
        op = coll.next_op()
        if kind == "upsert":
            _apply_upsert(coll, body, op)
        elif kind == "delete":
            _apply_delete(coll, body)
        elif kind == "set_payload":
            _apply_set_payload(coll, body, op, False)
        elif kind == "overwrite_payload":
            _apply_set_payload(coll, body, op, True)
        elif kind == "delete_payload":
            _apply_delete_payload(coll, body, op)
        elif kind == "clear_payload":
            _apply_clear_payload(coll, body, op)
        elif kind == "update_vectors":
            _apply_update_vectors(coll, body, op)
        elif kind == "delete_vectors":
            _apply_delete_vectors(coll, body, op)
        results.append(update_result(op, wait))
    return results


def h_get_point(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    key = id_key(r.path["id"])
    p = coll.points.get(key)
    if p is None:
        raise not_found("Point with id %s does not exists!" % id_out(key))
    return record_json(coll, p, True, True)


def h_get_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    wp = r.body.get("with_payload")
    wp = True if wp is None else wp
    wv = _with_vector_arg(r.body.get("with_vector"))
    out, seen = [], set()
    for raw in r.body["ids"]:
        k = id_key(raw)
        if k in seen:
            continue
        p = coll.points.get(k)
        if p is not None:
            seen.add(k)
            out.append(record_json(coll, p, wp, wv))
    return out


def h_scroll_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    b = r.body
    limit = b.get("limit")
    limit = 10 if limit is None else limit
    wp = b.get("with_payload")
    wp = True if wp is None else wp
    wv = _with_vector_arg(b.get("with_vector"))
    flt = b.get("filter")
    validate_filter(flt)
    ctx = FilterContext(coll)
    order_by = b.get("order_by")
    if order_by is not None:
        if b.get("offset") is not None:
            raise bad_input("Cannot use an `offset` when using `order_by`. The alternative for paging is to use "
                            "`order_by.start_from` and a filter to exclude the IDs that you've already seen for "
                            "the `order_by.start_from` value")
        if isinstance(order_by, str):
            order_by = {"key": order_by}
        key = order_by["key"]
        idx = coll.indexes.get(key)
        if idx is None or idx[0] not in ("integer", "float", "datetime"):
            raise bad_input("No range index for `order_by` key: `%s`. Please create one to use `order_by`. Check "
                            "https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which "
                            "payload schemas support Range conditions" % key)
        desc = order_by.get("direction") == "desc"
        start = order_by.get("start_from")
        if isinstance(start, str):
            ts = parse_datetime(start)
            start = int(ts) if ts is not None else None
        entries = []
        for k in coll.sorted_keys():
            p = coll.points[k]
            if flt is not None and not check_filter(flt, p, p.payload, ctx):
                continue
            seen = set()
            for v in payload_values(p.payload, key):
                for x in (v if type(v) is list else [v]):
                    if idx[0] == "datetime":
                        ts = parse_datetime(x)
                        if ts is None:
                            continue
                        ov = int(ts)
                    elif idx[0] == "integer":
                        if not _is_int(x):
                            continue
                        ov = x
                    else:
                        if not _is_number(x):
                            continue
                        ov = float(x)
                    if ov in seen:
                        continue
                    seen.add(ov)
                    if start is not None and ((ov < start) if not desc else (ov > start)):
                        continue
                    entries.append((ov, id_sort_key(k), p))
        entries.sort(key=lambda e: (e[0], e[1]), reverse=desc)
        pts = [record_json(coll, p, wp, wv, order_value=ov) for ov, _, p in entries[:limit]]
        return {"points": pts, "next_page_offset": None}
    offset = b.get("offset")
    start_key = id_sort_key(id_key(offset)) if offset is not None else None
    keys = coll.sorted_keys()
    i = 0
    if start_key is not None:
        i = bisect.bisect_left([id_sort_key(k) for k in keys], start_key)
    found = []
    n = len(keys)
    while i < n and len(found) < limit + 1:
        p = coll.points[keys[i]]
        i += 1
        if flt is not None and not check_filter(flt, p, p.payload, ctx):
            continue
        found.append(p)
    nxt = None
    if len(found) > limit:
        nxt = id_out(found.pop().key)
    return {"points": [record_json(coll, p, wp, wv) for p in found], "next_page_offset": nxt}


def h_count_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    flt = r.body.get("filter")
    if flt is None:
        return {"count": len(coll.points)}
    validate_filter(flt)
    ctx = FilterContext(coll)
    return {"count": sum(1 for p in coll.points.values() if check_filter(flt, p, p.payload, ctx))}


def h_query_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return {"points": run_query(coll, r.body)}


def h_query_batch_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return [{"points": run_query(coll, q)} for q in r.body["searches"]]


def h_search_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return run_legacy_search(coll, r.body)


def h_search_batch_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return [run_legacy_search(coll, q) for q in r.body["searches"]]


def h_cluster_status(app, r):
    return {"status": "disabled"}


HANDLERS = {
    "get_collections": h_get_collections,
    "get_collection": h_get_collection,
    "create_collection": h_create_collection,
    "update_collection": h_update_collection,
    "delete_collection": h_delete_collection,
    "collection_exists": h_collection_exists,
    "update_aliases": h_update_aliases,
    "get_collections_aliases": h_get_aliases,
    "get_collection_aliases": h_get_collection_aliases,
    "create_field_index": h_create_field_index,
    "delete_field_index": h_delete_field_index,
    "upsert_points": h_upsert_points,
    "delete_points": h_delete_points,
    "set_payload": _payload_op(_apply_set_payload, overwrite=False),
    "overwrite_payload": _payload_op(_apply_set_payload, overwrite=True),
    "delete_payload": _payload_op(_apply_delete_payload),
    "clear_payload": h_clear_payload,
    "update_vectors": h_update_vectors,
    "delete_vectors": _payload_op(_apply_delete_vectors),
    "batch_update": h_batch_update,
    "get_point": h_get_point,
    "get_points": h_get_points,
    "scroll_points": h_scroll_points,
    "count_points": h_count_points,
    "query_points": h_query_points,
    "query_batch_points": h_query_batch_points,
    "search_points": h_search_points,
    "search_batch_points": h_search_batch_points,
    "cluster_status": h_cluster_status,
}

# Operations whose `collection_name` must use the strict path validation, or the basic one.
_NO_COLLECTION_CHECK = {"create_collection"}
