"""recs on Ray (``pip install 'recs[ray]'``): top-k for many users as a Ray Dataset, and
ALS trained across a Ray cluster.

- :func:`recommend` runs ``map_batches`` with a callable class: each actor loads the model
  once (a path every node can read, or the model's bytes put once in the object store),
  sizes recs' thread pool to the CPUs Ray gave it, and turns Arrow batches of users (or of
  item histories, folded in) into ``user, item, score, rank`` rows.
- :class:`ALS` trains implicit-feedback ALS with recs' own kernels in Ray tasks: the
  interaction blocks are put in the object store once per fit; each half-iteration puts
  the fixed side's factors and their Gram matrix once and solves every block of rows in a
  task. With the same params (and seed), the factors are single-process ``recs.ALS``'s.
"""

from __future__ import annotations

import json
import time

import numpy as np

from . import _batch, _native
from ._model import RecommenderBase, _as_csr, _check_csr_arrays

__all__ = ["ALS", "recommend"]


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - the extra is optional
        raise ImportError("recs.ray needs Ray: pip install 'recs[ray]'") from e
    return ray


class _Actor(_batch.BatchRecommender):
    """The callable class of ``map_batches``: a :class:`recs._batch.BatchRecommender`
    whose model's bytes may come as an object reference."""

    def __init__(self, source, **kwargs):
        kind, value = source
        if kind == "ref":
            source = ("bytes", _ray().get(value[0]))
        super().__init__(source, **kwargs)


def recommend(users, model, k=10, *, user_col="user", items_col=None,
              filter_already_liked_items=True, filter_items=None, items=None,
              unknown_users="error", concurrency=None, num_cpus=1, batch_size=4096,
              **ray_remote_args):
    """Top ``k`` for every row of ``users`` as a Ray Dataset of ``user, item, score,
    rank`` rows (lazy: ``.take_all()``, ``.to_pandas()``, ``.write_parquet(...)``).

    ``users`` is a Ray Dataset with a ``user_col`` column (ids as the model file records
    them, or row indices for a model fitted on a bare matrix), or a list or array of such
    ids. With ``items_col``, each row holds the item ids a user interacted with instead,
    and the user is folded in (models with fold-in; item ids the model does not know are
    skipped); ``user_col`` then only labels the rows, and may be absent (rows are numbered).
    A list of histories can be given as ``users`` with ``items_col`` set.

    ``model`` is a fitted recs model (its file's bytes are put in the object store once)
    or a model file's path that every node can read. ``filter_already_liked_items`` and
    ``filter_items`` are implicit's: those items never appear; ``items`` restricts the
    candidates. ``unknown_users`` is ``"error"`` (default) or ``"drop"``.

    ``concurrency`` actors (default: the cluster's CPUs over ``num_cpus``) each load the
    model once and run recs with ``num_cpus`` threads, so the Rust pool never takes more
    CPUs than Ray gave the actor. A Dataset's upstream steps run first (it is
    materialized), since the actors may hold every CPU. Other keyword arguments go to
    ``map_batches`` as Ray remote args (``memory``, ``runtime_env``, …)."""
    ray = _ray()
    import pyarrow as pa

    if not ray.is_initialized():
        ray.init()
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, np.integer)) or num_cpus < 1:
        raise ValueError(f"num_cpus = {num_cpus!r} is out of range: a whole number of CPUs, at least 1")
    if concurrency is None:
        concurrency = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
    if isinstance(users, ray.data.Dataset):
        # Its upstream steps run first: the actors below may hold every CPU, and a step
        # still waiting for one would wait for ever.
        ds = users.materialize()
    else:
        if items_col is not None:
            table = pa.table({items_col: pa.array([list(h) for h in users])})
        else:
            table = pa.table({user_col: pa.array(np.asarray(users).tolist())})
        # Two blocks per actor, so every actor has work.
        step = max(1, -(-table.num_rows // (2 * int(concurrency))))
        ds = ray.data.from_arrow([table.slice(a, step) for a in range(0, max(table.num_rows, 1), step)])
    if isinstance(model, RecommenderBase):
        source = ("ref", [ray.put(model._bytes())])
    else:
        source = _batch.source_of(model, ship_bytes=False)
    kwargs = dict(
        k=k, user_col=user_col, items_col=items_col,
        filter_already_liked_items=filter_already_liked_items,
        filter_items=None if filter_items is None else list(np.asarray(filter_items).tolist()),
        items=None if items is None else list(np.asarray(items).tolist()),
        unknown_users=unknown_users, threads=int(num_cpus),
    )
    # Checked here, once: a bad argument is an error now, not in every actor.
    if isinstance(model, RecommenderBase):
        _batch.check_args(model, kwargs)
    else:
        from . import load

        _batch.check_args(load(source[1]), kwargs)
    return ds.map_batches(
        _Actor,
        fn_constructor_args=(source,),
        fn_constructor_kwargs=kwargs,
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=int(concurrency)),
        num_cpus=num_cpus,
        **ray_remote_args,
    )


# --- ALS across a cluster ----------------------------------------------------------------

def _solve(params, block, x, fixed, gram, threads):
    """One block of rows solved against the fixed side: a Ray task's body. Returns the
    block's factors, its loss and the node it ran on."""
    shape, indptr, indices, data = block
    out, loss = _native.als_solve_block(params, shape, indptr, indices, data, x, fixed, gram,
                                        threads)
    return out, loss, _ray().get_runtime_context().get_node_id()


def _warm():
    """Imports recs in a worker (a task's first call pays for it otherwise)."""
    from . import _native  # noqa: F401

    return _ray().get_runtime_context().get_node_id()


def _blocks(m, n_blocks):
    """``m``'s rows cut into ``n_blocks`` contiguous blocks of about equal interactions:
    ``[(first row, end row, (shape, indptr, indices, data))]``."""
    n = m.shape[0]
    n_blocks = max(1, min(n_blocks, n))
    target = np.linspace(0, m.nnz, n_blocks + 1)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(m.indptr, target[1:-1]), [n]]))
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        s = m[a:b]
        out.append((int(a), int(b), ((int(b - a), m.shape[1]), s.indptr.astype(np.int64),
                                     s.indices.astype(np.int32), s.data.astype(np.float32))))
    return out


