"""Property: whatever options a user types, ``genzoo train`` trains (exit 0), refuses in one
sentence (exit 2) or reports a diverged loss in one sentence (exit 1); never a traceback,
never a hang, never a file outside ``--out``. See ``fuzzing.py``; the bigger run behind the
figure in benchmarks/RESULTS.md is ``benchmarks/bench_fault_tolerance.py --fuzz``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from fuzzing import cases, classify, run_case, warm  # noqa: E402
from helpers import one_thread  # noqa: E402,F401

warm()


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(argv=cases())
def test_genzoo_train_never_crashes_hangs_or_writes_outside_out(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outcome = run_case(argv, Path(tmp), limit=90.0)
    assert outcome.ok, f"{outcome.kind} (exit {outcome.rc}) for: genzoo {' '.join(argv)}\n{outcome.message}"


def test_the_classifier_sees_tracebacks_strays_and_leftover_folders(tmp_path: Path) -> None:
    """The property above is only as good as its judge: each failure kind is recognised."""
    assert classify(2, "error: bad option\n", set(), 0.1, out=tmp_path / "run").kind == "refused"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model: {}\n")
    assert classify(2, "error: bad option\n", set(), 0.1, out=tmp_path / "run").kind == "leftover"
    assert classify(0, "", {"cache/x"}, 0.1).kind == "stray"
    assert classify(1, "Traceback (most recent call last):\nValueError: x\n", set(), 0.1).kind == "traceback"
    assert classify(2, "error: one\nerror: two\n", set(), 0.1).kind == "unclear"
