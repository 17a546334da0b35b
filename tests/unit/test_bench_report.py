"""The benchmark's figures in docs/performance.md are what `python -m bench.e2e` printed.

The harness writes bench/results/e2e.json and rewrites the block between the ``bench:e2e``
markers; editing one without the other (or the renderer) breaks this test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.e2e import DOCS, RESULTS, SIZES, render, write_docs


def _report() -> dict:
    return json.loads((RESULTS / "e2e.json").read_text())


def test_the_docs_block_is_the_rendered_results() -> None:
    report = _report()
    block = re.search(r"<!-- bench:e2e:start -->\n(.*?)\n<!-- bench:e2e:end -->", DOCS.read_text(), re.S)
    assert block, "docs/performance.md has no bench:e2e block"
    assert block.group(1).startswith(render(report, report["command"]))


def test_the_results_cover_s_m_l_and_a_growth_curve_of_four_sizes() -> None:
    runs = _report()["runs"]
    assert {r["size"] for r in runs} >= set(SIZES.values())
    assert len({r["scale"] for r in runs}) >= 4
    large = max(runs, key=lambda r: r["splits"])
    assert large["splits"] >= 5_000_000
    assert any(1_000_000 <= r["splits"] < 5_000_000 for r in runs)
    for r in runs:  # every step of both runs measured, with its memory
        for phase in ("full", "incremental"):
            for step in ("load", "dbt_build", "gx", "writeback"):
                assert r[phase][step]["seconds"] > 0 and r[phase][step]["peak_rss_mb"] > 0, (r["scale"], phase, step)
        assert r["full"]["hand"]["seconds"] > 0 and r["full"]["dbt_marts"]["seconds"] > 0


def test_write_docs_replaces_only_its_block(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Perf\n\nbefore\n\n<!-- bench:e2e:start -->\nold\n<!-- bench:e2e:end -->\n\nafter\n")
    write_docs("new table", doc)
    assert doc.read_text() == "# Perf\n\nbefore\n\n<!-- bench:e2e:start -->\nnew table\n<!-- bench:e2e:end -->\n\nafter\n"
