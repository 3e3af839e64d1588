"""`modelgate simulate`: a short run of a real local cluster, its JSON checked for the routing
each setting promises, and its HTML report rendered in a real headless browser."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tools.simulate.charts import ROLE_COLOURS
from tools.simulate.cli import configure_parser, run
from tools.simulate.results import Result
from tools.simulate.spec import sim_spec

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Phases of 2.5 s in this order: ML only least_load, ML only round_robin, ML + data
# least_load (ml-2 killed in it), ML + data round_robin (wholly after the failover).
ARGS = [
    "--ml-nodes", "2", "--data-nodes", "1", "--latency-ms", "5", "--node-latency", "data-1=15",
    "--phase-seconds", "2.5", "--concurrency", "6", "--kill-node", "ml-2", "--kill-at", "6.5",
]  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    tmp = tmp_path_factory.mktemp("simulate")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    spec = sim_spec(parser.parse_args(ARGS))
    output = tmp / "report.html"
    result = run(spec, output, tmp / "work")
    return result, output


def _phase(result: Result, only_ml: bool, policy: str) -> dict[str, Any]:
    index = next(
        p["index"]
        for p in result["phases"]
        if p["only_run_on_ml_node"] is only_ml and p["policy"] == policy
    )
    phase: dict[str, Any] = result["summary"]["phases"][index]
    return phase


def test_the_json_beside_the_report_holds_the_raw_data(report: tuple[Result, Path]) -> None:
    result, output = report
    assert output.with_suffix(".json").exists()
    assert len(result["phases"]) == 4 and result["predicts"] and result["queue_depths"]
    assert [p for p in result["predicts"] if p["status"] != 200] == []


def test_only_ml_nodes_serve_when_only_run_on_ml_node_is_true(report: tuple[Result, Path]):
    result, _ = report
    for policy in ("least_load", "round_robin"):
        assert set(_phase(result, True, policy)["by_role"]) == {"ml"}


def test_data_nodes_serve_too_when_it_is_false(report: tuple[Result, Path]) -> None:
    result, _ = report
    for policy in ("least_load", "round_robin"):
        assert _phase(result, False, policy)["by_role"].get("data", 0) > 0


def test_round_robin_spreads_evenly(report: tuple[Result, Path]) -> None:
    result, _ = report
    spread = _phase(result, True, "round_robin")["by_node"]
    assert set(spread) == {"ml-1", "ml-2"}
    # One API process: its rotation hands out turns one by one.
    assert max(spread.values()) - min(spread.values()) <= 2, spread
    after_kill = _phase(result, False, "round_robin")["by_node"]
    assert set(after_kill) == {"ml-1", "data-1"}
    assert max(after_kill.values()) - min(after_kill.values()) <= 2, after_kill


def test_the_killed_node_serves_nothing_after_the_failover(report: tuple[Result, Path]) -> None:
    result, _ = report
    kill = result["kill"]
    assert kill["node"] == "ml-2" and kill["at"] <= kill["failover_at"]
    before = Counter(p["node"] for p in result["predicts"] if p["t"] < kill["at"])
    after = Counter(p["node"] for p in result["predicts"] if p["t"] > kill["failover_at"])
    assert before["ml-2"] > 0
    assert after["ml-2"] == 0 and sum(after.values()) > 0


def _chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    # As root (CI) Chromium refuses to start without --no-sandbox.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, timeout=120, check=True)


def _near(pixel: tuple[int, ...], colour: str, tolerance: int = 12) -> bool:
    target = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], target, strict=True))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_renders_its_charts_in_a_browser(report: tuple[Result, Path]) -> None:
    _, output = report
    dom = _chromium("--dump-dom", output.as_uri()).stdout.decode()
    assert dom.count("<svg") >= 4 and "Which node served the predicts" in dom
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", dom) is None  # nothing fetched
    shot = output.with_suffix(".png")
    _chromium(f"--screenshot={shot}", "--window-size=1300,4200", output.as_uri())
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    ml = sum(count for count, rgb in colours if _near(rgb, ROLE_COLOURS["ml"]))
    data = sum(count for count, rgb in colours if _near(rgb, ROLE_COLOURS["data"]))
    # The role chart fills areas in exactly these colours: a blank page has none.
    assert ml > 5000 and data > 1000, (ml, data)
