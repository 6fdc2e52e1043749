"""The README's demo command (`python3 -m harness.demo`) on the real host: it runs the demo workflow in a real
ComfyUI server on the toy world v3's checkpoint and writes the grid, the oracle's verdicts, the report and the
edit summary; the oracle sees the erased name and the erased artist's style before and not after, and the
look-alikes both times."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from harness import demo, paths
from nodes.preview_grid import grid_size, zoom_for
from scapre_core import parse_concepts
from toy import names

KEPT_SLACK = 2
"""Kept samples (of the 15 in the five kept rows) that may lose their verdict after the edit."""


@pytest.fixture(scope="module")
def demo_out(host, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run = subprocess.run([sys.executable, "-m", "harness.demo", "--out", str(out)], cwd=paths.REPO,
                         env=paths.repo_env(), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out, run.stdout


def test_the_demo_lists_what_a_user_types():
    """The Concept List erases the name and the artist as typed and keeps their look-alikes (the other retrievers,
    the other artists) as + lines; every row of the grid is a prompt of the world (a name's canonical phrasing or
    "<name> by <artist>")."""
    concepts = parse_concepts(demo.concept_text())
    assert [c.text for c in concepts.erase] == demo.ERASED == ["golden retriever", "Claude Monet"]
    assert set(concepts.preserve) == (set(names.GROUPS["retrievers"]) | set(names.ARTISTS)) - set(demo.ERASED)
    for prompt, (name, artist) in demo.ROWS.items():
        assert prompt == (names.by_artist(name, artist) if artist else names.phrase(name)), prompt
    assert [demo.ROWS[p] for p in demo.ERASED_PROMPTS] == [("golden retriever", None), ("elephant", "Claude Monet")]


def test_demo_writes_what_the_readme_promises(demo_out):
    out, stdout = demo_out
    for name in ("grid.png", "oracle.txt", "oracle.json", "report.txt", "edit_summary.json"):
        assert (out / name).is_file(), name
        assert str(out / name) in stdout or name in stdout  # the demo says where it wrote them
    grid = Image.open(out / "grid.png")  # ScaPre Erasure Preview's labelled grid: a row per prompt, both sides
    rows, per_side = len(demo.PROMPTS), demo.SEEDS
    assert grid.size == grid_size(rows, per_side, demo.SIZE, demo.SIZE, zoom_for(demo.SIZE))
    report = (out / "report.txt").read_text()
    assert all(text in report for text in demo.ERASED)
    summary = json.loads((out / "edit_summary.json").read_text())
    assert summary["bytes"] > 0 and summary["weights"]
    assert all(w["relative_change"] > 0 for w in summary["weights"].values())
    assert json.loads(summary["metadata"]["scapre.config"])["method"]
    assert summary["metadata"]["scapre.concepts"].strip().splitlines()[:len(demo.ERASED)] == demo.ERASED


def test_the_demo_runs_the_default_recipe(default_recipe):
    assert demo.RECIPE == default_recipe


def test_the_oracle_sees_the_erasure_and_the_look_alikes_stay(demo_out):
    """Before the edit every row draws what it asks for (at least SEEDS - 1 of its samples). After it: the golden
    retriever is never drawn; "an elephant by Claude Monet" keeps the elephant (its shape and colour, in every
    sample but at most one) and is never "elephant (dotted)", Monet's style; the kept rows (two other retrievers,
    the elephant by van Gogh and in its own style, a lemon) keep their verdicts but for at most KEPT_SLACK samples.
    Measured with uce_prior (2026-12-06): golden retriever 3/3 -> 0/3, Monet's elephant dotted 3/3 -> the elephant
    in its own style 3/3, kept 15/15 -> 15/15."""
    out, _ = demo_out
    verdicts = json.loads((out / "oracle.json").read_text())
    assert list(verdicts) == demo.PROMPTS
    kept_before = kept_after = 0
    for prompt, v in verdicts.items():
        assert len(v["before"]) == len(v["after"]) == demo.SEEDS
        want = demo.expected(prompt)
        hits = {side: sum(seen == want for seen in v[side]) for side in ("before", "after")}
        assert hits["before"] >= demo.SEEDS - 1, (prompt, v)  # the trained model draws what it is asked
        if prompt in demo.ERASED_PROMPTS:
            assert hits["after"] == 0, (prompt, v)
        else:
            kept_before += hits["before"]
            kept_after += hits["after"]
    monet = verdicts[demo.ERASED_PROMPTS[1]]["after"]
    assert sum(seen.startswith("elephant") for seen in monet) >= demo.SEEDS - 1, monet
    assert kept_after >= kept_before - KEPT_SLACK, verdicts
