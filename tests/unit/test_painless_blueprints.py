"""Every Painless script of the blueprint pages runs, on plausible inputs, to ML Commons' shape.

The scripts are read from the pages themselves (../shared/blueprints and tests/data/blueprints),
so a page added with a script this interpreter cannot run fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from common import painless
from common.errors import IllegalArgumentError
from workers.remote.http import Answer
from workers.remote.outcome import inference_result
from workers.remote.preprocess import parameter_sets

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIRS = (ROOT.parent / "shared" / "blueprints", ROOT / "tests" / "data" / "blueprints")
FIELD = re.compile(r'"(pre|post)_process_function"\s*:\s*("(?:[^"\\]|\\.)*")')
VECTOR = [0.0123, -0.5, 0.00042, 1.0]


def _scripts() -> list[tuple[str, str, str]]:
    found = []
    for folder in PAGE_DIRS:
        for page in sorted(folder.rglob("*.md")):
            for match in FIELD.finditer(page.read_text()):
                source = json.loads(match[2])
                if painless.is_script(source) and not source.startswith("onnector."):
                    found.append((f"{page.stem}:{match.start()}", match[1], source))
    return found


SCRIPTS = _scripts()


def test_the_pages_have_scripts() -> None:
    assert len([s for s in SCRIPTS if s[1] == "pre"]) >= 3
    assert len([s for s in SCRIPTS if s[1] == "post"]) >= 5


@pytest.mark.parametrize(("where", "kind", "source"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_each_script_compiles(where: str, kind: str, source: str) -> None:
    painless.compile_script(source, f"script in {kind}_process_function")


PRE = [s for s in SCRIPTS if s[1] == "pre"]


@pytest.mark.parametrize(("where", "kind", "source"), PRE, ids=[s[0] for s in PRE])
def test_pre_process_scripts_make_request_parameters(where: str, kind: str, source: str) -> None:
    docs = ['say "hi"', "second"]
    if "semantic_highlighter" in where:
        # Its script reads question/context parameters, not text_docs, and says so itself.
        with pytest.raises(IllegalArgumentError, match="must provide either"):
            parameter_sets(source, docs, {})
        return
    sets = parameter_sets(source, docs, {})
    assert len(sets) == 2  # a custom script: one request per document
    first = sets[0]
    key = "input" if "luminous" in where else "inputText"
    assert first[key] == 'say "hi"'  # escaped for the script, read back by the JSON parse


TEXT_PATH = re.compile(r"def text = params((?:\.\w+|\[\d+\])+);")


def _nest(steps: list[tuple[str, str]], leaf: Any) -> Any:
    """The JSON in which following steps (key or index) reaches leaf."""
    if not steps:
        return leaf
    (key, index), rest = steps[0], steps[1:]
    inner = _nest(rest, leaf)
    return {key: inner} if key else [inner] * (int(index) + 1)


def _answer_for(source: str) -> tuple[dict[str, Any], Any]:
    """A plausible provider answer for the script, and the inference output expected."""
    answer: dict[str, Any]
    path = TEXT_PATH.search(source)
    if path:  # chat answers: the text at params.<path>, escaped into a response tensor
        content = 'He said "yes"\nthen\tleft \\o/'
        answer = _nest(re.findall(r"\.(\w+)|\[(\d+)\]", path[1]), content)
        return answer, [{"name": "response", "dataAsMap": {"response": content}}]
    if "completions" in source:  # AI21 Jurassic on Bedrock
        answer = {"completions": [{"data": {"text": "Paris."}}]}
        return answer, [{"name": "response", "dataAsMap": {"response": "Paris."}}]
    if "embeddingsByType" in source:  # Titan v2, whose page script prints a map: not JSON
        answer = {"embeddingsByType": {"float": VECTOR}}
        text = (
            '{"name":"sentence_embedding","data_type":"FLOAT32","shape":[null],'
            '"data":{float=[0.0123, -0.5, 4.2E-4, 1.0]}}'
        )
        return answer, [{"name": "response", "dataAsMap": {"response": text}}]
    answer = {"embedding": VECTOR, "inputTextTokenCount": 3}
    tensor = {"name": "sentence_embedding", "data_type": "FLOAT32", "shape": [4], "data": VECTOR}
    return answer, [tensor]


POST = [s for s in SCRIPTS if s[1] == "post"]


@pytest.mark.parametrize(("where", "kind", "source"), POST, ids=[s[0] for s in POST])
def test_post_process_scripts_shape_the_answer(where: str, kind: str, source: str) -> None:
    answer, expected = _answer_for(source)
    result = inference_result(Answer(200, json.dumps(answer)), post_process=source)
    assert result == {"output": expected, "status_code": 200}


@pytest.mark.parametrize(("where", "kind", "source"), POST, ids=[s[0] for s in POST])
def test_post_process_scripts_on_an_error_shaped_answer(where: str, kind: str, source: str) -> None:
    answer = Answer(200, json.dumps({"message": "quota"}))
    if "params.message" in source or "return null" in source:
        # The embedding scripts return params.message (text) or null (the answer as is).
        result = inference_result(answer, post_process=source)
        assert result["output"][0]["name"] == "response"
        return
    # The others index what is not there: a 400 naming the line, as Painless' exception.
    with pytest.raises(IllegalArgumentError, match="failed at line [12]: Cannot (index|access)"):
        inference_result(answer, post_process=source)
