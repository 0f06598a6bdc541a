"""Ranking and rating metrics over pandas frames (or anything ``pandas.DataFrame`` takes),
with Microsoft Recommenders' names, column arguments and definitions (1.2.1's
``python_evaluation``), computed by the same Rust code as ``recs metrics``.

Truth rows are ``(col_user, col_item, col_rating)``, predictions ``(col_user, col_item,
col_prediction)``; for each user the predictions are ranked by score, highest first, equal
scores in row order. Which users count follows Recommenders: precision, recall, MAP and
R-precision average over users present in both frames; nDCG over every user of the truth.
Only ``relevancy_method="top_k"`` is supported.
"""

from __future__ import annotations

import numpy as np

from . import _native


def _pd():
    """pandas, imported on first use: ``import recs`` stays quick where no frame is read
    (an engine's worker starting, a command-line tool)."""
    import pandas

    return pandas


DEFAULT_USER_COL = "userID"
DEFAULT_ITEM_COL = "itemID"
DEFAULT_RATING_COL = "rating"
DEFAULT_PREDICTION_COL = "prediction"
DEFAULT_K = 10


def _frame(x, cols):
    if isinstance(x, _pd().DataFrame):
        missing = [c for c in cols if c not in x.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not in the frame (it has {list(x.columns)})")
        return x[cols]
    if isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype.names is None:
        if x.shape[1] < len(cols):
            raise ValueError(f"a 2-D array needs {len(cols)} columns: {cols}")
        return _pd().DataFrame(x[:, : len(cols)], columns=cols)
    return _frame(_pd().DataFrame(x), cols)


def _keys(s):
    """Ids as strings that compare as the values do (1 and 1.0 are the same id)."""
    if _pd().api.types.is_float_dtype(s) and np.all(np.mod(s.to_numpy(), 1) == 0):
        s = s.astype(np.int64)
    return s.astype(str).tolist()


def _numbers(s, what):
    v = _pd().to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(v).any():
        row = int(np.flatnonzero(np.isnan(v))[0])
        raise ValueError(f"{what} in row {row} is not a number: {s.iloc[row]!r}")
    return v.tolist()


def _table(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction, k,
           relevancy_method, liang=False):
    if relevancy_method != "top_k":
        raise ValueError(f"relevancy_method {relevancy_method!r} is not supported; use 'top_k'")
    k = int(k)
    if k < 1:
        raise ValueError(f"k = {k} is out of range: at least 1")
    t = rating_true
    has_rating = isinstance(t, _pd().DataFrame) and col_rating in t.columns
    t = _frame(t, [col_user, col_item] + ([col_rating] if has_rating else []))
    p = _frame(rating_pred, [col_user, col_item, col_prediction])
    ratings = _numbers(t[col_rating], col_rating) if has_rating else [1.0] * len(t)
    return _native.ranking_metrics(
        _keys(t[col_user]), _keys(t[col_item]), ratings,
        _keys(p[col_user]), _keys(p[col_item]), _numbers(p[col_prediction], col_prediction),
        [] if liang else [k], [k] if liang else [],
    )


def _ranking(name):
    def metric(rating_true, rating_pred, col_user=DEFAULT_USER_COL, col_item=DEFAULT_ITEM_COL,
               col_rating=DEFAULT_RATING_COL, col_prediction=DEFAULT_PREDICTION_COL,
               relevancy_method="top_k", k=DEFAULT_K, threshold=10, score_type="binary", **_):
        key = name
        if name == "ndcg":
            key = {"binary": "ndcg", "raw": "ndcg_raw", "exp": "ndcg_exp"}.get(score_type)
            if key is None:
                raise ValueError(f"score_type {score_type!r}: one of 'binary', 'raw', 'exp'")
        m = _table(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction, k,
                   relevancy_method)
        return m[f"{key}@{int(k)}"]
    return metric


precision_at_k = _ranking("precision")
precision_at_k.__name__ = "precision_at_k"
precision_at_k.__doc__ = "Precision@k: hits in each user's top k over k, averaged over users."
recall_at_k = _ranking("recall")
recall_at_k.__name__ = "recall_at_k"
recall_at_k.__doc__ = "Recall@k: hits in the top k over the user's relevant items."
map_at_k = _ranking("map")
map_at_k.__name__ = "map_at_k"
map_at_k.__doc__ = ("MAP@k as Recommenders 1.2.1's map_at_k: the sum of precision at each hit "
                    "within k, over min(k, relevant items).")
map = _ranking("map_full")  # noqa: A001 - Recommenders' name
map.__name__ = "map"
map.__doc__ = ("Recommenders 1.2.1's map: the sum of precision at each hit within k, over "
               "all the user's relevant items.")
ndcg_at_k = _ranking("ndcg")
ndcg_at_k.__name__ = "ndcg_at_k"
ndcg_at_k.__doc__ = ("nDCG@k over every user of the truth; score_type 'binary' (default), "
                     "'raw' or 'exp' gains from col_rating.")
r_precision_at_k = _ranking("r_precision")
r_precision_at_k.__name__ = "r_precision_at_k"
r_precision_at_k.__doc__ = "R-precision: hits within the first min(k, relevant) ranks."


def all_at_k(rating_true, rating_pred, col_user=DEFAULT_USER_COL, col_item=DEFAULT_ITEM_COL,
             col_rating=DEFAULT_RATING_COL, col_prediction=DEFAULT_PREDICTION_COL,
             k=DEFAULT_K):
    """Every ranking metric at k in one pass: ``{"map@10": …, "ndcg@10": …, …}``."""
    return _table(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction, k,
                  "top_k")


def _pairs(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction):
    t = _frame(rating_true, [col_user, col_item, col_rating])
    p = _frame(rating_pred, [col_user, col_item, col_prediction])
    t = t.assign(_u=_keys(t[col_user]), _i=_keys(t[col_item]))
    p = p.assign(_u=_keys(p[col_user]), _i=_keys(p[col_item]))
    m = t[["_u", "_i", col_rating]].merge(p[["_u", "_i", col_prediction]], on=["_u", "_i"])
    if col_rating == col_prediction:
        raise ValueError("col_rating and col_prediction must differ")
    return _native.rating_errors(_numbers(m[col_rating], col_rating),
                                 _numbers(m[col_prediction], col_prediction))


def rmse(rating_true, rating_pred, col_user=DEFAULT_USER_COL, col_item=DEFAULT_ITEM_COL,
         col_rating=DEFAULT_RATING_COL, col_prediction=DEFAULT_PREDICTION_COL):
    """Root mean squared error over the (user, item) pairs present in both frames."""
    return _pairs(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction)[0]


def mae(rating_true, rating_pred, col_user=DEFAULT_USER_COL, col_item=DEFAULT_ITEM_COL,
        col_rating=DEFAULT_RATING_COL, col_prediction=DEFAULT_PREDICTION_COL):
    """Mean absolute error over the (user, item) pairs present in both frames."""
    return _pairs(rating_true, rating_pred, col_user, col_item, col_rating, col_prediction)[1]