from . import _classes  # noqa: E402


class ALS(_classes["als"]):
    """Implicit-feedback ALS trained in Ray tasks: ``recs.ALS``'s hyper-parameters (see
    ``help(recs.ALS)``; ``reg_scaling="count"`` is Spark MLlib's ALS-WR, ``solver`` CG or
    Cholesky), plus ``blocks`` (row blocks per side, default 2 per CPU of the cluster) and
    ``num_cpus`` (CPUs, and recs threads, per task; default 1).

    ``fit`` puts each side's interaction blocks in the object store once; each
    half-iteration puts the fixed factors and their Gram matrix (computed once, on the
    driver) once and runs one task per block, spread over the nodes. Ray retries a task that raises or whose worker
    dies (``max_retries``, default 3); a task's result depends only on its inputs, so a
    retried fit gives the same factors. The fitted model is an ordinary ALS model: ``save``
    writes a file ``recs serve`` and ``recs.load`` read, ``recommend`` works in place."""

    #: The task body (one block solved); a subclass may wrap it.
    _task = staticmethod(_solve)

    def __init__(self, blocks=None, num_cpus=1, max_retries=3, **params):
        RecommenderBase.__init__(self, **params)
        if blocks is not None and (isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer))
                                   or blocks < 1):
            raise ValueError(f"blocks = {blocks!r} is out of range: a whole number, at least 1")
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, np.integer)) or num_cpus < 1:
            raise ValueError(f"num_cpus = {num_cpus!r} is out of range: a whole number, at least 1")
        self.blocks = blocks
        self.num_cpus = int(num_cpus)
        self.max_retries = int(max_retries)
        #: Facts of the last fit: tasks per half-iteration, the nodes they ran on, seconds
        #: per iteration.
        self.fit_info = None

    def fit(self, user_items, show_progress=True, callback=None, user_ids=None, item_ids=None):
        """Trains on ``user_items`` (users × items CSR, as ``recs.ALS.fit``) on the running
        Ray cluster (``ray.init()`` first; started here if not). ``callback(epoch, elapsed,
        loss)`` runs after every iteration; returning ``False`` stops. Returns ``self``."""
        ray = _ray()
        if not ray.is_initialized():
            ray.init()
        m = _as_csr(user_items)
        _check_csr_arrays(m)
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        m = m.astype(np.float32)
        if m.nnz == 0:
            raise ValueError("no interaction to train on")
        p = self._params
        pj = json.dumps(p)
        k, alpha, reg = p["factors"], p["alpha"], p["reg"]
        nu, ni = m.shape
        n_blocks = self.blocks or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        by_user = _blocks(m, n_blocks)
        by_item = _blocks(m.T.tocsr(), n_blocks)
        # The interactions go to the object store once per fit.
        user_refs = [(a, b, ray.put(blk)) for a, b, blk in by_user]
        item_refs = [(a, b, ray.put(blk)) for a, b, blk in by_item]
        solve = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries,
                           retry_exceptions=True)(type(self)._task).options(
            name="recs-als-block", scheduling_strategy="SPREAD", num_returns=3)
        # The workers start and import recs before the first iteration, not during it.
        warm = ray.remote(num_cpus=self.num_cpus)(_warm).options(scheduling_strategy="SPREAD")
        cpus = int(ray.cluster_resources().get("CPU", 1))
        ray.get([warm.remote() for _ in range(max(1, cpus // self.num_cpus))])
        uf, itf = _native.als_initial_factors(pj, nu, ni)
        # implicit's loss denominator: every entry's weight, stored or not.
        conf = alpha * m.data.astype(np.float64)
        total_weight = np.abs(conf).sum() + (nu * ni - m.nnz)
        counts = None
        if p.get("reg_scaling") == "count":
            pos = m.copy()
            pos.data = (conf > 0).astype(np.float32)
            counts = np.maximum(np.asarray(pos.sum(axis=1)).ravel(), 1.0)
        from ._model import _Progress

        progress = _Progress(show_progress, callback, "ALS on Ray")
        nodes, seconds, tasks = [], [], []
        # Each block's factors stay in the object store between iterations: a task's
        # result is the next one's start (the conjugate-gradient solver's warm start).
        self._prev = {}
        trained = 0
        try:
            for epoch in range(1, p["epochs"] + 1):
                t0 = time.perf_counter()
                uf, _, user_nodes = self._half(ray, solve, pj, user_refs, uf, itf, "u")
                itf, item_loss, item_nodes = self._half(ray, solve, pj, item_refs, itf, uf, "i")
                tasks.append((len(user_nodes), len(item_nodes)))
                nodes.append((sorted(set(user_nodes)), sorted(set(item_nodes))))
                if counts is None:
                    user_norm = float(np.square(uf, dtype=np.float64).sum())
                else:
                    user_norm = float((counts * np.square(uf, dtype=np.float64).sum(axis=1)).sum())
                loss = (item_loss + np.float32(reg).item() * user_norm) / max(total_weight, 1.0)
                if not np.isfinite(loss):
                    raise RuntimeError(f"training diverged at iteration {epoch}: loss {loss}")
                seconds.append(time.perf_counter() - t0)
                trained = epoch
                stop = progress(epoch, p["epochs"], sum(seconds), loss, {"loss": loss}, None)
                if stop is False:
                    break
        finally:
            progress.close()
            del user_refs, item_refs
            self._prev = {}
        params = dict(p, epochs=trained)
        ids = lambda v: None if v is None else [str(x) for x in v]  # noqa: E731
        self._params = params
        self._native = _native.als_model(
            json.dumps(params), uf, itf, m.indptr.astype(np.int64), m.indices.astype(np.int32),
            ids(user_ids), ids(item_ids),
        )
        self.fit_info = {
            "blocks": (len(by_user), len(by_item)),
            "tasks_per_iteration": tasks,
            "seconds_per_iteration": seconds,
            "nodes_per_iteration": nodes,
        }
        return self

    def _half(self, ray, solve, pj, refs, x, fixed, side):
        """One half-iteration: the Gram matrix of ``fixed`` on the driver, then one task per
        block; the new factors of this side, its loss and each task's node."""
        gram, _ = _native.als_gram(pj, fixed)
        fixed_ref, gram_ref = ray.put(fixed), ray.put(gram)
        calls = []
        for n, (a, b, blk) in enumerate(refs):
            start = self._prev.get((side, n))
            calls.append(solve.remote(pj, blk, x[a:b] if start is None else start, fixed_ref,
                                      gram_ref, self.num_cpus))
        out = np.empty_like(x)
        losses = ray.get([c[1] for c in calls])
        nodes = ray.get([c[2] for c in calls])
        for n, ((a, b, _), (xb_ref, _, _)) in enumerate(zip(refs, calls)):
            out[a:b] = ray.get(xb_ref)
            self._prev[(side, n)] = xb_ref
        return out, float(sum(losses)), nodes

    def __getstate__(self):
        state = super().__getstate__()
        state["ray"] = (self.blocks, self.num_cpus, self.max_retries)
        return state

    def __setstate__(self, state):
        self.blocks, self.num_cpus, self.max_retries = state.pop("ray", (None, 1, 3))
        self.fit_info = None
        super().__setstate__(state)
