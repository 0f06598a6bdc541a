"""Top-k for a batch of users, Arrow table in, Arrow table out: what ``recs.ray`` and
``recs.spark`` run inside their workers. The model is loaded once per worker; each batch
is one native ``recommend`` call (the GIL released, recs' own threads doing the work).

Output columns: ``user`` (the input's user column, as given), ``item`` (the model's item
ids: strings where the model file records them, else row indices as ``model.recommend``
returns them), ``score`` (float32), ``rank`` (1 = best). Filtered items (already liked,
``filter_items``) never appear, so a user may get fewer than ``k`` rows.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pyarrow as pa
import scipy.sparse

from . import _native

#: The score recs gives a filtered item (``-FLT_MAX``): such entries are dropped.
_FILTERED = float(np.finfo(np.float32).min)

#: Models loaded in this process, by source: a Python worker reused across tasks (Spark)
#: or an actor (Ray) loads each model once.
_loaded = {}


def _scalar_ids(values, what):
    """Ids as the strings a model file records (1 and 1.0 are the same id)."""
    out = []
    for v in values:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if v is None:
            raise ValueError(f"a {what} id is null")
        out.append(str(v))
    return out


def load_source(source):
    """The model of ``("path", p)`` or ``("bytes", b)``, once per process."""
    kind, value = source
    key = (kind, value if kind == "path" else hash(value))
    model = _loaded.get(key)
    if model is None:
        from . import load

        model = load(value if kind == "path" else io.BytesIO(value))
        _loaded[key] = model
        log = os.environ.get("RECS_BATCH_LOAD_LOG")
        if log:  # tests count the loads per process
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{os.getpid()}\n")
    return model


def set_threads(threads):
    """Sizes recs' thread pool in this worker to what the engine gave it; a pool already
    running at another size (an earlier task in the same process asked for it) is kept."""
    if threads:
        try:
            _native.set_num_threads(int(threads))
        except RuntimeError:
            pass


class BatchRecommender:
    """Loads the model and turns tables of users (``user_col``: ids the model knows) or of
    item histories (``items_col``: a list of item ids per row; users the model never saw,
    folded in) into their top ``k``."""

    def __init__(self, source, k=10, user_col="user", items_col=None,
                 filter_already_liked_items=True, filter_items=None, items=None,
                 unknown_users="error", threads=None):
        set_threads(threads)
        self.model = load_source(source)
        self.k = int(k)
        self.user_col = user_col
        self.items_col = items_col
        self.filter_liked = bool(filter_already_liked_items)
        self.unknown_users = unknown_users
        check_args(self.model, dict(k=k, unknown_users=unknown_users, items_col=items_col,
                                    filter_already_liked_items=filter_already_liked_items))
        m = self.model
        n_items = m._fitted().n_items
        uids, iids = m.user_ids, m.item_ids
        self.user_index = None if uids is None else {u: n for n, u in enumerate(uids)}
        self.item_index = None if iids is None else {i: n for n, i in enumerate(iids)}
        self.item_ids = None if iids is None else pa.array(list(iids), type=pa.string())
        self.n_users = m._fitted().n_users
        self.n_items = n_items
        self.filter_items = None if filter_items is None else self._items(filter_items, "filter_items")
        self.items = None if items is None else self._items(items, "items")

    def _items(self, ids, what, drop_unknown=False):
        return item_rows(ids, self.item_index, self.n_items, what, drop_unknown)

    def _users(self, col):
        if self.user_index is None:
            a = np.asarray(col.to_numpy(zero_copy_only=False))
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"the model records no user ids, so {self.user_col!r} must hold row indices "
                    f"(integers), not {col.type}"
                )
            idx = a.astype(np.int64)
            known = (idx >= 0) & (idx < self.n_users)
        else:
            keys = _scalar_ids(col.to_pylist(), "user")
            idx = np.array([self.user_index.get(k, -1) for k in keys], dtype=np.int64)
            known = idx >= 0
        if not known.all():
            if self.unknown_users == "error":
                bad = col[int(np.flatnonzero(~known)[0])].as_py()
                raise KeyError(
                    f"the model knows no user {bad!r} (pass unknown_users='drop' to skip such "
                    "users, or give their histories in items_col to fold them in)"
                )
        return idx, known

    def __call__(self, table):
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        m = self.model
        if self.items_col is not None:
            histories = table.column(self.items_col).to_pylist()
            rows = [self._items(h or [], self.items_col, drop_unknown=True) for h in histories]
            indptr = np.zeros(len(rows) + 1, dtype=np.int64)
            indptr[1:] = np.cumsum([len(r) for r in rows])
            indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
            csr = scipy.sparse.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices.astype(np.int32), indptr),
                shape=(len(rows), self.n_items),
            )
            keep = np.arange(len(rows))
            ids, scores = m.recommend(
                keep, csr, N=self.k, filter_already_liked_items=self.filter_liked,
                filter_items=self.filter_items, items=self.items, recalculate_user=True,
            ) if len(rows) else (np.zeros((0, 0), np.int32), np.zeros((0, 0), np.float32))
        else:
            idx, known = self._users(table.column(self.user_col))
            keep = np.flatnonzero(known)
            users = idx[keep]
            if len(users):
                # The users' training items as the model records them filter in Rust (in
                # place in a mapped model file: no copy per worker).
                ids, scores = m._fitted().recommend(
                    np.ascontiguousarray(users, dtype=np.int64), self.k, None, None,
                    self.filter_items, self.items, False, len(users), self.filter_liked,
                )
            else:
                ids, scores = np.zeros((0, 0), np.int32), np.zeros((0, 0), np.float32)
        return self._rows(table.column(self.user_col) if self.user_col in table.column_names
                          else pa.array(np.arange(table.num_rows)), keep, ids, scores)

    def _rows(self, user_col, keep, ids, scores):
        n, width = ids.shape if ids.ndim == 2 else (0, 0)
        valid = scores > _FILTERED if n else np.zeros((0, 0), bool)
        which, pos = np.nonzero(valid)
        items = ids[which, pos] if n else np.zeros(0, np.int32)
        item = (self.item_ids.take(pa.array(items.astype(np.int64))) if self.item_ids is not None
                else pa.array(items.astype(np.int32)))
        return pa.table({
            "user": user_col.take(pa.array(keep[which].astype(np.int64))),
            "item": item,
            "score": pa.array(scores[which, pos].astype(np.float32) if n else np.zeros(0, np.float32)),
            "rank": pa.array((pos + 1).astype(np.int32)),
        })


def item_rows(ids, index, n_items, what, drop_unknown=False):
    """The model's item rows of ``ids``: ids the model file records (``index``: id → row),
    or row indices below ``n_items`` where it records none. An unknown id raises, naming
    ``what``, unless ``drop_unknown``."""
    ids = list(ids)
    if index is None:
        a = np.asarray(ids, dtype=np.int64)
        bad = a[(a < 0) | (a >= n_items)] if a.size else a
        if bad.size and not drop_unknown:
            raise IndexError(f"{what}: item {bad[0]} is out of range 0..{n_items}")
        return a[(a >= 0) & (a < n_items)]
    out = []
    for key in _scalar_ids(ids, "item"):
        n = index.get(key)
        if n is None:
            if drop_unknown:
                continue
            raise KeyError(f"{what}: the model knows no item {key!r}")
        out.append(n)
    return np.asarray(out, dtype=np.int64)


def check_args(model, kwargs):
    """What a worker would refuse, refused on the driver: ``kwargs`` as
    :class:`BatchRecommender` takes them."""
    if kwargs["unknown_users"] not in ("error", "drop"):
        raise ValueError(f"unknown_users = {kwargs['unknown_users']!r}: one of 'error', 'drop'")
    if int(kwargs["k"]) < 1:
        raise ValueError(f"k = {kwargs['k']!r} is out of range: at least 1")
    iids = model.item_ids
    index = None if iids is None else {i: n for n, i in enumerate(iids)}
    for what in ("filter_items", "items"):
        if kwargs.get(what) is not None:
            item_rows(kwargs[what], index, model._fitted().n_items, what)
    if (kwargs["filter_already_liked_items"] and kwargs["items_col"] is None
            and not model._fitted().has_seen):
        raise ValueError(
            "the model records no training interactions, so filter_already_liked_items cannot "
            "know what each user liked: pass filter_already_liked_items=False"
        )


#: Recommenders made in this process, by model file and arguments.
_recommenders = {}


def cached_recommender(path, kwargs):
    """A :class:`BatchRecommender` of the model file at ``path``, made once per process
    for each set of arguments."""
    key = (path, repr(sorted(kwargs.items())))
    rec = _recommenders.get(key)
    if rec is None:
        rec = _recommenders[key] = BatchRecommender(("path", path), **kwargs)
    return rec


def source_of(model, ship_bytes):
    """A model object or a path as a ``load_source`` source: a path stays a path (each
    worker opens the file); a model object becomes its file's bytes when ``ship_bytes``,
    else is an error."""
    from ._model import RecommenderBase

    if isinstance(model, RecommenderBase):
        if not ship_bytes:
            raise TypeError("give the model file's path")
        return ("bytes", model._bytes())
    if isinstance(model, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(model))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no model file at {path}")
        return ("path", path)
    raise TypeError(f"model must be a recs model or a model file's path, not {type(model).__name__}")
