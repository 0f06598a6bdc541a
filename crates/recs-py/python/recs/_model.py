"""The one Python class behind every recs model, with implicit's calling conventions.

Each model of the registry becomes a subclass of :class:`RecommenderBase` (``recs.BPR``,
``recs.BiVAE``, …) generated in ``recs/__init__.py``; nothing here names a model.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse

from . import _native

try:  # code that catches implicit's warning keeps working when it swaps in recs
    from implicit.utils import ParameterWarning as _Base
except Exception:  # pragma: no cover - implicit is optional
    _Base = UserWarning


class ParameterWarning(_Base):
    """An argument was accepted but converted (a COO or LIL matrix given where CSR is
    expected). A subclass of implicit's ``ParameterWarning`` when implicit is installed."""


#: implicit's (and common) keyword names for the shared vocabulary.
#: implicit's and Cornac's names for the shared hyper-parameters, from the registry's
#: vocabulary (each class also takes its own aliases: ``help(recs.<Model>)`` lists them).
ALIASES = {alias: word for word, aliases in _native.word_aliases() for alias in aliases}


def _plain(v):
    """numpy scalars and arrays as JSON-able Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def _seed(v):
    if v is None:
        return None
    if isinstance(v, np.random.RandomState):
        return int(v.randint(0, 2**31 - 1))
    if isinstance(v, np.random.Generator):
        return int(v.integers(0, 2**31 - 1))
    return v


def _ids(x, name):
    """A query as a 1-D int64 array, and whether it was a scalar. A scalar must be an
    integer: a string or a float is not an index (``'2'`` and ``1.9`` are refused, not
    read as 2 and 1)."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if np.ndim(x) == 0:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
            raise TypeError(f"{name} must be an integer index, not {type(x).__name__} {x!r}")
        return np.array([x], dtype=np.int64), True
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be an integer or a 1-D array of integers")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64), False


def _count(n, name):
    """``n`` as a whole number ≥ 1, else a ``ValueError`` naming ``name`` and the range."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or not 1 <= n < 2**63:
        raise ValueError(f"{name} = {n!r} is out of range: allowed a whole number in 1..=2**63-1")
    return int(n)


def _opt_ids(x):
    if x is None:
        return None
    a = np.asarray(x)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.ascontiguousarray(a.ravel(), dtype=np.int64)


class _Progress:
    """A tqdm bar (or a plain line on stderr without tqdm) and the user's callback."""

    def __init__(self, show, callback, name):
        self.callback = callback
        self.bar = None
        self.show = show
        self.name = name
        self.last = 0.0

    def __call__(self, epoch, epochs, elapsed, loss, losses, validation):
        if self.show:
            self._draw(epoch, epochs, loss, validation)
        if self.callback is not None:
            return self.callback(epoch, elapsed, loss)
        return None

    def _draw(self, epoch, epochs, loss, validation):
        post = f"loss {loss:.4f}" + (f", {validation[0]} {validation[1]:.4f}" if validation else "")
        if self.bar is None:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=epochs, desc=self.name, unit="epoch")
            except Exception:
                self.bar = False
        if self.bar:
            self.bar.update(epoch - self.bar.n)
            self.bar.set_postfix_str(post)
        else:
            now = time.monotonic()
            if now - self.last > 0.5 or epoch == epochs:
                self.last = now
                sys.stderr.write(f"\r{self.name}: epoch {epoch}/{epochs}, {post}")
                if epoch == epochs:
                    sys.stderr.write("\n")
                sys.stderr.flush()

    def close(self):
        if self.bar:
            self.bar.close()


def _is_csr(m):
    """A scipy CSR matrix or array."""
    return scipy.sparse.issparse(m) and m.format == "csr"


def _as_csr(m, name="user_items"):
    if _is_csr(m):
        return m
    if scipy.sparse.issparse(m):
        start = time.time()
        out = m.tocsr()
        warnings.warn(
            f"{name} should be a CSR matrix and was a {type(m).__name__}; converting it took "
            f"{time.time() - start:.3f} seconds",
            ParameterWarning,
            stacklevel=3,
        )
        return out
    raise ValueError(f"{name} must be a scipy.sparse CSR matrix, not {type(m).__name__}")


