"""recs: collaborative filtering in Rust, from Python, with implicit's API.

Every model of recs' registry is a class here (``recs.BPR``, ``recs.BiVAE``, ``recs.MF``,
…), generated from the registry: construct with keyword hyper-parameters, ``fit`` a
``scipy.sparse.csr_matrix`` of users × items, ``recommend``, ``similar_items``,
``save``/``load`` the same model files as the ``recs`` command. ``recs.metrics`` scores
predictions with Microsoft Recommenders' names; ``recs.datasets`` loads the registry's
datasets as pandas frames. ``recs.ray`` (extra ``ray``) and ``recs.spark`` (extra
``spark``) run batch recommendation, evaluation and ALS training on those engines.

    >>> import recs
    >>> model = recs.BPR(factors=64, iterations=30, random_state=42)
    >>> model.fit(user_items)
    >>> ids, scores = model.recommend(0, user_items[0], N=10)
"""

from . import _native
from ._model import ALIASES, ParameterWarning, RecommenderBase, make_class

__version__ = _native.__version__

#: registry kind -> class
_classes = {}
for _kind, _title, _about, _defaults, _schema, _caps in _native.models():
    _classes[_kind] = globals()[_title] = make_class(_kind, _title, _about, _defaults, _schema)


def models():
    """The registered models: ``{registry name: class}``, in the registry's order."""
    return dict(_classes)


def load(file):
    """Reads a model file of any kind (a path or an open binary file), as ``recs train``
    or ``Model.save`` wrote it."""
    return RecommenderBase.load(file)


def set_num_threads(n):
    """Sizes the thread pool recs ranks, scores and trains on (for models whose
    ``num_threads`` is 0) to ``n`` threads, as ``RAYON_NUM_THREADS`` would: call it first in
    a process, before any ``fit`` or ``recommend`` (an engine's worker does, with the CPUs
    the engine gave it). Returns ``n``; asking for another size once the pool runs raises
    ``RuntimeError``."""
    return _native.set_num_threads(n)


from . import datasets, metrics  # noqa: E402
from .datasets import load_movielens, split, to_csr  # noqa: E402
from .metrics import (  # noqa: E402
    map,
    map_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    r_precision_at_k,
    recall_at_k,
    rmse,
)

__all__ = [
    "ALIASES",
    "ParameterWarning",
    "RecommenderBase",
    "datasets",
    "load",
    "load_movielens",
    "mae",
    "map",
    "map_at_k",
    "metrics",
    "models",
    "ndcg_at_k",
    "precision_at_k",
    "r_precision_at_k",
    "recall_at_k",
    "rmse",
    "set_num_threads",
    "split",
    "to_csr",
] + [c.__name__ for c in _classes.values()]
