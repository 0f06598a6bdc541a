"""The dataset registry of ``recs`` (the same names, data directory ``$RECS_DATA_DIR``
and mirror ``$RECS_DATA_MIRROR`` as the command line) as pandas frames, and the CLI's
seeded splits."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse

from . import _native


def _pd():
    """pandas, imported on first use: ``import recs`` stays quick where no frame is read
    (an engine's worker starting, a command-line tool)."""
    import pandas

    return pandas


HEADER = ("userID", "itemID", "rating", "timestamp")


def names():
    """The registered datasets' names."""
    return list(_native.datasets())


def _ids(values):
    s = _pd().Series(values, dtype=object)
    if len(s) and s.str.fullmatch(r"-?\d{1,18}").all():
        return s.astype(np.int64)
    return s


def load_dataset(name, header=HEADER):
    """Dataset ``name`` (``recs.datasets.names()``) as a DataFrame with columns ``header``
    (user, item, rating, timestamp), rows in file order; ids are ints where every id is
    an integer. Installed from ``$RECS_DATA_MIRROR`` when set; otherwise it must be in
    ``$RECS_DATA_DIR`` (``recs download NAME`` / ``cargo xtask download NAME``)."""
    users, items, values, timestamps = _native.load_dataset(name)
    cols = {header[0]: _ids(users), header[1]: _ids(items), header[2]: values}
    if timestamps is not None and len(header) > 3:
        cols[header[3]] = timestamps
    return _pd().DataFrame(cols)


def load_movielens(size="ml-100k", header=HEADER):
    """MovieLens as Recommenders' ``movielens.load_pandas_df`` gives it: ``size`` is a
    registry name (``"ml-100k"``) or Recommenders' (``"100k"``)."""
    name = size if str(size).startswith("ml-") else f"ml-{size}"
    return load_dataset(name, header)


def split(data, ratio=0.8, method="random", seed=42, col_user=HEADER[0], col_item=HEADER[1]):
    """The CLI's seeded split (``recs train --split random:0.8 --seed 42`` gives the same
    rows): ``method`` is ``"random"`` (over interactions), ``"stratified"`` (per user),
    ``"leave-one-out"`` (or any spec ``--split`` takes, such as ``"loo"``); returns
    ``(train, test)`` frames with the original index."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed = {seed!r} is out of range: allowed a whole number in 0..=2**64-1")
    u = _pd().factorize(data[col_user])[0]
    i = _pd().factorize(data[col_item])[0]
    if method in ("random", "stratified"):
        spec = f"{method}:{float(ratio)!r}"
    elif method == "leave-one-out":
        spec = "loo"
    else:
        spec = str(method)
    tr, te = _native.split_rows(
        np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(i, dtype=np.int64),
        spec, int(seed))
    return data.iloc[tr], data.iloc[te]


def to_csr(data, col_user=HEADER[0], col_item=HEADER[1], col_rating=HEADER[2], user_ids=None,
           item_ids=None):
    """A users × items CSR matrix of ``data`` and the ids of its rows and columns.

    Without ``user_ids`` / ``item_ids`` they are the frame's ids in order of first
    appearance (the CLI's order); with them (say, the full data's or the training part's),
    rows of ids outside them are dropped with a warning. Duplicate pairs keep the last
    value, as the CLI does. ``col_rating=None`` gives ones."""
    def index(col, ids):
        if ids is None:
            codes, uniq = _pd().factorize(data[col])
            return codes, np.asarray(uniq)
        ids = np.asarray(ids)
        codes = _pd().Index(ids).get_indexer(data[col])
        return codes, ids

    u, uid = index(col_user, user_ids)
    i, iid = index(col_item, item_ids)
    v = (np.ones(len(data), dtype=np.float32) if col_rating is None
         else data[col_rating].to_numpy(dtype=np.float32))
    keep = (u >= 0) & (i >= 0)
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} rows have ids outside the given ids; dropped",
                      stacklevel=2)
        u, i, v = u[keep], i[keep], v[keep]
    # the last of duplicate (user, item) pairs wins
    key = u.astype(np.int64) * max(len(iid), 1) + i
    _, last = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - last
    m = scipy.sparse.csr_matrix((v[last], (u[last], i[last])), shape=(len(uid), len(iid)),
                                dtype=np.float32)
    m.sort_indices()
    return m, uid, iid
