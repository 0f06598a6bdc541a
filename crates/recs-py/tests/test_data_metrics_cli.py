"""Metrics against Microsoft Recommenders' reference values, the dataset registry, the
CLI's split, and model files shared with the `recs` command."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import recs
from recs import metrics


def test_metrics_match_the_reference_fixture(metrics_fixture):
    truth = pd.read_csv(metrics_fixture / "truth.csv")
    pred = pd.read_csv(metrics_fixture / "pred.csv")
    pairs = pd.read_csv(metrics_fixture / "rating_pairs.csv")
    expected = json.loads((metrics_fixture / "expected.json").read_text())
    for k in (1, 5, 10, 20):
        got = {
            f"precision@{k}": recs.precision_at_k(truth, pred, k=k),
            f"recall@{k}": recs.recall_at_k(truth, pred, k=k),
            f"map@{k}": recs.map_at_k(truth, pred, k=k),
            f"map_full@{k}": recs.map(truth, pred, k=k),
            f"ndcg@{k}": recs.ndcg_at_k(truth, pred, k=k),
            f"ndcg_raw@{k}": recs.ndcg_at_k(truth, pred, k=k, score_type="raw"),
            f"ndcg_exp@{k}": recs.ndcg_at_k(truth, pred, k=k, score_type="exp"),
            f"r_precision@{k}": recs.r_precision_at_k(truth, pred, k=k),
        }
        for key, v in got.items():
            assert abs(v - expected[key]) <= 1e-9, (key, v, expected[key])
    t = pairs[["userID", "itemID", "rating"]]
    p = pairs[["userID", "itemID", "prediction"]]
    assert abs(recs.rmse(t, p) - expected["rmse"]) <= 1e-9
    assert abs(recs.mae(t, p) - expected["mae"]) <= 1e-9


def test_metrics_take_other_column_names_and_arrays():
    truth = pd.DataFrame({"u": [1, 1, 2], "i": [10, 11, 10], "r": [5.0, 3.0, 4.0]})
    pred = pd.DataFrame({"u": [1, 1, 2, 2], "i": [11, 12, 10, 13], "s": [0.9, 0.5, 0.8, 0.1]})
    kw = dict(col_user="u", col_item="i", col_rating="r", col_prediction="s", k=2)
    assert recs.precision_at_k(truth, pred, **kw) == pytest.approx(0.5)
    arr = recs.precision_at_k(truth.to_numpy(), pred.to_numpy(), k=2)
    assert arr == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not in the frame"):
        recs.map_at_k(truth, pred, k=2)
    with pytest.raises(ValueError, match="at least 1"):
        recs.map_at_k(truth, pred, col_user="u", col_item="i", col_prediction="s", k=0)
    with pytest.raises(ValueError, match="relevancy_method"):
        recs.map_at_k(truth, pred, col_user="u", col_item="i", col_prediction="s",
                      relevancy_method="by_threshold")


def test_msrecommenders_agree_where_installed(metrics_fixture):
    pe = pytest.importorskip("recommenders.evaluation.python_evaluation")
    truth = pd.read_csv(metrics_fixture / "truth.csv")
    pred = pd.read_csv(metrics_fixture / "pred.csv")
    for name in ("map_at_k", "ndcg_at_k", "precision_at_k", "recall_at_k"):
        assert getattr(recs, name)(truth, pred, k=10) == pytest.approx(
            getattr(pe, name)(truth, pred, k=10), abs=1e-9)


def test_movielens_loads_as_a_frame(ml100k):
    assert list(ml100k.columns) == ["userID", "itemID", "rating", "timestamp"]
    assert len(ml100k) == 100_000
    assert ml100k.userID.nunique() == 943 and ml100k.itemID.nunique() == 1682
    assert ml100k.userID.dtype == np.int64
    assert "ml-100k" in recs.datasets.names()
    with pytest.raises(ValueError, match="nope"):
        recs.datasets.load_dataset("nope")


def test_split_is_the_clis_and_partitions(ml100k):
    train, test = recs.split(ml100k, 0.8, "random", seed=42)
    assert len(train) == 80_000 and len(test) == 20_000
    assert set(train.index).isdisjoint(test.index)
    again, _ = recs.split(ml100k, 0.8, "random", seed=42)
    assert train.index.equals(again.index)
    st, se = recs.split(ml100k, 0.75, "stratified", seed=1)
    assert set(st.userID) == set(ml100k.userID)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        recs.split(ml100k, 1.5)


def _cli_top(recs_bin, model, user, k=10):
    out = subprocess.run([recs_bin, "recommend", "--model", str(model), "--user", str(user),
                          "-k", str(k), "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_cli_model_loads_in_python_and_recommends_the_same(ml100k, recs_bin, tmp_path):
    path = tmp_path / "bpr.recs"
    subprocess.run([recs_bin, "train", "--model", "bpr", "--dataset", "ml-100k", "--epochs", "5",
                    "--threads", "1", "--out", str(path)], check=True, capture_output=True)
    model = recs.load(path)
    assert type(model) is recs.BPR and model.epochs == 5
    users = model.user_ids
    items = model.item_ids
    assert len(users) == 943 and len(items) == 1682
    ui = model.user_items
    assert ui.shape == (943, 1682) and ui.nnz == 80_000
    for ext in ("196", "1", "943"):
        u = int(np.flatnonzero(users == ext)[0])
        ids, scores = model.recommend(u, ui[u], N=10)
        cli = _cli_top(recs_bin, path, ext)
        ours = [{"item": items[i], "score": float(s)} for i, s in zip(ids, scores)]
        assert [r["item"] for r in cli] == [r["item"] for r in ours]
        np.testing.assert_allclose([r["score"] for r in cli], [r["score"] for r in ours],
                                   rtol=1e-6)


def test_a_python_model_serves_from_the_cli(ml100k, recs_bin, tmp_path):
    ui, uid, iid = recs.to_csr(ml100k)
    model = recs.BPR(factors=16, iterations=3, num_threads=1).fit(
        ui, show_progress=False, user_ids=uid, item_ids=iid)
    path = tmp_path / "py.recs"
    model.save(path)
    ext = str(uid[5])
    cli = _cli_top(recs_bin, path, ext, k=5)
    ids, _ = model.recommend(5, ui[5], N=5)
    assert [r["item"] for r in cli] == [str(iid[i]) for i in ids]


def test_the_quickstart_gives_the_clis_numbers(ml100k, recs_bin, tmp_path):
    """The example, end to end on ml-100k: the same split, model and metrics as
    `recs train` (single-threaded, so both are deterministic)."""
    import pathlib
    import sys

    from conftest import ROOT

    script = ROOT / "examples/python/quickstart.py"
    out = subprocess.run([sys.executable, str(script), "--models", "BPR", "--threads", "1",
                          "--json"], capture_output=True, text=True, check=True)
    py = json.loads(out.stdout)["BPR"]["metrics"]
    cli = subprocess.run([recs_bin, "train", "--model", "bpr", "--dataset", "ml-100k",
                          "--threads", "1", "--quiet", "--out", str(tmp_path / "m.recs")],
                         capture_output=True, text=True, check=True).stdout
    lines = dict(line.split()[:2] for line in cli.splitlines()
                 if line.split() and line.split()[0].endswith("@10"))
    for key in ("map@10", "ndcg@10", "precision@10", "recall@10"):
        assert abs(py[key] - float(lines[key])) < 6e-5, (key, py[key], lines[key])
    assert py["map@10"] > 0.2
    assert pathlib.Path(script).is_file()


def test_split_checks_its_seed_and_the_codes_it_is_given():
    import pandas as pd
    from recs import _native

    df = pd.DataFrame({"userID": [1, 1, 2, 2], "itemID": [1, 2, 1, 3], "rating": 1.0})
    for bad in (-1, 2**64, 1.5):
        with pytest.raises(ValueError, match="seed = .* is out of range"):
            recs.split(df, 0.5, seed=bad)
    # One code far beyond the rows used to size the id maps by it (out of memory).
    codes = np.array([0, 4_000_000_000], dtype=np.int64)
    with pytest.raises(ValueError, match="codes must be dense"):
        _native.split_rows(codes, np.array([0, 1], dtype=np.int64), "random:0.5", 1)
