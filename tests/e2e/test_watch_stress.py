"""A small run of ``bench/bench_watch_stress.py`` (issue 12): photos dropped into a watched folder at once, renames
and deletions while tagging, ``kill -9`` halfway, a folder that vanishes and comes back with new photos. The
database must end up equal to the disk with no photo tagged twice. (The bench does the same with 1 000 photos and
the shipped model and prints its figures.)"""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.helpers import REPO_ROOT

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.mark.skipif(os.name == "nt", reason="kill -9 and SIGTERM")
def test_watch_stress_database_equals_disk_and_nothing_tagged_twice(shared_data, tmp_path, tiny_bundle_path):
    spec = importlib.util.spec_from_file_location("bench_watch_stress", REPO_ROOT / "bench" / "bench_watch_stress.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    fig = bench.run_stress(tmp_path / "run", tiny_bundle_path, n_files=100, b_files=20, b_new=5, timeout=240)
    assert fig["missing_in_db"] == 0 and fig["extra_in_db"] == 0, fig
    assert fig["inference_counts"] == {1: fig["rows"]}, fig  # every photo tagged, none twice
    assert fig["b_rows_while_offline"] == 20 and fig["watch_exit"] == 0, fig
    assert fig["ok"], fig