def _check_csr_arrays(m, name="user_items"):
    """Checks a CSR matrix's own arrays before scipy or recs reads them (scipy's C routines
    trust them: a corrupted ``indptr`` would read out of bounds)."""
    n_rows, n_cols = (int(x) for x in m.shape)
    indptr, indices = np.asarray(m.indptr), np.asarray(m.indices)
    if indptr.ndim != 1 or len(indptr) != n_rows + 1:
        raise ValueError(
            f"{name}.indptr has {len(indptr)} entries; a {n_rows}-row CSR matrix needs {n_rows + 1}"
        )
    if len(indptr) and (indptr[0] != 0 or indptr[-1] != len(indices) or len(m.data) != len(indices)):
        raise ValueError(
            f"{name}.indptr must run from 0 to len(indices) = {len(indices)} (and data be as long "
            f"as indices); it runs from {indptr[0]} to {indptr[-1]}"
        )
    if len(indptr) > 1 and np.any(np.diff(indptr) < 0):
        raise ValueError(f"{name}.indptr must never decrease")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(
            f"{name}.indices must lie in 0..{n_cols - 1} (the number of columns); found "
            f"{indices.min()}..{indices.max()}"
        )


class RecommenderBase:
    """A recs model with implicit's API. Subclasses are generated from the registry; each
    sets ``_kind``. Keyword arguments are the model's hyper-parameters (the registry's
    names, or implicit's: ``iterations``, ``regularization``, ``num_threads``,
    ``random_state``); ``help(recs.<Model>)`` lists them with their defaults."""

    _kind = None
    #: alias -> parameter name, from the model's schema
    _aliases = {}

    def __init__(self, **params):
        self._params = self._validate(params)
        self._native = None

    # --- parameters -----------------------------------------------------------------------
    @classmethod
    def _validate(cls, given):
        # Names, aliases and ranges are the registry's to check; only Python's own kinds of
        # value are turned into JSON here (numpy values, a RandomState as a seed).
        mapped = {}
        for k, v in given.items():
            if cls._aliases.get(k, k) == "seed":
                v = _seed(v)
                if v is None:
                    continue
            mapped[k] = _plain(v)
        try:
            return json.loads(_native.params_for(cls._kind, json.dumps(mapped)))
        except ValueError:
            raise
        except TypeError as e:
            raise ValueError(str(e)) from None

    def get_params(self):
        """The hyper-parameters, by the registry's names."""
        return dict(self._params)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        params = self.__dict__.get("_params", {})
        key = type(self)._aliases.get(name, name)
        if key in params:
            return params[key]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    # --- training -------------------------------------------------------------------------
    def fit(self, user_items, show_progress=True, callback=None, user_ids=None, item_ids=None):
        """Trains on ``user_items``, a users × items ``scipy.sparse.csr_matrix`` (float32
        or float64 values, int32 or int64 indices; COO/LIL are converted with a
        :class:`ParameterWarning`). Values are ratings, counts or 1; ranking models
        binarize them.

        ``show_progress`` draws a tqdm bar (a line on stderr without tqdm);
        ``callback(epoch, elapsed_seconds, loss)`` runs after every epoch, and returning
        ``False`` stops training (the model keeps what it learnt). Ctrl-C stops training and
        raises ``KeyboardInterrupt``; the interpreter goes on. ``user_ids`` / ``item_ids``
        (external ids in index order) are saved with the model, for ``recs recommend
        --user ID``. The GIL is released while training. Returns ``self``."""
        m = _as_csr(user_items)
        _check_csr_arrays(m)
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        data = m.data
        if data.dtype not in (np.float32, np.float64):
            data = data.astype(np.float32)
        ids = lambda v: None if v is None else [str(x) for x in v]  # noqa: E731
        progress = _Progress(show_progress, callback, type(self).__name__)
        try:
            self._native = _native.Model.fit(
                self._kind,
                json.dumps(self._params),
                tuple(int(x) for x in m.shape),
                np.ascontiguousarray(m.indptr),
                np.ascontiguousarray(m.indices),
                np.ascontiguousarray(data),
                progress,
                ids(user_ids),
                ids(item_ids),
            )
        finally:
            progress.close()
        return self

    def _fitted(self):
        if self._native is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit first")
        return self._native

    # --- ranking --------------------------------------------------------------------------
    def recommend(
        self,
        userid,
        user_items,
        N=10,
        filter_already_liked_items=True,
        filter_items=None,
        recalculate_user=False,
        items=None,
    ):
        """The ``N`` best items for a user, or for each of an array of users.

        ``user_items`` holds one CSR row per user asked for (``model.user_items[userid]``
        after ``load``); with ``filter_already_liked_items`` those items rank last (score
        ``-FLT_MAX``), as do ``filter_items``. ``items`` ranks only those item ids (an id
        out of range raises ``IndexError``). ``recalculate_user`` scores the users from
        their rows instead of by index, for models that fold in new users (Mult-VAE/DAE);
        others raise ``NotImplementedError``.

        Returns ``(ids, scores)``: 1-D for one user, 2-D (one row per user) for an array,
        each row of length ``min(N, number of candidate items)``, best first, ties to the
        lower item id."""
        model = self._fitted()
        users, scalar = _ids(userid, "userid")
        N = _count(N, "N")
        rows = None
        if filter_already_liked_items or recalculate_user:
            if not _is_csr(user_items):
                raise ValueError("user_items needs to be a CSR sparse matrix")
            if user_items.shape[0] != len(users):
                raise ValueError("user_items must contain 1 row for every user in userids")
            rows = user_items
        if items is not None and filter_items is not None and len(filter_items):
            raise ValueError("Can't set both items and filter_items in recommend call")
        ids, scores = model.recommend(
            users,
            N,
            None if rows is None else np.ascontiguousarray(rows.indptr),
            None if rows is None else np.ascontiguousarray(rows.indices),
            _opt_ids(filter_items),
            _opt_ids(items),
            bool(recalculate_user),
            len(users),
        )
        if scalar:
            return ids[0], scores[0]
        return ids, scores

    def similar_items(
        self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None
    ):
        """The ``N`` items most similar to an item (or to each of an array of items) by
        cosine of the item vectors (by the item-item similarity matrix for ItemKNN and
        EASE), the item itself first. ``filter_items`` rank last; ``items`` restricts the
        candidates. Returns ``(ids, scores)`` as ``recommend``."""
        if recalculate_item:
            raise NotImplementedError("recalculate_item is not supported")
        return self._similar(itemid, N, filter_items, items, False, "itemid")

    def similar_users(self, userid, N=10, filter_users=None, users=None):
        """The ``N`` users most similar to a user (or to each of an array of users) by
        cosine of the user vectors, the user first; ``NotImplementedError`` for models
        without user vectors."""
        return self._similar(userid, N, filter_users, users, True, "userid")

    def _similar(self, q, N, filt, cands, users, name):
        model = self._fitted()
        if cands is not None and filt is not None and len(filt):
            what = "users" if users else "items"
            raise ValueError(f"Can't set both {what} and filter_{what} in similar_{what} call")
        qs, scalar = _ids(q, name)
        ids, scores = model.similar(qs, _count(N, "N"), _opt_ids(filt), _opt_ids(cands), users)
        if scalar:
            return ids[0], scores[0]
        return ids, scores

    def predict(self, userid, itemid):
        """Predicted ratings for (user, item) index pairs, for models that predict ratings
        (MF, AutoRec, the baselines); ``NotImplementedError`` for ranking-only models."""
        u = np.atleast_1d(np.asarray(userid, dtype=np.int64))
        i = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
        u, i = np.broadcast_arrays(u, i)
        out = self._fitted().predict(np.ascontiguousarray(u), np.ascontiguousarray(i))
        return out[0] if np.isscalar(userid) and np.isscalar(itemid) else out

    def score(self, userid):
        """Every item's score for a user (1-D) or for each of an array of users (2-D)."""
        users, scalar = _ids(userid, "userid")
        s = self._fitted().scores(users)
        return s[0] if scalar else s

    # --- what the model holds -------------------------------------------------------------
    @property
    def item_factors(self):
        """Item vectors (``n_items × dim``, float32), or ``None`` (unfitted, or a model
        without them)."""
        return self._vectors("item_factors")

    @property
    def user_factors(self):
        """User vectors (``n_users × dim``, float32), or ``None``. For BPR, scores are
        ``user_factors @ item_factors.T`` plus the item biases."""
        return self._vectors("user_factors")

    def _vectors(self, which):
        if self._native is None:
            return None
        try:
            return getattr(self._native, which)()
        except NotImplementedError:
            return None

    @property
    def user_items(self):
        """The training interactions (users × items CSR of ones), where recorded: after
        ``fit``, and after ``load`` of a file that holds them."""
        if self._native is None:
            return None
        seen = self._native.seen()
        if seen is None:
            return None
        indptr, indices = seen
        data = np.ones(len(indices), dtype=np.float32)
        return scipy.sparse.csr_matrix(
            (data, indices, indptr), shape=(self._native.n_users, self._native.n_items)
        )

    @property
    def user_ids(self):
        """External user ids in index order (strings), where recorded, else ``None``."""
        ids = None if self._native is None else self._native.user_ids
        return None if ids is None else np.array(ids, dtype=object)

    @property
    def item_ids(self):
        """External item ids in index order (strings), where recorded, else ``None``."""
        ids = None if self._native is None else self._native.item_ids
        return None if ids is None else np.array(ids, dtype=object)

    # --- files and pickles ----------------------------------------------------------------
    def _bytes(self):
        if self._native is None:
            return _native.unfitted_bytes(self._kind, json.dumps(self._params))
        return self._native.to_bytes()

    def save(self, file):
        """Writes the model file (the one format ``recs train`` writes) to a path
        (atomically) or to an open binary file. An unfitted model saves its parameters."""
        if hasattr(file, "write"):
            file.write(self._bytes())
            return
        path = os.fspath(file)
        if self._native is not None:
            self._native.save(path)
            return
        _native.write_file(path, self._bytes())

    @classmethod
    def load(cls, file):
        """Reads a model file (a path or an open binary file; verified). On a model class
        the file must hold that kind; ``recs.load`` takes any kind."""
        if hasattr(file, "read"):
            data = file.read()
            kind, params, model = _native.open_model(
                data=data, name=getattr(file, "name", "<file object>")
            )
        else:
            kind, params, model = _native.open_model(path=os.fspath(file))
        from . import _classes

        target = _classes[kind]
        if cls is not RecommenderBase and not issubclass(target, cls):
            raise ValueError(
                f"the file holds a `{kind}` model ({target.__name__}), not a {cls.__name__}"
            )
        obj = target.__new__(target)
        obj._params = json.loads(params)
        obj._native = model
        return obj

    def __getstate__(self):
        return {"params": self._params, "file": None if self._native is None else self._bytes()}

    def __setstate__(self, state):
        """A pickle is trusted no more than a file: the model must be of this class's kind,
        and its params are the model file's (the pickled dict is used only for an unfitted
        model, and checked like keyword arguments)."""
        self._native = None
        if state["file"] is None:
            self._params = self._validate(dict(state["params"]))
            return
        kind, params, model = _native.open_model(data=state["file"], name="<pickle>")
        if kind != self._kind:
            from . import _classes

            raise ValueError(
                f"the pickle holds a `{kind}` model ({_classes[kind].__name__}), not a "
                f"{type(self).__name__}"
            )
        self._params = json.loads(params)
        self._native = model


