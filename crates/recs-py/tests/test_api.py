"""implicit's calling conventions, checked on recs' models (our own tests of the behaviours
implicit's RecommenderBaseTestMixin checks)."""

import io
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import recs


def parity(n, withhold_diagonal=True):
    """Users like the items of their own parity (even with even, odd with odd); the
    diagonal is held out, so each user's best unseen item is their own id."""
    m = np.zeros((n, n), dtype=np.float32)
    for u in range(n):
        m[u, u % 2 :: 2] = 1.0
    if withhold_diagonal:
        np.fill_diagonal(m, 0.0)
    return sp.csr_matrix(m)


def bpr(**kw):
    args = dict(factors=8, iterations=200, learning_rate=0.05, regularization=0.0,
                random_state=23, num_threads=1)
    args.update(kw)
    return recs.BPR(**args)


@pytest.fixture(scope="module")
def fitted():
    ui = parity(50)
    return bpr().fit(ui, show_progress=False), ui


def test_every_registered_model_is_a_class():
    names = [c.__name__ for c in recs.models().values()]
    assert "BPR" in names and "BiVAE" in names and "MultVAE" in names
    for kind, cls in recs.models().items():
        assert cls._kind == kind
        assert issubclass(cls, recs.RecommenderBase)
        assert getattr(recs, cls.__name__) is cls
        assert kind in (cls.__doc__ or "")


def test_keywords_are_validated_with_names_and_ranges():
    with pytest.raises(ValueError, match="does not take `nope`"):
        recs.BPR(nope=3)
    with pytest.raises(ValueError, match="learning_rate"):
        recs.BPR(learning_rate=-0.1)
    with pytest.raises(ValueError, match="factors"):
        recs.BPR(factors=0)
    m = recs.BPR(iterations=5, regularization=0.5, random_state=np.int64(7))
    assert m.epochs == 5 and m.iterations == 5 and m.regularization == 0.5 and m.seed == 7
    assert m.get_params()["reg"] == 0.5
    # a model without a seed ignores random_state, as the CLI ignores --seed
    recs.Bias(random_state=3)


def test_recommend_single_and_batch_agree(fitted):
    model, ui = fitted
    for u in range(50):
        ids, scores = model.recommend(u, ui[u], N=1)
        assert ids.shape == (1,) and ids[0] == u
    users = np.arange(50)
    ids, scores = model.recommend(users, ui[users], N=5)
    assert ids.shape == (50, 5) and scores.dtype == np.float32
    for u in users:
        i1, s1 = model.recommend(u, ui[u], N=5)
        np.testing.assert_array_equal(i1, ids[u])
        np.testing.assert_allclose(s1, scores[u])
        assert np.all(np.diff(s1) <= 0)
    ids, _ = model.recommend(users, ui[users], N=5, filter_already_liked_items=False)
    for u in users:
        i1, _ = model.recommend(u, ui[u], N=5, filter_already_liked_items=False)
        np.testing.assert_array_equal(i1, ids[u])


def test_filters_and_item_subsets(fitted):
    model, ui = fitted
    ids, _ = model.recommend(0, ui[0], N=1, filter_items=[0])
    assert 0 not in ids
    ids, _ = model.recommend(np.array([2, 3, 4]), ui[[2, 3, 4]], N=1, filter_items=[0])
    assert 0 not in ids.ravel()
    # more than the catalogue: every item, liked ones last
    ids, scores = model.recommend(0, ui[0], N=10_000)
    assert len(ids) == 50 and sorted(ids) == list(range(50))
    liked = set(ui[0].indices)
    assert set(ids[-len(liked):]) == liked
    # rank only some items; liked ones (2, 4, 6 for user 0) rank last
    sel = np.array([1, 2, 3, 4, 5, 6])
    ids, _ = model.recommend(0, ui[0], items=sel, N=20)
    assert len(ids) == 6 and set(ids) == set(sel) and set(ids[3:]) == {2, 4, 6}
    ids, _ = model.recommend(np.arange(50), ui, items=np.arange(10) * 3)
    assert all(set(r) == set(np.arange(10) * 3) for r in ids)
    for bad in ([1, 2, -1], [1, 2, 50]):
        with pytest.raises(IndexError):
            model.recommend(0, ui[0], items=bad)
    with pytest.raises(ValueError):
        model.recommend(0, ui[0], items=[1], filter_items=[2])


def test_user_items_must_be_csr_with_one_row_per_user(fitted):
    model, ui = fitted
    with pytest.raises(ValueError):
        model.recommend(0, ui.tocsc())
    with pytest.raises(ValueError):
        model.recommend(0, ui.tocoo())
    with pytest.raises(ValueError):
        model.recommend(np.arange(3), ui[:2])
    with pytest.raises(IndexError):
        model.recommend(50, ui[0])
    with pytest.raises(NotImplementedError):
        model.recommend(0, ui[0], recalculate_user=True)


