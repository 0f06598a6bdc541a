"""Shared fixtures: the real data and the `recs` command, found as users find them. When
the CI variable is set, a missing dataset or binary fails the test instead of skipping it,
so that nothing passes in CI because something is missing."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing and CI is set: this test must not be skipped")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def ml100k():
    import recs

    try:
        return recs.load_movielens("ml-100k")
    except (OSError, ValueError) as e:
        _missing(f"ml-100k ({e}; set RECS_DATA_MIRROR or RECS_DATA_DIR)")


@pytest.fixture(scope="session")
def recs_bin():
    env = os.environ.get("RECS_BIN")
    cands = [pathlib.Path(env)] if env else [ROOT / "target/release/recs", ROOT / "target/debug/recs"]
    for c in cands:
        if c.is_file():
            return str(c)
    _missing(f"the recs binary (looked at {', '.join(map(str, cands))}; set RECS_BIN)")


@pytest.fixture(scope="session")
def metrics_fixture():
    d = ROOT.parent / "shared/fixtures/metrics/case-a"
    if not d.is_dir():
        _missing(f"the metrics fixture {d}")
    return d
