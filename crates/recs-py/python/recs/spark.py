"""recs on Spark (``pip install 'recs[spark]'``): top-k for every row of a DataFrame, and
recs' ranking metrics over DataFrames, computed per partition by recs' own code.

- :func:`recommend` ships the model file to every executor with ``SparkContext.addFile``
  and runs ``mapInArrow``: each Python worker loads the model once (workers are reused
  across tasks) and turns Arrow batches of users (or item histories, folded in) into
  ``user, item, score, rank`` rows.
- :func:`evaluate` brings each user's truth and recommendations into one partition,
  computes each metric's per-user total and count there (``recs metrics``' code), and adds
  them up: the values equal ``recs metrics`` on the same rows.

Workers need pyarrow and recs: set ``PYSPARK_PYTHON`` to the Python that has them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from . import _batch
from ._model import RecommenderBase

__all__ = ["evaluate", "recommend"]

#: Metrics computed by :func:`evaluate` unless ``metrics`` names others.
DEFAULT_METRICS = ("precision", "recall", "map", "map_full", "ndcg", "r_precision")


def _spark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import types as T
    except ImportError as e:  # pragma: no cover - the extra is optional
        raise ImportError("recs.spark needs PySpark: pip install 'recs[spark]'") from e
    return T


def _ship(spark, model):
    """The model as a file every executor gets (``addFile``): its name there, and the
    model loaded here (for the output schema and argument checks)."""
    from . import load

    if isinstance(model, RecommenderBase):
        data = model._bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"recs-model-{digest}.recs")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        local = model
    else:
        path = _batch.source_of(model, ship_bytes=False)[1]
        local = load(path)
    name = os.path.basename(path)
    # Spark refuses a second file of the same name with other content: name it by content,
    # hashed while it is copied (one read of the file).
    if not name.startswith("recs-model-"):
        h = hashlib.sha256()
        with open(path, "rb") as src, tempfile.NamedTemporaryFile(
                dir=tempfile.gettempdir(), prefix="recs-model-", suffix=".tmp", delete=False) as dst:
            tmp = dst.name
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                dst.write(chunk)
        shipped = os.path.join(tempfile.gettempdir(), f"recs-model-{h.hexdigest()[:16]}-{name}")
        os.replace(tmp, shipped)
        path, name = shipped, os.path.basename(shipped)
    spark.sparkContext.addFile(path)
    return name, local


def recommend(df, model, k=10, *, user_col="user", items_col=None,
              filter_already_liked_items=True, filter_items=None, items=None,
              unknown_users="error", threads=None):
    """Top ``k`` for every row of ``df`` as a DataFrame of ``user, item, score, rank``.

    ``df[user_col]`` holds user ids as the model file records them (or row indices for a
    model fitted on a bare matrix); with ``items_col`` each row holds an array of item ids
    instead, and the user is folded in (models with fold-in). ``model`` is a fitted recs
    model or a model file's path. The filters are implicit's (filtered items never
    appear); ``unknown_users`` is ``"error"`` or ``"drop"``. Each task runs recs with
    ``threads`` threads (default ``spark.task.cpus``)."""
    T = _spark()
    spark = df.sparkSession
    name, local = _ship(spark, model)
    if threads is None:
        threads = int(spark.conf.get("spark.task.cpus", "1"))
    kwargs = dict(
        k=int(k), user_col=user_col, items_col=items_col,
        filter_already_liked_items=bool(filter_already_liked_items),
        filter_items=None if filter_items is None else [x for x in filter_items],
        items=None if items is None else [x for x in items],
        unknown_users=unknown_users, threads=int(threads),
    )
    if kwargs["k"] < 1:
        raise ValueError(f"k = {k!r} is out of range: at least 1")
    # Checked here, once: a bad argument is an error now, not in every task.
    _batch.check_args(local, kwargs)
    cols = [c for c in (user_col, items_col) if c is not None and c in df.columns]
    if user_col not in df.columns and items_col is None:
        raise ValueError(f"no column {user_col!r} in the DataFrame (it has {df.columns})")
    user_type = df.schema[user_col].dataType if user_col in df.columns else T.LongType()
    item_type = T.StringType() if local.item_ids is not None else T.IntegerType()
    schema = T.StructType([
        T.StructField("user", user_type),
        T.StructField("item", item_type),
        T.StructField("score", T.FloatType()),
        T.StructField("rank", T.IntegerType()),
    ])

    def run(batches):
        import pyarrow as pa
        from pyspark import SparkFiles

        from recs import _batch as b

        rec = b.cached_recommender(SparkFiles.get(name), kwargs)
        for batch in batches:
            out = rec(pa.Table.from_batches([batch]))
            if user_col not in batch.schema.names:
                out = out.set_column(0, "user", out.column("user").cast(pa.int64()))
            yield from out.to_batches()

    return df.select(*cols).mapInArrow(run, schema)


def evaluate(reco_df, truth_df, k=10, *, user_col="user", item_col="item", rating_col=None,
             prediction_col="score", rank_col="rank", metrics=DEFAULT_METRICS,
             num_partitions=None):
    """recs' ranking metrics at ``k`` of recommendations against the truth, both Spark
    DataFrames: ``{"map@10": …, "ndcg@10": …}`` with Microsoft Recommenders' definitions,
    equal to ``recs metrics`` (and ``recs.metrics``) on the same rows.

    ``reco_df`` has ``user_col``, ``item_col`` and ``prediction_col`` (``recommend``'s
    ``user, item, score``); ties in score keep ``rank_col``'s order when the frame has it
    (else the frame's row order). ``truth_df`` has ``user_col``, ``item_col`` and, if
    ``rating_col`` is given, the relevance (else 1). Ids compare as strings. Each user's rows are brought into one of
    ``num_partitions`` partitions (default: Spark's shuffle partitions); each partition's
    per-user totals and counts are added up on the driver."""
    _spark()
    from pyspark.sql import functions as F

    k = int(k)
    if k < 1:
        raise ValueError(f"k = {k} is out of range: at least 1")
    for what, df, cols in (("reco_df", reco_df, (user_col, item_col, prediction_col)),
                           ("truth_df", truth_df, (user_col, item_col) + ((rating_col,) if rating_col else ()))):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{what} lacks column(s) {missing} (it has {df.columns})")
    has_rank = rank_col is not None and rank_col in reco_df.columns
    truth = truth_df.select(
        F.col(user_col).cast("string").alias("u"),
        F.col(item_col).cast("string").alias("i"),
        (F.col(rating_col).cast("double") if rating_col else F.lit(1.0)).alias("v"),
        F.lit(0).cast("long").alias("o"),
        F.lit(0).alias("side"),
    )
    pred = reco_df.select(
        F.col(user_col).cast("string").alias("u"),
        F.col(item_col).cast("string").alias("i"),
        F.col(prediction_col).cast("double").alias("v"),
        # Without a rank column, ties keep the frame's row order, as `recs metrics` does.
        (F.col(rank_col).cast("long") if has_rank else F.monotonically_increasing_id()).alias("o"),
        F.lit(1).alias("side"),
    )
    both = truth.unionByName(pred)
    both = both.repartition(num_partitions, "u") if num_partitions else both.repartition("u")
    names = set(metrics)

    def part(batches):
        import numpy as np
        import pyarrow as pa

        from recs import _native as native

        batches = list(batches)
        if not batches:
            return
        t = pa.Table.from_batches(batches)
        side = t.column("side").to_numpy()
        tr, pr = t.filter(pa.array(side == 0)), t.filter(pa.array(side == 1))
        if tr.num_rows == 0:
            return  # users without truth count in no metric
        # Predictions by score, ties in rank order (the frame's): within each user too.
        order = np.lexsort((pr.column("o").to_numpy(), -pr.column("v").to_numpy()))
        pr = pr.take(pa.array(order))
        sums = native.ranking_metrics(
            tr.column("u").to_pylist(), tr.column("i").to_pylist(), tr.column("v").to_pylist(),
            pr.column("u").to_pylist(), pr.column("i").to_pylist(), pr.column("v").to_pylist(),
            [k], sums=True,
        )
        rows = [(n, s, c) for n, (s, c) in sums.items() if n.split("@")[0] in names]
        yield pa.RecordBatch.from_arrays(
            [pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows], pa.float64()),
             pa.array([r[2] for r in rows], pa.float64())],
            names=["name", "total", "count"],
        )

    out = (both.mapInArrow(part, "name string, total double, count double")
           .groupBy("name").agg(F.sum("total").alias("total"), F.sum("count").alias("count"))
           .collect())
    result = {r["name"]: (r["total"] / r["count"] if r["count"] > 0 else 0.0) for r in out}
    if not result:
        raise ValueError("truth_df has no rows")
    return dict(sorted(result.items()))