def test_indices_and_counts_are_checked_not_coerced(fitted):
    model, ui = fitted
    # A string or a float is not an index (they were read as users 2 and 1).
    for bad in ("2", 1.9, True, None):
        with pytest.raises(TypeError, match="userid must be an integer"):
            model.recommend(bad, ui[0])
    with pytest.raises(TypeError, match="itemid must be an integer"):
        model.similar_items("3")
    assert model.recommend(np.int64(2), ui[2])[0].shape == (10,)
    for bad in (-1, 0, 2**64, 2.5, "10"):
        with pytest.raises(ValueError, match="N = .* is out of range"):
            model.recommend(0, ui[0], N=bad)
        with pytest.raises(ValueError, match="N = .* is out of range"):
            model.similar_items(0, N=bad)


def test_similar_items_and_users(fitted):
    model, ui = fitted
    for q in range(50):
        ids, scores = model.similar_items(q, N=10)
        assert ids[0] == q and abs(scores[0] - 1.0) < 1e-5
        assert all(r % 2 == q % 2 for r in ids)
        uids, _ = model.similar_users(q, N=10)
        assert all(r % 2 == q % 2 for r in uids)
    ids, scores = model.similar_items(np.arange(20), N=10)
    assert ids.shape == (20, 10)
    np.testing.assert_array_equal(ids[:, 0], np.arange(20))
    ids, _ = model.similar_items(np.arange(20), N=10, filter_items=np.arange(11) * 5)
    assert not any(r % 5 == 0 for r in ids.ravel())
    ids, _ = model.similar_users(np.arange(20), N=10, users=np.arange(10))
    assert all(set(r) == set(range(10)) for r in ids)
    with pytest.raises(NotImplementedError):
        model.similar_items(0, recalculate_item=True)


def test_factors_are_numpy(fitted):
    model, _ = fitted
    assert model.item_factors.shape == (50, 8) and model.user_factors.shape == (50, 8)
    assert model.item_factors.dtype == np.float32
    assert recs.BPR().item_factors is None


