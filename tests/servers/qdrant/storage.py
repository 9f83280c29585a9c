"""Storage: points, collections and aliases, in memory."""

import os
import threading

from .errors import collection_missing, unsupported
from .filters import _is_int, _is_number, parse_datetime
from .payload import deep_copy, payload_values
from .values import _UUID_RE, id_sort_key, vector_json


# --------------------------------------------------------------------------
# Storage

class Point:
    __slots__ = ("key", "vectors", "payload", "version", "_vjson")

    def __init__(self, key, vectors, payload, version):
        self.key = key
        self.vectors = vectors
        self.payload = payload
        self.version = version
        self._vjson = None

    def vectors_json(self, coll, with_vector):
        if with_vector is None or with_vector is False:
            return None
        if self._vjson is None:
            self._vjson = {k: vector_json(v) for k, v in self.vectors.items()}
        vj = self._vjson
        if with_vector is True:
            if coll.single:
                return vj.get("")
            return {k: vj[k] for k in coll.vector_names_sorted() if k in vj}
        # list of names
        if coll.single:
            return vj.get("") if "" in with_vector else None
        return {k: vj[k] for k in with_vector if k in vj}


HNSW_DEFAULTS = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                 "max_indexing_threads": 0, "on_disk": False}
OPTIMIZER_DEFAULTS = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                      "default_segment_number": 0, "max_segment_size": None, "memmap_threshold": None,
                      "indexing_threshold": 10000, "flush_interval_sec": 5,
                      "max_optimization_threads": None, "prevent_unoptimized": None}
WAL_DEFAULTS = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}
_VECTOR_PARAM_ORDER = ("size", "distance", "hnsw_config", "quantization_config", "on_disk",
                       "memory", "datatype", "multivector_config")


def _apply_diff(base, diff):
    for k, v in (diff or {}).items():
        if v is not None:
            base[k] = v
    return base