def make_class(kind, title, about, defaults, schema):
    """The Python class of one registry entry: keyword hyper-parameters with the
    registry's defaults in its signature, and a docstring from the model's schema (type,
    default, allowed range, meaning and aliases of each parameter)."""
    defaults = json.loads(defaults)
    schema = json.loads(schema)
    lines = [
        f"{title}: {about}.",
        "",
        f"Registry name ``{kind}`` (``recs train --model {kind}``). Hyper-parameters "
        "(keyword arguments), with their defaults:",
        "",
    ]
    for p in schema:
        name = p["name"]
        default = defaults.get(name, "native" if name == "device" else None)
        also = ", ".join(f"``{a}``" for a in p["aliases"])
        lines.append(
            f"- ``{name}`` ({p['type']}, default ``{default!r}``): {p['doc']}; "
            f"allowed {p['allowed']}" + (f"; also {also}" if also else "")
        )
    lines += [
        "",
        "An unknown keyword, or a value out of its range, raises ``ValueError`` naming it.",
        "Methods: fit, recommend, similar_items, similar_users, predict, score, save, load.",
    ]
    doc = "\n".join(lines)

    def __init__(self, **params):
        RecommenderBase.__init__(self, **params)

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
            for k, v in defaults.items()
        ]
    )
    __init__.__doc__ = doc
    aliases = {a: p["name"] for p in schema for a in p["aliases"]}
    cls = type(
        title,
        (RecommenderBase,),
        {
            "_kind": kind,
            "_aliases": aliases,
            "_schema": schema,
            "__doc__": doc,
            "__init__": __init__,
        },
    )
    cls.__module__ = "recs"
    cls.__qualname__ = title
    __init__.__qualname__ = f"{title}.__init__"
    return cls