def test_input_conversions_and_dtypes():
    ui = parity(20)
    with pytest.warns(recs.ParameterWarning):
        bpr(iterations=3).fit(ui.tocoo(), show_progress=False)
    with pytest.warns(recs.ParameterWarning):
        bpr(iterations=3).fit(ui.tolil(), show_progress=False)
    for dt in (np.float32, np.float64):
        bpr(iterations=3).fit(ui.astype(dt), show_progress=False)
    big = sp.csr_matrix((ui.data, ui.indices.astype(np.int64), ui.indptr.astype(np.int64)),
                        shape=ui.shape)
    a = bpr(iterations=3).fit(big, show_progress=False).score(0)
    b = bpr(iterations=3).fit(ui, show_progress=False).score(0)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        bpr().fit(np.ones((3, 3)), show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # duplicates in a non-canonical matrix are summed, not refused
        dup = sp.csr_matrix((np.ones(3), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 2))
        bpr(iterations=2).fit(dup, show_progress=False)


def test_zero_rows_and_columns():
    m = parity(50).toarray()
    m[[42, 49]] = 0
    m[:, [42, 49]] = 0
    model = bpr().fit(sp.csr_matrix(m), show_progress=False)
    for q in range(40):
        ids, _ = model.similar_items(q, 10)
        assert 42 not in ids


def test_callback_progress_and_stop():
    calls = []
    bpr(iterations=7).fit(parity(10), show_progress=False,
                          callback=lambda e, t, loss: calls.append((e, t, loss)))
    assert [c[0] for c in calls] == list(range(1, 8))
    calls.clear()

    def stop(e, t, loss):
        calls.append(e)
        return False

    bpr(iterations=7).fit(parity(10), show_progress=False, callback=stop)
    assert calls == [1]

    def boom(*_):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        bpr(iterations=7).fit(parity(10), show_progress=False, callback=boom)
    bpr(iterations=3).fit(parity(10), show_progress=True)


def test_ctrl_c_stops_fit_not_the_interpreter(tmp_path):
    script = tmp_path / "interrupt.py"
    script.write_text(
        "import os, signal, threading, time, recs, scipy.sparse as sp, numpy as np\n"
        # Python's own Ctrl-C handler, also when this test runs under a parent that ignores
        # SIGINT (a background job of a shell without job control): ignored stays ignored.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "m = sp.random(2000, 1000, density=0.05, format='csr', random_state=1)\n"
        "t = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)); t.start()\n"
        "start = time.time()\n"
        "try:\n"
        "    recs.BPR(iterations=100000, factors=64).fit(m, show_progress=False)\n"
        "    print('finished')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted after', round(time.time() - start, 1))\n"
        "print('alive')\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "interrupted after" in out.stdout and "alive" in out.stdout, out.stdout + out.stderr


def test_pickle_fitted_and_unfitted(fitted):
    model, ui = fitted
    back = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.recommend(0, ui[0])[0], back.recommend(0, ui[0])[0])
    np.testing.assert_array_equal(model.similar_items(0)[0], back.similar_items(0)[0])
    un = pickle.loads(pickle.dumps(recs.BPR(factors=5)))
    assert un.factors == 5 and un.item_factors is None


def test_a_pickle_is_checked_like_a_file(fitted):
    """A pickle of a BPR whose file holds an ALS model is refused, and the model file's
    params win over the pickled ones."""
    model, ui = fitted
    als = recs.ALS(factors=4, iterations=2, random_state=1).fit(ui, show_progress=False)
    state = als.__getstate__()
    forged = recs.BPR.__new__(recs.BPR)
    with pytest.raises(ValueError, match="`als` model"):
        forged.__setstate__(state)
    state = model.__getstate__()
    state["params"] = dict(state["params"], factors=999)
    back = recs.BPR.__new__(recs.BPR)
    back.__setstate__(state)
    assert back.factors == model.factors == 8
    bad = recs.BPR.__new__(recs.BPR)
    with pytest.raises(ValueError, match="factors"):
        bad.__setstate__({"params": {"factors": -3}, "file": None})


def test_corrupted_csr_arrays_are_refused_before_scipy_reads_them():
    ui = parity(20)
    for name, broken in [
        ("indptr", lambda m: setattr(m, "indptr", m.indptr[::-1].copy())),
        ("indptr", lambda m: m.indptr.__setitem__(5, 10**9)),
        ("indices", lambda m: m.indices.__setitem__(0, 10**6)),
    ]:
        m = ui.copy()
        broken(m)
        with pytest.raises(ValueError, match=name):
            bpr().fit(m, show_progress=False)


def test_save_load_paths_and_file_objects(fitted, tmp_path):
    model, ui = fitted
    p = tmp_path / "model.npz"
    model.save(p)
    back = model.load(p)
    assert type(back) is recs.BPR
    np.testing.assert_array_equal(model.similar_items(1)[0], back.similar_items(1)[0])
    np.testing.assert_array_equal(model.similar_items(1)[1], back.similar_items(1)[1])
    f = io.BytesIO()
    model.save(f)
    f.seek(0)
    back = recs.load(f)
    np.testing.assert_array_equal(model.score(3), back.score(3))
    # the training interactions come back, so recommend(u, user_items[u]) works after load
    np.testing.assert_array_equal(back.user_items.toarray(), (ui.toarray() > 0))
    # an unfitted model round-trips its parameters
    un = recs.BPR(factors=9)
    un.save(tmp_path / "unfitted.recs")
    again = recs.BPR.load(tmp_path / "unfitted.recs")
    assert un.__dict__ == again.__dict__
    # a file of another kind on a model class is refused; any kind loads with recs.load
    with pytest.raises(ValueError, match="holds a `bpr` model"):
        recs.MF.load(p)
    # a corrupted file is detected
    raw = bytearray(p.read_bytes())
    raw[-2] ^= 1
    (tmp_path / "bad.recs").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum|corrupt"):
        recs.load(tmp_path / "bad.recs")
    with pytest.raises(OSError):
        recs.load(tmp_path / "missing.recs")
    assert not [n for n in os.listdir(tmp_path) if "tmp" in n]


def test_fold_in_for_models_that_have_it():
    ui = parity(40)
    model = recs.MultDAE(epochs=30, hidden=[16], factors=8, random_state=1).fit(
        ui, show_progress=False)
    users = np.arange(40)
    a_ids, a_scores = model.recommend(users, ui, N=3, recalculate_user=True)
    b_ids, b_scores = model.recommend(users, ui, N=3)
    # the training rows folded in score exactly as the users themselves
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-5, atol=1e-6)


def test_rating_models_predict():
    ratings = sp.random(30, 20, density=0.3, format="csr", random_state=3)
    ratings.data = np.ceil(ratings.data * 5).astype(np.float32)
    model = recs.MF(factors=4, epochs=5).fit(ratings, show_progress=False)
    p = model.predict([0, 1, 2], [3, 4, 5])
    assert p.shape == (3,) and np.isfinite(p).all()
    assert np.isscalar(model.predict(0, 3))
    with pytest.raises(NotImplementedError):
        bpr(iterations=2).fit(parity(6), show_progress=False).predict(0, 1)


def test_the_shipped_type_stub_lists_every_model():
    import pathlib

    from recs import _stubgen

    shipped = pathlib.Path(recs.__file__).with_name("__init__.pyi").read_text()
    assert shipped == _stubgen.stub(), "stale stub: python -m recs._stubgen > __init__.pyi"
    for cls in recs.models().values():
        assert f"class {cls.__name__}(RecommenderBase)" in shipped