def default_segments():
    return min(8, max(2, (os.cpu_count() or 2) // 2))


def _vector_params_echo(p):
    out = {}
    for k in _VECTOR_PARAM_ORDER:
        v = p.get(k)
        if v is None:
            continue
        if k == "hnsw_config":
            v = {hk: hv for hk, hv in v.items() if hv is not None}
            if not v:
                continue
        out[k] = v
    return out


class Collection:
    def __init__(self, name, body):
        self.name = name
        vectors = body.get("vectors")
        self.vectors = {}
        if isinstance(vectors, dict) and "size" in vectors and isinstance(vectors.get("size"), int):
            self.single = True
            self.vectors[""] = _vector_params_echo(vectors)
        else:
            self.single = False
            for vname, p in (vectors or {}).items():
                self.vectors[vname] = _vector_params_echo(p)
        for p in self.vectors.values():
            if p.get("multivector_config") is not None:
                raise unsupported("multivector_config")
            if p.get("datatype") not in (None, "float32"):
                raise unsupported("datatype `%s`" % p.get("datatype"))
        # Sparse vectors: the configuration is accepted and echoed, sparse data is refused.
        self.sparse = {n: {k: v for k, v in (p or {}).items() if v is not None}
                       for n, p in (body.get("sparse_vectors") or {}).items()}
        params = {"vectors": self.vectors_echo(), "shard_number": body.get("shard_number") or 1}
        if body.get("sharding_method") is not None:
            params["sharding_method"] = body["sharding_method"]
        params["replication_factor"] = body.get("replication_factor") or 1
        params["write_consistency_factor"] = body.get("write_consistency_factor") or 1
        params["on_disk_payload"] = True if body.get("on_disk_payload") is None else body["on_disk_payload"]
        if body.get("payload") is not None and body.get("on_disk_payload") is None:
            params["payload"] = body["payload"]
        if body.get("sparse_vectors") is not None:
            params["sparse_vectors"] = self.sparse
        self.params = params
        self.hnsw = _apply_diff(dict(HNSW_DEFAULTS), body.get("hnsw_config"))
        opt = dict(OPTIMIZER_DEFAULTS)
        for k, v in (body.get("optimizers_config") or {}).items():
            if v is None:
                continue
            if k == "max_optimization_threads" and v == "auto":
                v = None
            opt[k] = v
        self.optimizers = opt
        self.wal = _apply_diff(dict(WAL_DEFAULTS), body.get("wal_config"))
        self.quantization = body.get("quantization_config")
        self.strict_mode = body.get("strict_mode_config")
        # lib/storage/src/content_manager/toc/create_collection.rs: CreateCollection.metadata
        # goes into the collection's config as given (keys set to null included); "metadata":
        # null or absent is None, which GET leaves out (CollectionConfig.metadata is
        # skip_serializing_if Option::is_none, lib/collection/src/operations/types.rs).
        self.metadata = deep_copy(body.get("metadata"))
        self.points = {}
        self._sorted = None
        self.indexes = {}  # field -> (type, schema as given)
        self.op_num = 0

    def vectors_echo(self):
        if self.single:
            return self.vectors[""]
        return {k: self.vectors[k] for k in sorted(self.vectors)}  # BTreeMap order

    def vector_names_sorted(self):
        return sorted(self.vectors)

    def next_op(self):
        n = self.op_num
        self.op_num += 1
        return n

    def sorted_keys(self):
        if self._sorted is None:
            self._sorted = sorted(self.points, key=id_sort_key)
        return self._sorted

    def put_point(self, p):
        if p.key not in self.points:
            self._sorted = None
        self.points[p.key] = p

    def remove_point(self, key):
        if self.points.pop(key, None) is not None:
            self._sorted = None

    def distance(self, name):
        return self.vectors[name]["distance"]

    def index_points(self, field, kind):
        n = 0
        for p in self.points.values():
            for v in payload_values(p.payload, field):
                vals = v if type(v) is list else [v]
                if any(_index_accepts(kind, x) for x in vals):
                    n += 1
                    break
        return n

    def info(self):
        cfg = {"params": self.params, "hnsw_config": self.hnsw, "optimizer_config": self.optimizers,
               "wal_config": self.wal, "quantization_config": self.quantization}
        if self.strict_mode is not None:
            cfg["strict_mode_config"] = self.strict_mode
        if self.metadata is not None:
            cfg["metadata"] = self.metadata
        schema = {}
        for field, (kind, given) in self.indexes.items():
            entry = {"data_type": kind}
            if isinstance(given, dict):
                entry["params"] = given
            entry["points"] = self.index_points(field, kind)
            schema[field] = entry
        segs = self.optimizers.get("default_segment_number") or default_segments()
        return {"status": "green", "optimizer_status": "ok",
                "indexed_vectors_count": 0, "points_count": len(self.points),
                "segments_count": segs, "config": cfg, "payload_schema": schema,
                "update_queue": {"length": 0}}


def _index_accepts(kind, v):
    if v is None:
        return False
    if kind in ("keyword", "text"):
        return type(v) is str
    if kind == "integer":
        return _is_int(v)
    if kind == "float":
        return _is_number(v)
    if kind == "bool":
        return type(v) is bool
    if kind == "datetime":
        return parse_datetime(v) is not None
    if kind == "uuid":
        return type(v) is str and bool(_UUID_RE.match(v))
    if kind == "geo":
        return type(v) is dict and _is_number(v.get("lat")) and _is_number(v.get("lon"))
    return True


_INVALID_NAME_CHARS = '<>:"/\\|?*\0\x1f'


class Store:
    def __init__(self):
        self.collections = {}
        self.aliases = {}
        self.lock = threading.RLock()

    def resolve(self, name):
        # TableOfContent::resolve_name: alias first, then the collection itself.
        real = self.aliases.get(name, name)
        c = self.collections.get(real)
        if c is None:
            raise collection_missing(real)
        return c
