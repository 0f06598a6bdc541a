"""The Ray and Spark examples, end to end on ml-100k: each compares its engine's result with
the one-process one itself and exits non-zero when they differ."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, _missing


@pytest.mark.parametrize("name,needs", [("ray_batch", "ray"), ("ray_als", "ray"),
                                        ("spark_batch", "pyspark")])
def test_engine_example(name, needs, ml100k):
    try:
        __import__(needs)
    except ImportError:
        _missing(f"{needs} (pip install './crates/recs-py[ray,spark]')")
    script = ROOT / "examples/python" / f"{name}.py"
    args = [sys.executable, str(script), "--json"]
    if name == "ray_als":
        args += ["--iterations", "5"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    if name == "ray_als":
        assert facts["max_factor_difference"] <= 1e-4
        assert facts["ray"] == facts["one_process"]
        assert min(facts["tasks_per_iteration"]) >= 2
    else:
        assert facts["same_as_one_process"]
        assert facts["metrics"]["map"] > 0.15
