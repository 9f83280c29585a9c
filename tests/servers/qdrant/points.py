"""Request helpers: vectors and point selectors in, records and scored points out."""

from array import array

from .errors import bad_input, not_found, unsupported, violation
from .filters import FilterContext, check_filter, validate_filter
from .payload import select_payload
from .values import cosine_preprocess, f32_json, id_key, id_out


# --------------------------------------------------------------------------
# Request helpers

def _with_vector_arg(v):
    return v if v is not None else False


def record_json(coll, p, with_payload, with_vector, order_value=None):
    out = {"id": id_out(p.key)}
    pl = select_payload(p.payload, with_payload)
    if pl is not None:
        out["payload"] = pl
    vj = p.vectors_json(coll, with_vector)
    if vj is not None:
        out["vector"] = vj
    if order_value is not None:
        out["order_value"] = order_value
    return out


def scored_json(coll, p, score, with_payload, with_vector, version=None):
    out = {"id": id_out(p.key), "version": p.version if version is None else version,
           "score": f32_json(score)}
    pl = select_payload(p.payload, with_payload)
    if pl is not None:
        out["payload"] = pl
    vj = p.vectors_json(coll, with_vector)
    if vj is not None:
        out["vector"] = vj
    return out


def update_result(op_id, wait):
    return {"operation_id": op_id, "status": "completed" if wait else "acknowledged"}


def _is_inference_object(v):
    return isinstance(v, dict) and "model" in v and ("text" in v or "image" in v or "object" in v)


def make_dense(coll, name, values):
    if name in coll.sparse and name not in coll.vectors:
        if isinstance(values, dict) and "indices" in values:
            raise unsupported("sparse vectors")
        raise bad_input("Conversion between sparse and regular vectors failed")
    if name not in coll.vectors:
        raise bad_input("Not existing vector name error: %s" % name)
    if isinstance(values, dict):
        if _is_inference_object(values):
            raise unsupported("inference (Document/Image/InferenceObject)")
        raise bad_input("Conversion between sparse and regular vectors failed")
    if values and isinstance(values[0], list):
        raise bad_input("Conversion between multi and regular vectors failed")
    dim = coll.vectors[name]["size"]
    if len(values) != dim:
        raise bad_input("Vector dimension error: expected dim: %d, got %d" % (dim, len(values)))
    vec = array("f", values)
    if coll.vectors[name]["distance"] == "Cosine":
        vec = cosine_preprocess(vec)
    return vec


def prepare_point_vectors(coll, vs, where):
    """VectorStruct -> {name: array('f')}"""
    if isinstance(vs, list):
        if not vs:
            raise violation(422, "Validation error in JSON body: [%s: dense vector must not be empty]" % where)
        if isinstance(vs[0], list):
            raise unsupported("multivectors")
        return {"": make_dense(coll, "", vs)}
    if _is_inference_object(vs):
        raise unsupported("inference (Document/Image/InferenceObject)")
    out = {}
    for name, v in vs.items():
        if isinstance(v, list) and not v:
            raise violation(422, "Validation error in JSON body: [%s.%s: dense vector must not be empty]"
                            % (where, name))
        out[name] = make_dense(coll, name, v)
    return out


def parse_insert_operation(coll, body):
    """PointInsertOperations (batch or list) -> [(key, vectors, payload)]."""
    entries = []
    if "batch" in body:
        b = body["batch"]
        ids = b["ids"]
        vecs = b["vectors"]
        payloads = b.get("payloads")
        if isinstance(vecs, list):
            if len(ids) != len(vecs):
                raise violation(422, "Validation error in JSON body: [batch: number of ids and vectors must "
                                     "be equal (%d != %d)]" % (len(ids), len(vecs)))
            for v in vecs:
                if isinstance(v, list) and not v:
                    raise violation(422, "Validation error in JSON body: [vector: dense vector must not be empty]")
        else:
            for name, lst in vecs.items():
                if len(ids) != len(lst):
                    raise violation(422, "Validation error in JSON body: [batch: number of ids and vectors "
                                         "must be equal (%d != %d)]" % (len(ids), len(lst)))
        if payloads is not None and len(payloads) != len(ids):
            raise violation(422, "Validation error in JSON body: [batch: number of ids and payloads must be "
                                 "equal (%d != %d)]" % (len(ids), len(payloads)))
        for i, raw_id in enumerate(ids):
            if isinstance(vecs, list):
                v = vecs[i]
                if _is_inference_object(v):
                    raise unsupported("inference (Document/Image/InferenceObject)")
                if v and isinstance(v[0], list):
                    raise unsupported("multivectors")
                vectors = {"": make_dense(coll, "", v)}
            else:
                vectors = {}
                for name, lst in vecs.items():
                    vectors[name] = make_dense(coll, name, lst[i])
            pl = payloads[i] if payloads is not None else None
            entries.append((id_key(raw_id), vectors, pl))
    else:
        for i, pt in enumerate(body["points"]):
            vectors = prepare_point_vectors(coll, pt["vector"], "points[%d].vector" % i)
            entries.append((id_key(pt["id"]), vectors, pt.get("payload")))
    return entries


def select_points(coll, body):
    """PointsSelector-like bodies: {points: [...]} or {filter: ...} -> [keys]."""
    if body.get("points") is not None:
        return [id_key(x) for x in body["points"]], True
    f = body.get("filter")
    validate_filter(f)
    ctx = FilterContext(coll)
    return [k for k in coll.sorted_keys()
            if check_filter(f, coll.points[k], coll.points[k].payload, ctx)], False


def require_points(coll, keys):
    for k in keys:
        if k not in coll.points:
            raise not_found("No point with id %s found" % id_out(k))
