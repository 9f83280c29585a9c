"""Search by brute force: the universal query API and the legacy search endpoints."""

import heapq
from array import array

from .errors import bad_input, not_found, unsupported, violation
from .filters import FilterContext, check_filter, validate_filter
from .points import _is_inference_object, _with_vector_arg, scored_json
from .values import cosine_preprocess, f32, id_key, id_out, id_sort_key, larger_is_better, raw_score


# --------------------------------------------------------------------------
# Search

def parse_query_vector(coll, q, using):
    """-> (kind, payload) with kind in nearest/point/none."""
    if q is None:
        return "none", None
    if isinstance(q, dict):
        if "nearest" in q:
            if q.get("mmr") is not None:
                raise unsupported("MMR queries")
            return parse_query_vector(coll, q["nearest"], using)
        if "indices" in q and "values" in q:
            raise unsupported("sparse vectors")
        if _is_inference_object(q):
            raise unsupported("inference (Document/Image/InferenceObject)")
        kind = next(iter(q), "?")
        raise unsupported("the `%s` query" % kind)
    if isinstance(q, list):
        if q and isinstance(q[0], list):
            raise unsupported("multivector queries")
        return "nearest", q
    return "point", id_key(q)


def search(coll, vector_name, qvec, flt, limit, offset, threshold, exclude_key=None):
    """-> [(score, point)] best first; ties by id ascending."""
    if vector_name not in coll.vectors:
        if vector_name in coll.sparse:
            raise unsupported("sparse vectors")
        raise bad_input("Not existing vector name error: %s" % vector_name)
    params = coll.vectors[vector_name]
    dim = params["size"]
    if len(qvec) != dim:
        raise bad_input("Vector dimension error: expected dim: %d, got %d" % (dim, len(qvec)))
    distance = params["distance"]
    q = array("f", qvec)
    if distance == "Cosine":
        q = cosine_preprocess(q)
    larger = larger_is_better(distance)
    thr = f32(threshold) if threshold is not None else None
    validate_filter(flt)
    ctx = FilterContext(coll)
    scored = []
    for key, p in coll.points.items():
        if key == exclude_key:
            continue
        v = p.vectors.get(vector_name)
        if v is None:
            continue
        if flt is not None and not check_filter(flt, p, p.payload, ctx):
            continue
        s = raw_score(distance, q, v)
        if thr is not None:
            # Distance::check_threshold: strict comparison on the post-processed score
            if larger and not s > thr:
                continue
            if not larger and not s < thr:
                continue
        scored.append((s, p))
    n = limit + offset
    if larger:
        top = heapq.nsmallest(n, scored, key=lambda t: (-t[0], id_sort_key(t[1].key)))
    else:
        top = heapq.nsmallest(n, scored, key=lambda t: (t[0], id_sort_key(t[1].key)))
    return top[offset:]


def run_query(coll, req):
    """Universal query API (QueryRequest) -> [ScoredPoint json]."""
    if req.get("prefetch"):
        raise unsupported("prefetch")
    if req.get("lookup_from") is not None:
        raise unsupported("lookup_from")
    using = req.get("using") or ""
    limit = req.get("limit")
    limit = 10 if limit is None else limit
    offset = req.get("offset") or 0
    wp = req.get("with_payload")
    wv = _with_vector_arg(req.get("with_vector"))
    flt = req.get("filter")
    kind, q = parse_query_vector(coll, req.get("query"), using)
    if kind == "none":
        validate_filter(flt)
        ctx = FilterContext(coll)
        out = []
        skip = offset
        for k in coll.sorted_keys():
            p = coll.points[k]
            if flt is not None and not check_filter(flt, p, p.payload, ctx):
                continue
            if skip:
                skip -= 1
                continue
            out.append(scored_json(coll, p, 1.0, wp, wv, version=0))
            if len(out) >= limit:
                break
        return out
    exclude = None
    if kind == "point":
        p = coll.points.get(q)
        if p is None:
            raise not_found("No point with id %s found" % id_out(q))
        if using not in coll.vectors:
            raise bad_input("Not existing vector name error: %s" % using)
        v = p.vectors.get(using)
        if v is None:
            raise bad_input("Vector %s is not found for point %s" % (using or "\"\"", id_out(q)))
        exclude = q
        q = list(v)
    elif not q:
        raise violation(422, "Validation error in JSON body: [query: dense vector must not be empty]")
    res = search(coll, using, q, flt, limit, offset, req.get("score_threshold"), exclude)
    return [scored_json(coll, p, s, wp, wv) for s, p in res]


def run_legacy_search(coll, req):
    vec = req["vector"]
    name = ""
    if isinstance(vec, dict):
        name = vec["name"]
        vec = vec["vector"]
        if isinstance(vec, dict):
            raise unsupported("sparse vectors")
    if not vec:
        raise violation(422, "Validation error in JSON body: [vector: dense vector must not be empty]")
    res = search(coll, name, vec, req.get("filter"), req["limit"], req.get("offset") or 0,
                 req.get("score_threshold"))
    wp = req.get("with_payload")
    wv = _with_vector_arg(req.get("with_vector"))
    return [scored_json(coll, p, s, wp, wv) for s, p in res]