def test_fit_releases_the_gil():
    """Another Python thread keeps running while a model trains."""
    import threading
    import time

    m = sp.random(3000, 2000, density=0.05, format="csr", random_state=2)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.perf_counter()
    recs.BPR(iterations=100, factors=32, num_threads=1).fit(m, show_progress=False)
    end = time.perf_counter()
    done.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    # were the GIL held during epochs, the other thread could tick only at the 100 epoch
    # ends (where the progress callback takes the GIL)
    assert len(during) > 200, (len(during), end - start)


def test_parameters_come_from_the_schema_as_in_the_cli(tmp_path):
    # Every model takes device native and cpu; one without a GPU path refuses cuda with the
    # registry's message, which `recs train --device cuda` prints too.
    for device in ("native", "cpu"):
        recs.BPR(device=device)
    msg = (
        "parameter `device` = cuda is out of range: allowed native or cpu "
        "(this model trains on the CPU only)"
    )
    with pytest.raises(ValueError) as e:
        recs.BPR(device="cuda")
    assert msg in str(e.value)
    # Aliases come from the schema: implicit's names and a model's own.
    assert recs.ALS(iterations=3, regularization=0.5).get_params()["epochs"] == 3
    assert recs.ItemKNN(K=20).get_params()["neighbours"] == 20
    assert recs.ALS(iterations=4).iterations == 4
    with pytest.raises(ValueError, match="given twice"):
        recs.ALS(epochs=3, iterations=4)
    # help() lists each parameter with its default and allowed range.
    doc = recs.ALS.__doc__
    assert "``alpha`` (float, default ``1.0``)" in doc and "allowed (0, 1000000]" in doc
    assert "allowed 1..=4096" in doc


def test_als_regularisation_scales_by_count_when_asked():
    ui = parity(40)
    kw = dict(factors=8, iterations=5, regularization=0.5, random_state=3, num_threads=1)
    plain = recs.ALS(**kw).fit(ui, show_progress=False)
    wr = recs.ALS(reg_scaling="count", **kw).fit(ui, show_progress=False)
    assert wr.get_params()["reg_scaling"] == "count"
    assert not np.allclose(plain.item_factors, wr.item_factors)
    # λ·n holds each factor back n times as much: ALS-WR's factors are the smaller.
    assert np.linalg.norm(wr.item_factors) < np.linalg.norm(plain.item_factors)
    with pytest.raises(ValueError, match="reg_scaling"):
        recs.ALS(reg_scaling="rows")


def test_set_num_threads_sizes_the_pool_once():
    import subprocess
    import sys

    code = """
import recs, numpy as np, scipy.sparse as sp
for bad in (0, 5000):
    try:
        recs.set_num_threads(bad)
        raise SystemExit('accepted ' + str(bad))
    except ValueError as e:
        assert '1..=1024' in str(e), e
assert recs.set_num_threads(1) == 1
assert recs.set_num_threads(1) == 1
m = sp.random(30, 20, density=0.3, format='csr', random_state=0, dtype=np.float32)
recs.ALS(factors=4, iterations=2).fit(m, show_progress=False)
try:
    recs.set_num_threads(2)
    raise SystemExit('resized a running pool')
except RuntimeError as e:
    assert 'already runs 1 threads' in str(e), e
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_loaded_model_keeps_its_training_items_in_the_file(tmp_path):
    """A model read from a path maps the file: each user's training items are read in place,
    filter as the matrix passed by hand does, come back as ``user_items`` and are written
    again by ``save``."""
    import numpy as np
    import scipy.sparse as sp

    m = sp.random(60, 40, density=0.2, format="csr", random_state=3, dtype=np.float32)
    m.data[:] = 1
    model = recs.ALS(factors=8, iterations=3, random_state=1).fit(m, show_progress=False)
    model.save(tmp_path / "a.recs")
    loaded = recs.load(tmp_path / "a.recs")
    assert loaded._native.has_seen
    assert (loaded.user_items != model.user_items).nnz == 0
    users = np.arange(60)
    by_hand = loaded.recommend(users, m, N=10)
    own = loaded._native.recommend(users, 10, own_seen=True)
    assert np.array_equal(by_hand[0], own[0]) and np.array_equal(by_hand[1], own[1])
    loaded.save(tmp_path / "b.recs")
    again = recs.load(tmp_path / "b.recs")
    assert (again.user_items != m).nnz == 0
    with pytest.raises(ValueError, match="records no training interactions"):
        recs.ALS(factors=4).fit(m, show_progress=False)._native.recommend(
            users, 5, None, None, None, None, True, 60, True)
