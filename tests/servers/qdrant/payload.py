"""JSON paths in payloads, and what the payload operations do with them."""


# --------------------------------------------------------------------------
# JSON paths in payloads (segment/src/json_path)

def parse_json_path(s):
    """'a.b[].c[0]' -> ['a', ('key','b'), ('all',), ('key','c'), ('idx',0)] (first is a str)."""
    items = []
    i, n = 0, len(s)
    first = True
    while i < n:
        if s[i] == '"':
            j = s.find('"', i + 1)
            if j < 0:
                return None
            key = s[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < n and s[j] not in ".[":
                j += 1
            key = s[i:j]
            i = j
        if not key and not first:
            return None
        items.append(key if first else ("key", key))
        first = False
        while i < n and s[i] == "[":
            j = s.find("]", i)
            if j < 0:
                return None
            inner = s[i + 1:j]
            if inner == "":
                items.append(("all",))
            elif inner.isdigit():
                items.append(("idx", int(inner)))
            else:
                return None
            i = j + 1
        if i < n:
            if s[i] != ".":
                return None
            i += 1
            if i == n:
                return None
    if not items:
        return None
    return items


_PATH_CACHE = {}


def json_path(s):
    p = _PATH_CACHE.get(s)
    if p is None:
        p = parse_json_path(s)
        if p is None:
            p = [s]
        if len(_PATH_CACHE) < 10000:
            _PATH_CACHE[s] = p
    return p


def _value_get(items, value, out):
    if not items:
        out.append(value)
        return
    head, tail = items[0], items[1:]
    kind = head[0]
    if kind == "key":
        if type(value) is dict and head[1] in value:
            _value_get(tail, value[head[1]], out)
    elif kind == "idx":
        if type(value) is list and head[1] < len(value):
            _value_get(tail, value[head[1]], out)
    elif type(value) is list:
        for v in value:
            _value_get(tail, v, out)


def payload_values(payload, key):
    items = json_path(key)
    out = []
    first = items[0]
    if first in payload:
        _value_get(items[1:], payload[first], out)
    return out


def payload_set_by_key(payload, key, src):
    """Payload::merge_by_key for simple paths (keys and [N]/[] over arrays)."""
    items = json_path(key)

    def set_in(container, its):
        head = its[0]
        rest = its[1:]
        if isinstance(head, str) or head[0] == "key":
            k = head if isinstance(head, str) else head[1]
            if type(container) is not dict:
                return
            if not rest:
                cur = container.get(k)
                if type(cur) is not dict:
                    cur = {}
                    container[k] = cur
                merge_map(cur, src)
                return
            if k not in container or type(container[k]) not in (dict, list):
                container[k] = {} if (isinstance(rest[0], str) or rest[0][0] == "key") else []
            set_in(container[k], rest)
        elif head[0] == "idx":
            if type(container) is list and head[1] < len(container):
                if not rest:
                    if type(container[head[1]]) is not dict:
                        container[head[1]] = {}
                    merge_map(container[head[1]], src)
                else:
                    set_in(container[head[1]], rest)
        else:
            if type(container) is list:
                for i in range(len(container)):
                    if not rest:
                        if type(container[i]) is not dict:
                            container[i] = {}
                        merge_map(container[i], src)
                    else:
                        set_in(container[i], rest)

    set_in(payload, items)


def payload_remove(payload, key):
    items = json_path(key)

    def rm(container, its):
        head = its[0]
        rest = its[1:]
        if isinstance(head, str) or head[0] == "key":
            k = head if isinstance(head, str) else head[1]
            if type(container) is dict and k in container:
                if rest:
                    rm(container[k], rest)
                else:
                    del container[k]
        elif head[0] == "idx":
            if type(container) is list and head[1] < len(container):
                if rest:
                    rm(container[head[1]], rest)
                else:
                    del container[head[1]]
        elif type(container) is list:
            if rest:
                for v in container:
                    rm(v, rest)
            else:
                del container[:]

    rm(payload, items)


def merge_map(dest, src):
    # segment/src/common/utils.rs: merge_map (null removes the key)
    for k, v in src.items():
        if v is None:
            dest.pop(k, None)
        else:
            dest[k] = deep_copy(v)


def merge_metadata(dest, src):
    """Collection metadata merge, as Qdrant 1.19.0 applies an UpdateCollection's metadata
    (lib/collection/src/collection/collection_ops.rs Collection::update_metadata ->
    segment Payload::merge -> lib/segment/src/common/utils.rs merge_map): one level deep, a null
    value removes the key, any other value replaces it.  Qdrant's serde_json is built with
    "preserve_order" (Cargo.toml), so its Map is an IndexMap: insert keeps an existing key's
    place and appends a new one, and Map::remove is swap_remove (serde_json src/map.rs) -- the
    last key moves into the removed key's place.  A new dict."""
    items = list(dest.items())
    index = {k: i for i, (k, _) in enumerate(items)}
    for k, v in src.items():
        i = index.get(k)
        if v is None:
            if i is None:
                continue
            del index[k]
            last = items.pop()
            if i < len(items):
                items[i] = last
                index[last[0]] = i
        elif i is None:
            index[k] = len(items)
            items.append((k, deep_copy(v)))
        else:
            items[i] = (k, deep_copy(v))
    return dict(items)


def deep_copy(v):
    t = type(v)
    if t is dict:
        return {k: deep_copy(x) for k, x in v.items()}
    if t is list:
        return [deep_copy(x) for x in v]
    return v


def select_payload(payload, with_payload):
    """with_payload: bool | [keys] | {include: [...]} | {exclude: [...]} -> payload or None."""
    if with_payload is None or with_payload is False:
        return None
    if with_payload is True:
        return payload
    if type(with_payload) is list:
        include, exclude = with_payload, None
    else:
        include, exclude = with_payload.get("include"), with_payload.get("exclude")
    if include is not None:
        out = {}
        for key in include:
            items = json_path(key)
            first = items[0]
            if first not in payload:
                continue
            if len(items) == 1:
                out[first] = payload[first]
                continue
            if any(not (isinstance(it, str) or it[0] == "key") for it in items):
                out[first] = payload[first]  # array projections: keep the whole field
                continue
            vals = payload_values(payload, key)
            if not vals:
                continue
            node = out
            for it in items[:-1]:
                k = it if isinstance(it, str) else it[1]
                nxt = node.get(k)
                if type(nxt) is not dict:
                    nxt = {}
                    node[k] = nxt
                node = nxt
            node[items[-1][1]] = vals[0]
        return out
    out = deep_copy(payload)
    for key in exclude or ():
        payload_remove(out, key)
    return out
