"""recs on Spark, in local[2] mode: batch top-k equal to the one-process ``recommend``
(ids and scores), fold-in equal to ``recalculate_user``, and evaluation per partition equal
to ``recs metrics`` on the reference fixture and on a real run."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import recs

from conftest import _missing


@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        _missing("pyspark (pip install 'recs[spark]')")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        s = (SparkSession.builder.master("local[2]").appName("recs-tests")
             .config("spark.driver.memory", "1g")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    except Exception as e:  # no Java runtime
        _missing(f"a Spark session ({e})")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def fitted(ml100k):
    train, test = recs.split(ml100k, 0.75, seed=3)
    m, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.BPR(factors=16, iterations=10, random_state=1).fit(
        m, show_progress=False, user_ids=uid, item_ids=iid)
    return model, m, uid, iid, train, test


def one_process(model, m, uid, iid, users, k, **kw):
    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, m[idx], N=k, **kw)
    return pd.DataFrame({"user": np.repeat(users, ids.shape[1]),
                         "item": np.asarray(iid)[ids.ravel()].astype(str),
                         "score": scores.ravel(),
                         "rank": np.tile(np.arange(1, ids.shape[1] + 1), len(users))})


def test_spark_batch_equals_one_process(spark, fitted, tmp_path):
    import recs.spark

    model, m, uid, iid, train, test = fitted
    users = test.userID.unique()
    df = spark.createDataFrame(pd.DataFrame({"user": users})).repartition(3)
    filt = [str(iid[0]), str(iid[5])]
    for k, kw in ((10, {}), (25, {"filter_items": filt})):
        out = recs.spark.recommend(df, model, k=k, **kw).toPandas()
        assert list(out.columns) == ["user", "item", "score", "rank"]
        got = out.sort_values(["user", "rank"]).reset_index(drop=True)
        fi = None if not kw else pd.Index(iid).get_indexer([int(x) for x in filt])
        want = one_process(model, m, uid, iid, users, k, **({"filter_items": fi} if kw else {}))
        want = want.sort_values(["user", "rank"]).reset_index(drop=True)
        assert (got.user.to_numpy() == want.user.to_numpy()).all()
        assert (got.item.to_numpy().astype(str) == want.item.to_numpy()).all()
        assert np.array_equal(got.score.to_numpy(), want.score.to_numpy())
        assert not set(filt) & set(got.item)
    # a path works as well as a model object, and an unknown user is an error naming it
    path = tmp_path / "bpr.recs"
    model.save(path)
    bad = spark.createDataFrame(pd.DataFrame({"user": [users[0], 99999999]}))
    with pytest.raises(Exception, match="no user 99999999"):
        recs.spark.recommend(bad, path, k=5).collect()
    dropped = recs.spark.recommend(bad, path, k=5, unknown_users="drop").toPandas()
    assert set(dropped.user) == {users[0]} and len(dropped) == 5


def test_spark_fold_in_equals_recalculate_user(spark, ml100k):
    import recs.spark

    ml = ml100k[ml100k.rating >= 4]
    train_users = ml.userID.unique()[:800]
    train = ml[ml.userID.isin(train_users)]
    new = ml[~ml.userID.isin(train_users)]
    m, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.ALS(factors=16, iterations=5, random_state=2).fit(
        m, show_progress=False, user_ids=uid, item_ids=iid)
    hist = new.groupby("userID").itemID.apply(lambda s: [str(x) for x in s]).reset_index()
    df = spark.createDataFrame(hist.rename(columns={"userID": "user", "itemID": "items"}))
    out = recs.spark.recommend(df, model, k=10, items_col="items").toPandas()
    nm, _, _ = recs.to_csr(new, col_rating=None, user_ids=hist.userID.to_numpy(), item_ids=iid)
    ids, scores = model.recommend(np.arange(len(hist)), nm, N=10, recalculate_user=True)
    got = out.sort_values(["user", "rank"])
    assert len(got) == ids.size
    assert (got.item.to_numpy() == np.asarray(iid)[ids.ravel()].astype(str)).all()
    np.testing.assert_allclose(got.score.to_numpy(), scores.ravel(), rtol=0, atol=0)


def test_spark_evaluate_equals_recs_metrics(spark, metrics_fixture, fitted, recs_bin, tmp_path):
    import recs.spark

    # The reference fixture: Microsoft Recommenders' values (and recs metrics') to 1e-9.
    truth = pd.read_csv(metrics_fixture / "truth.csv")
    pred = pd.read_csv(metrics_fixture / "pred.csv")
    expected = json.loads((metrics_fixture / "expected.json").read_text())
    for k in (1, 5, 10):
        got = recs.spark.evaluate(
            spark.createDataFrame(pred).repartition(3), spark.createDataFrame(truth), k=k,
            user_col="userID", item_col="itemID", rating_col="rating",
            prediction_col="prediction", num_partitions=5)
        local = recs.metrics.all_at_k(truth, pred, k=k)
        for name, v in got.items():
            assert abs(v - local[name]) < 1e-9, (k, name, v, local[name])
            ref = expected.get(name) if isinstance(expected, dict) else None
            if isinstance(ref, (int, float)):
                assert abs(v - ref) < 1e-9, (k, name, v, ref)
    # A real run: the batch recommendations of the fitted model, against its test part,
    # equal to `recs metrics` on the same rows written as CSV.
    model, m, uid, iid, train, test = fitted
    users = spark.createDataFrame(pd.DataFrame({"user": test.userID.unique()}))
    reco = recs.spark.recommend(users, model, k=10)
    truth_df = spark.createDataFrame(
        test[["userID", "itemID", "rating"]].rename(columns={"userID": "user", "itemID": "item"}))
    got = recs.spark.evaluate(reco, truth_df, k=10, rating_col="rating")
    rp = reco.toPandas().sort_values(["user", "rank"])
    rp.rename(columns={"user": "userID", "item": "itemID", "score": "prediction"})[
        ["userID", "itemID", "prediction"]].to_csv(tmp_path / "pred.csv", index=False)
    test[["userID", "itemID", "rating"]].to_csv(tmp_path / "truth.csv", index=False)
    out = subprocess.run([recs_bin, "metrics", "--truth", str(tmp_path / "truth.csv"),
                          "--pred", str(tmp_path / "pred.csv"), "-k", "10", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    cli = cli.get("metrics", cli)
    compared = 0
    for name, v in got.items():
        if name in cli:
            assert abs(v - cli[name]) < 1e-9, (name, v, cli[name])
            compared += 1
    assert compared >= 4, (got, cli)
