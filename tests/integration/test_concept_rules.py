"""The live summary of ScaPre Concept List (web/js/concept_rules.js) against the server's parser
(scapre_core.parse_concepts), on one table of cases, tests/data/concept_cases.json; then the summary on a real
Concept List node in the real frontend while typing, with a preset and with a setting added by a later version.

The Python half checks that the table says what parse_concepts does; the browser half runs the JS module, as the
frontend serves it, on the same table, and must agree on every refused line (with the parser's message, Python's
quoting included), every name erased and kept, and every merged duplicate.
"""
import json

import pytest

from harness import paths
from scapre_core import ConceptError, parse_concepts, preset_text

CASES = json.loads((paths.REPO / "tests" / "data" / "concept_cases.json").read_text())["cases"]
RULES_URL = f"/extensions/{paths.PACK_LINK_NAME}/js/concept_rules.js"

# Each case through the served module: parseConcepts(text, parsed preset), as the extension calls it.
_RUN_RULES = """
const [url, cases, presets] = arguments;
return (async () => {
    const rules = await import(url);
    return cases.map(({text, preset}) => {
        const base = preset === "none" ? null : rules.parseConcepts(presets[preset]);
        const parsed = rules.parseConcepts(text, base);
        return {erase: parsed.erase.map(rules.conceptLine), preserve: parsed.preserve.map(p => p.text),
                warnings: parsed.warnings, refused: parsed.refused.map(r => [r.line, r.text, r.reason]),
                messages: parsed.refused.map(rules.refusal), summary: rules.summaryText(parsed)};
    });
})();
"""


def python_outcome(text: str, preset: str) -> dict:
    """What the server's parser makes of `text`: each refused line in turn (blanked to find the next), then the set."""
    base = None if preset == "none" else parse_concepts(preset_text(preset))
    lines, refused, messages = text.splitlines(), [], []
    while True:
        try:
            concepts = parse_concepts("\n".join(lines), base)
            break
        except ConceptError as err:
            refused.append([err.line, err.text, err.reason])
            messages.append(str(err))
            if err.line is None:
                concepts = None
                break
            lines[err.line - 1] = ""
    return {"erase": [c.to_line() for c in concepts.erase] if concepts else None,
            "preserve": list(concepts.preserve) if concepts else None,
            "warnings": list(concepts.warnings) if concepts else None,
            "refused": refused, "messages": messages}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_table_is_what_the_parser_does(case):
    outcome = python_outcome(case["text"], case["preset"])
    assert {k: outcome[k] for k in ("erase", "preserve", "warnings", "refused")} == \
        {k: case[k] for k in ("erase", "preserve", "warnings", "refused")}


def test_the_table_covers_every_refusal_a_merge_and_a_preset():
    assert any(c["warnings"] for c in CASES) and any(c["preset"] != "none" for c in CASES)
    for reason in ("'+' must be followed", "cannot have an anchor", "is both erased", "is both preserved",
                   "is erased towards", "empty anchor", "missing the concept", "nothing to erase"):
        assert any(reason in r[2] for c in CASES for r in c["refused"]), reason


@pytest.fixture(scope="module")
def js_outcomes(comfy_server, frontend):
    presets = {c["preset"] for c in CASES} - {"none"}
    return frontend.driver.execute(_RUN_RULES, RULES_URL, CASES, {p: preset_text(p) for p in presets})


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_the_js_rules_agree_with_the_parser(js_outcomes, index):
    case, js = CASES[index], js_outcomes[index]
    assert js["refused"] == case["refused"]
    assert js["messages"] == python_outcome(case["text"], case["preset"])["messages"]  # str(ConceptError)
    if case["erase"] is not None:  # otherwise the server has no concept set to compare with
        assert (js["erase"], js["preserve"], js["warnings"]) == (case["erase"], case["preserve"], case["warnings"])


# A Concept List node on a fresh graph; "type" sets the text box as the keyboard does (its value, then an input
# event) and reads the report box; "preset" picks a preset through the widget's callback, as the menu does.
_NEW_NODE = """
app.graph.clear();
const node = LiteGraph.createNode("ScaPreConceptList");
app.graph.add(node);
return node.id;
"""
_TYPE = """
const [id, text] = arguments;
const node = app.graph.getNodeById(id);
const box = node.widgets.find(w => w.name === "text").inputEl;
box.value = text;
box.dispatchEvent(new Event("input"));
return node.widgets.find(w => w.name === "scapre_report").value;
"""
_PRESET = """
const [id, preset] = arguments;
const node = app.graph.getNodeById(id);
const widget = node.widgets.find(w => w.name === "preset");
widget.value = preset;
widget.callback(preset);
return node.widgets.find(w => w.name === "scapre_report").value;
"""
_ADD_SETTING = """
const [id] = arguments;
const node = app.graph.getNodeById(id);
node.addWidget("combo", "expand", "objects", () => {}, {values: ["off", "objects"]});
"""


def test_the_summary_follows_the_typing(frontend):
    node = frontend.driver.execute(_NEW_NODE)
    summary = frontend.driver.execute(_TYPE, node, "golf ball\nchurch -> a building\n+ tennis ball\n")
    assert summary.splitlines()[1:] == ["erase 2: golf ball, church -> a building", "keep 1: tennis ball",
                                        "anchors 1: a building"]
    summary = frontend.driver.execute(_TYPE, node, "golf ball\nGolf Ball\n+ golf ball\n")
    assert "merged: line 2: 'Golf Ball' repeats line 1; merged" in summary
    assert "REFUSED line 3: '+ golf ball': 'golf ball' is both erased (line 1) and preserved" in summary
    summary = frontend.driver.execute(_TYPE, node, "# nothing yet\n")
    assert summary.splitlines()[-1] == "REFUSED the concept list has nothing to erase (every line is blank, " \
                                       "a comment or '+')"


def test_the_summary_counts_the_preset(frontend):
    node = frontend.driver.execute(_NEW_NODE)
    frontend.driver.execute(_TYPE, node, "+ Claude Monet\nGolf ball\n")
    summary = frontend.driver.execute(_PRESET, node, "Artists-50")
    assert summary.splitlines()[1].startswith("erase 51 (50 from the preset): Leonardo da Vinci, ")
    assert "REFUSED line 1: '+ Claude Monet': 'Claude Monet' is both erased (the base list) and preserved" in summary


def test_the_summary_notes_settings_it_cannot_mirror(frontend):
    node = frontend.driver.execute(_NEW_NODE)
    frontend.driver.execute(_ADD_SETTING, node)
    summary = frontend.driver.execute(_TYPE, node, "golf ball\n")
    assert summary.splitlines()[1:] == ["erase 1: golf ball", "expand: objects (applied when the prompt runs)"]
