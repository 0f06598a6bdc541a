"""recs on Ray (``pip install 'recs[ray]'``): top-k for many users as a Ray Dataset, and
ALS trained across a Ray cluster.

- :func:`recommend` runs ``map_batches`` with a callable class: each actor loads the model
  once (a path every node can read, or the model's bytes put once in the object store),
  sizes recs' thread pool to the CPUs Ray gave it, and turns Arrow batches of users (or of
  item histories, folded in) into ``user, item, score, rank`` rows.
- :class:`ALS` trains implicit-feedback ALS with recs' own kernels in Ray tasks: the
  interaction blocks are put in the object store once per fit; each task solves a block of
  rows against the other side's block factors and Gram parts, straight from the tasks that
  made them. With the same params (and seed), the factors are single-process
  ``recs.ALS``'s, bit for bit.
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

def _solve(params, block, x, threads, gram_rows, *fixed):
    """One block of rows solved: a Ray task's body. ``fixed`` is the other side's factors
    block by block, then those blocks' Gram parts, in the blocks' order (Ray passes each
    from the task that made it; recs reads them where they lie in the object store).
    Returns the block's factors, the block's part of the loss, their Gram parts, ``‖fixed‖²``,
    λ's weight on the block's rows (``‖x‖²``, or ``Σ n_r ‖x_r‖²`` under
    ``reg_scaling="count"``) and the node it ran on."""
    n = len(fixed) // 2
    shape, indptr, indices, data = block
    out = _native.als_solve_block(params, shape, indptr, indices, data, x, list(fixed[:n]),
                                  list(fixed[n:]), threads, gram_rows)
    return (*out, _ray().get_runtime_context().get_node_id())


def _warm():
    """Imports recs in a worker (a task's first call pays for it otherwise)."""
    from . import _native  # noqa: F401

    return _ray().get_runtime_context().get_node_id()


def _row_cost(p):
    """A row's solve cost in stored entries: the conjugate-gradient steps (or the Cholesky
    factorisation) cost per row what about ``factors / 2`` entries cost (measured with
    k 64 and 3 steps on the 20M-row synthetic file)."""
    return p["factors"] / 2


def _blocks(m, n_blocks, unit, row_cost):
    """``m``'s rows cut into at most ``n_blocks`` contiguous blocks of about equal work
    (stored entries plus ``row_cost`` per row), each starting on a multiple of ``unit``
    rows (the Gram parts' rows): ``[(first row, end row, (shape, indptr, indices,
    data))]``."""
    n = m.shape[0]
    n_blocks = max(1, min(n_blocks, -(-n // unit)))
    work = m.indptr.astype(np.float64) + row_cost * np.arange(n + 1)
    at = np.searchsorted(work, np.linspace(0, work[-1], n_blocks + 1)[1:-1])
    cuts = np.unique(np.clip(np.concatenate([[0], np.round(at / unit) * unit, [n]]), 0, n))
    indptr = m.indptr.astype(np.int64, copy=False)
    indices = m.indices.astype(np.int32, copy=False)
    data = m.data.astype(np.float32, copy=False)
    out = []
    for a, b in zip(cuts[:-1].astype(int), cuts[1:].astype(int)):
        lo, hi = indptr[a], indptr[b]
        # Views: putting them in the object store is their one copy.
        out.append((a, b, ((b - a, m.shape[1]), indptr[a:b + 1] - lo, indices[lo:hi],
                           data[lo:hi])))
    return out


from . import _classes  # noqa: E402


class ALS(_classes["als"]):
    """Implicit-feedback ALS trained in Ray tasks: ``recs.ALS``'s hyper-parameters (see
    ``help(recs.ALS)``; ``reg_scaling="count"`` is Spark MLlib's ALS-WR, ``solver`` CG or
    Cholesky), plus ``blocks`` (row blocks per side, default 2 per CPU of the cluster) and
    ``num_cpus`` (CPUs, and recs threads, per task; default 1).

    ``fit`` puts each side's interaction blocks in the object store once, cut by work
    (entries and rows). A task solves one block against the other side's factors, read in
    place from the blocks the previous half-iteration's tasks returned, and the Gram matrix
    summed from those blocks' Gram parts: nothing passes through the driver between
    half-iterations. The driver submits each iteration before reading the previous one's
    loss (a callback's stop cancels it), so the workers never wait for it.
    Tasks spread over the nodes. Ray retries a task that raises or whose worker dies
    (``max_retries``, default 3); a task's result depends only on its inputs, so a retried
    fit gives the same factors. The fitted model is an ordinary ALS model: ``save`` writes
    a file ``recs serve`` and ``recs.load`` read, ``recommend`` works in place."""

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
        #: Facts of the last fit: blocks per side, tasks per half-iteration, the nodes they
        #: ran on, seconds before the first iteration and per iteration.
        self.fit_info = None

    def fit(self, user_items, show_progress=True, callback=None, user_ids=None, item_ids=None):
        """Trains on ``user_items`` (users × items CSR, as ``recs.ALS.fit``) on the running
        Ray cluster (``ray.init()`` first; started here if not). ``callback(epoch, elapsed,
        loss)`` runs after every iteration; returning ``False`` stops. Returns ``self``."""
        started = time.perf_counter()
        ray = _ray()
        if not ray.is_initialized():
            ray.init()
            started = time.perf_counter()
        m = _as_csr(user_items)
        _check_csr_arrays(m)
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        m = m.astype(np.float32, copy=False)
        if m.nnz == 0:
            raise ValueError("no interaction to train on")
        # The workers start and import recs while the driver cuts the blocks, not during
        # the first iteration.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        warm = ray.remote(num_cpus=self.num_cpus)(_warm).options(scheduling_strategy="SPREAD")
        warming = [warm.remote() for _ in range(max(1, cpus // self.num_cpus))]
        p = self._params
        pj = json.dumps(p)
        alpha, reg = p["alpha"], p["reg"]
        nu, ni = m.shape
        n_blocks = self.blocks or max(2, 2 * cpus)
        user_rows, item_rows = _native.als_gram_rows(nu), _native.als_gram_rows(ni)
        by_user = _blocks(m, n_blocks, user_rows, _row_cost(p))
        by_item = _blocks(m.T.tocsr(), n_blocks, item_rows, _row_cost(p))
        # The interactions go to the object store once per fit.
        user_refs = [(a, b, ray.put(blk)) for a, b, blk in by_user]
        item_refs = [(a, b, ray.put(blk)) for a, b, blk in by_item]
        del by_user, by_item
        solve = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries,
                           retry_exceptions=True)(type(self)._task).options(
            name="recs-als-block", scheduling_strategy="SPREAD", num_returns=6)
        uf, itf = _native.als_initial_factors(pj, nu, ni)
        # The users' starts (the conjugate-gradient solver's warm start), the items'
        # factors and their Gram parts: the first half-iteration's inputs.
        users = [ray.put(uf[a:b]) for a, b, _ in user_refs]
        items = [ray.put(itf[a:b]) for a, b, _ in item_refs]
        item_parts = [ray.put(_native.als_gram_parts(pj, itf[a:b], item_rows))
                      for a, b, _ in item_refs]
        del uf, itf
        ray.get(warming)
        # implicit's loss denominator: every entry's weight, stored or not.
        total_weight = np.abs(alpha * m.data.astype(np.float64)).sum() + (nu * ni - m.nnz)
        from ._model import _Progress

        progress = _Progress(show_progress, callback, "ALS on Ray")
        nodes, seconds, tasks = [], [], []
        setup = time.perf_counter() - started
        trained = 0

        def submit(users, items, item_parts):
            """One iteration's tasks, chained on their inputs' object refs: each block's
            result stays in the object store and is the next tasks' input (its factors,
            and the conjugate-gradient solver's next start)."""
            by_users = [solve.remote(pj, blk, users[n], self.num_cpus, user_rows,
                                     *items, *item_parts)
                        for n, (_, _, blk) in enumerate(user_refs)]
            users, user_parts = [c[0] for c in by_users], [c[2] for c in by_users]
            by_items = [solve.remote(pj, blk, items[n], self.num_cpus, item_rows,
                                     *users, *user_parts)
                        for n, (_, _, blk) in enumerate(item_refs)]
            return by_users, by_items

        def cancel(calls):
            for c in calls:
                ray.cancel(c[0])

        # The next iteration is submitted before this one's loss is read, so the workers
        # never wait for the driver; a stop cancels it.
        now = submit(users, items, item_parts)
        t0 = time.perf_counter()
        try:
            for epoch in range(1, p["epochs"] + 1):
                by_users, by_items = now
                users, items = [c[0] for c in by_users], [c[0] for c in by_items]
                now = None
                if epoch < p["epochs"]:
                    now = submit(users, items, [c[2] for c in by_items])
                item_loss = sum(ray.get([c[1] for c in by_items]))
                # λ's weight on the users: ‖U‖² (every item task has it), or Σ n_u ‖u‖².
                if p.get("reg_scaling") == "count":
                    user_norm = sum(ray.get([c[4] for c in by_users]))
                else:
                    user_norm = ray.get(by_items[0][3])
                loss = (item_loss + np.float32(reg).item() * user_norm) / max(total_weight, 1.0)
                t1 = time.perf_counter()
                seconds.append(t1 - t0)
                t0 = t1
                user_nodes = ray.get([c[5] for c in by_users])
                item_nodes = ray.get([c[5] for c in by_items])
                tasks.append((len(user_nodes), len(item_nodes)))
                nodes.append((sorted(set(user_nodes)), sorted(set(item_nodes))))
                if not np.isfinite(loss):
                    raise RuntimeError(f"training diverged at iteration {epoch}: loss {loss}")
                trained = epoch
                stop = progress(epoch, p["epochs"], sum(seconds), loss, {"loss": loss}, None)
                if stop is False:
                    break
            uf = np.concatenate(ray.get(users))
            itf = np.concatenate(ray.get(items))
        finally:
            progress.close()
            if now is not None:
                cancel(now[0] + now[1])
        params = dict(p, epochs=trained)
        ids = lambda v: None if v is None else [str(x) for x in v]  # noqa: E731
        self._params = params
        self._native = _native.als_model(
            json.dumps(params), uf, itf, m.indptr.astype(np.int64), m.indices.astype(np.int32),
            ids(user_ids), ids(item_ids),
        )
        self.fit_info = {
            "blocks": (len(user_refs), len(item_refs)),
            "tasks_per_iteration": tasks,
            "setup_seconds": setup,
            "seconds_per_iteration": seconds,
            "nodes_per_iteration": nodes,
        }
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state["ray"] = (self.blocks, self.num_cpus, self.max_retries)
        return state

    def __setstate__(self, state):
        self.blocks, self.num_cpus, self.max_retries = state.pop("ray", (None, 1, 3))
        self.fit_info = None
        super().__setstate__(state)
