"""Every official connector blueprint page runs unchanged (issue 9).

Each page of ML Commons' docs/remote_inference_blueprints (../shared/blueprints, plus the
sub-folder pages kept in tests/data/blueprints) is read as a new user reads it: the connector
bodies are created as printed, with only what the page asks the reader to fill in filled in
(keys, regions, `<a|b>` choices, `{{...}}` values) and the provider's host replaced by the
mock upstream. The model is registered and deployed as the page shows, each predict body runs,
and the answer must have the structure of the page's sample response: the same tensors (name,
data_type, shape rank) or the same dataAsMap keys; values are the mock's.

Variants that only AWS OpenSearch Service can run (roleArn / secretArn credentials) are only
created; bodies the page prints cut short with `...` cannot be sent and are not run.
Media inputs (image, video, audio base64) must reach the provider byte for byte.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.blueprint_pages import (
    Block,
    Case,
    Predict,
    connector_of,
    lenient_json,
    managed_only,
    read_cases,
    split_by_heading,
)
from tests.integration.cluster import Cluster, MockUpstream, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHARED_PAGES = ROOT.parent / "shared" / "blueprints"
DATA_PAGES = ROOT / "tests" / "data" / "blueprints"
SHARED_PAGE_COUNT = 33  # the copy of ml-commons commit 950f056
AWS_CREDENTIAL = {
    "access_key": "AKIAMOCKUPSTREAM",
    "secret_key": "mock-secret-key",
    "session_token": "mock-session-token",
}
PLACEHOLDER = re.compile(r"<([^<>]*)>|\{\{\s*(\w+)\s*\}\}")
# "{your-endpoint-name}": a single-brace placeholder (never "${parameters.x}", which has a dot).
BRACED = re.compile(r"(?<![{$])\{([\w-]+)\}(?!\})")
AUTHORITY = re.compile(r"^(?:https?://)?[^/?]*")
BATCH_PROVIDERS = ("sagemaker", "openai", "bedrock", "cohere")
MEDIA = re.compile(r"(?:data:[\w/+.-]+;base64,)?[A-Za-z0-9+/]{64,}={0,2}")
# Nova's page lists every connector, then one register call, then the predicts of each.
NOVA = "bedrock_connector_nova_multimodal_model_blueprint"
SECTIONS = {
    NOVA: [
        ("Option A", "Unified Multimodal Connector"),
        ("Text Embedding", "Individual Modality Connector - Text Embedding"),
        ("Image Embedding", "Individual Modality Connector - Image Embedding"),
        ("Video Embedding", "Individual Modality Connector - Video Embedding"),
        ("Audio Embedding", "Individual Modality Connector - Audio Embedding"),
    ]
}
# The SageMaker embedding page shows the input its container takes but no predict call.
SAGEMAKER = "sagemaker_connector_blueprint"
SAGEMAKER_PREDICT = {"parameters": {"input": ["hello world", "how are you"]}}
SAGEMAKER_SAMPLE = {
    "inference_results": [
        {"output": [{"name": "sentence_embedding", "data_type": "FLOAT32", "shape": [384]}]}
    ]
}


def _rename_tensors(name: str) -> Callable[[Any], Any]:
    def fix(sample: Any) -> Any:
        for result in sample["inference_results"]:
            for tensor in result["output"]:
                tensor["name"] = name
        return sample

    return fix


# Sample responses that disagree with ML Commons itself: what is wrong, and the correction.
ERRATA: dict[str, tuple[str, Callable[[Any], Any]]] = {
    page: (
        "the sample names the tensor 'response'; the built-in cohere.embedding post-process "
        "names it 'sentence_embedding' (MLPostProcessFunction, and every other embedding page)",
        _rename_tensors("sentence_embedding"),
    )
    for page in (
        "bedrock_connector_cohere_cohere.embed-english-v3_blueprint",
        "bedrock_connector_cohere_cohere.embed-multilingual-v3_blueprint",
    )
}


# Pages that ML Commons itself cannot run as printed: expected to fail (strict, so a fixed
# page or a modelgate that learns to run it shows up as XPASS and the entry goes).
PAGE_BUGS = {
    "bedrock_connector_openai_gpt-oss_blueprint": (
        "the aws_sigv4 connector has no region parameter (the region is only in the URL host); "
        "ML Commons' AwsConnector refuses it with 400 'Missing region' too"
    ),
    "standard_blueprints/bedrock_connector_titan_embedding_standard_blueprint": (
        "the v1 connector keeps the built-in bedrock.embedding pre/post-process functions, so "
        "ML Commons answers a sentence_embedding tensor, not the sample's raw dataAsMap; and the "
        "v2 connector body is not valid JSON (request_body inside headers)"
    ),
}


# Pages ML Commons can run but modelgate cannot yet: expected to fail (strict, as above).
# Pages modelgate cannot run yet, each with the reason (a strict xfail: fixing one shows).
MODELGATE_GAPS: dict[str, str] = {}

HIGHLIGHTER = "standard_blueprints/sagemaker_semantic_highlighter_standard_blueprint"


def _is_span(span: Any) -> bool:
    if not isinstance(span, dict):
        return False
    start, end = span.get("start"), span.get("end")
    return isinstance(start, int) and isinstance(end, int) and 0 <= start < end


def _highlighter_problem(body: Any, result: Any) -> str | None:
    """Why result is not what ML Commons makes of the highlighter container's answer, or None.

    No post_process_function: ML Commons answers one 'response' tensor whose dataAsMap is the
    container's JSON, {"highlights": [...]}: spans for one document, a list of spans per input
    for a batch ("inputs").
    """
    tensors = _tensors(result)
    named = len(tensors) == 1 and tensors[0].get("name") == "response"
    data = tensors[0].get("dataAsMap") if named else None
    if not isinstance(data, dict):
        return f"expected one 'response' tensor with a dataAsMap, got {_outline(tensors)}"
    highlights = data.get("highlights")
    inputs = (body.get("parameters") or {}).get("inputs") if isinstance(body, dict) else None
    if not isinstance(highlights, list) or not highlights:
        return f"no highlights in {json.dumps(data)[:300]}"
    if isinstance(inputs, list):  # a batch: one non-empty list of spans per input
        good = len(highlights) == len(inputs) and all(
            isinstance(h, list) and bool(h) and all(map(_is_span, h)) for h in highlights
        )
    else:
        good = all(map(_is_span, highlights))
    return None if good else f"highlights not as the container answers: {json.dumps(data)[:300]}"


# Pages whose sample response is not ML Commons output, so the walk cannot compare it: why,
# and the check of what ML Commons would produce instead (problem or None).
UNCOMPARED_SAMPLES: dict[str, tuple[str, Callable[[Any, Any], str | None]]] = {
    HIGHLIGHTER: (
        "the samples list the container's {'highlights': [...]} objects directly as output "
        "entries, with no name and no dataAsMap; ML Commons' output entries are ModelTensors, "
        "and with no post_process_function the container's whole JSON answer is the dataAsMap "
        "of one 'response' tensor (ModelTensor.dataAsMap), so the sample's structure cannot "
        "match any ML Commons answer",
        _highlighter_problem,
    ),
}


def _rename_job_arn(sample: Any) -> Any:
    for tensor in _tensors(sample):
        data = tensor.get("dataAsMap") or {}
        if "job_arn" in data:
            data["TransformJobArn"] = data.pop("job_arn")
    return sample


ERRATA["batch_inference_sagemaker_connector_blueprint"] = (
    "the sample is ML Commons 2.16's answer ('job_arn'); since 2.17 the task's remote_job keeps "
    "SageMaker's CreateTransformJob answer, whose field is TransformJobArn (ML Commons reads that "
    "field back to build the status and cancel calls)",
    _rename_job_arn,
)


def _pages() -> list[Path]:
    found = [p for p in sorted(SHARED_PAGES.glob("*.md")) if p.name != "README.md"]
    return found + [p for p in sorted(DATA_PAGES.rglob("*.md")) if p.name != "README.md"]


def _page_id(page: Path) -> str:
    root = SHARED_PAGES if page.is_relative_to(SHARED_PAGES) else DATA_PAGES
    return str(page.relative_to(root).with_suffix(""))


PAGES = _pages()


def _param(page: Path) -> Any:
    bug = PAGE_BUGS.get(_page_id(page))
    gap = MODELGATE_GAPS.get(_page_id(page))
    marks = [pytest.mark.xfail(strict=True, reason=f"page bug: {bug}")] if bug else []
    if gap:
        marks.append(pytest.mark.xfail(strict=True, reason=f"modelgate gap: {gap}"))
    return pytest.param(page, id=_page_id(page), marks=marks)


def test_the_shared_pages_are_all_there() -> None:
    assert len([p for p in PAGES if p.is_relative_to(SHARED_PAGES)]) == SHARED_PAGE_COUNT


# ---------------------------------------------------------------------------------------------
# What a reader fills in


def _fill(key: str, text: str) -> str:
    """Replace the page's placeholders in one value as a reader would."""

    def one(match: re.Match[str]) -> str:
        inner = next(g for g in match.groups() if g is not None).strip()
        if "|" in inner:
            return inner.split("|")[0].strip()  # <a|b|c>: one of the listed choices
        if "region" in key.lower() or "region" in inner.lower():
            return "us-east-1"
        return "mock-" + re.sub(r"\W+", "-", inner.lower()).strip("-")

    return BRACED.sub(one, PLACEHOLDER.sub(one, text))


def _filled(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _fill(k, v) if isinstance(v, str) else v for k, v in values.items()}


def _batch_provider(action: dict[str, Any], url: str) -> str:
    """For a batch action, "/<provider>": the mock serves each provider's batch API there.

    ML Commons derives a batch job's status and cancel calls from the provider named in the
    batch_predict URL, so that name must survive the host being replaced.
    """
    if "batch" not in str(action.get("action_type", "")).lower():
        return ""
    host = AUTHORITY.match(url)
    named = host.group(0) if host else ""
    return next((f"/{name}" for name in BATCH_PROVIDERS if name in named), "")


def _mock_url(url: str, mock: MockUpstream, tally: str, prefix: str = "") -> str:
    """The action URL with the provider's scheme and host replaced by the mock's."""
    if url.startswith("<") and "sagemaker" in url.lower():
        path = "/endpoints/mock-endpoint/invocations"  # "<... Sagemaker ... ENDPOINT URL>"
    else:
        path = _fill("url", AUTHORITY.sub("", url, count=1)) or "/"
    if prefix:  # status and cancel URLs are built from this one: no query to carry over
        return f"{mock.base}{prefix}{path}"
    return f"{mock.base}{path}{'&' if '?' in path else '?'}tally={tally}"


def prepared(connector: dict[str, Any], mock: MockUpstream, tally: str) -> dict[str, Any]:
    """The connector body as a reader sends it, pointed at the mock upstream."""
    body: dict[str, Any] = json.loads(json.dumps(connector))
    body["parameters"] = _filled(body.get("parameters") or {})
    credential = _filled(body.get("credential") or {})
    if body.get("protocol") == "aws_sigv4":
        credential.update(AWS_CREDENTIAL)
    body["credential"] = credential
    for action in body.get("actions") or []:
        url = action.get("url", "")
        action["url"] = _mock_url(url, mock, tally, _batch_provider(action, url))
    return body


def media_text(kind: str) -> str:
    """Base64 of bytes that use every base64 character, '+' and '/' included, and padding."""
    return base64.b64encode(kind.encode() + bytes(range(256)) * 3).decode()


def _with_media(value: Any) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: media_text(m.group(2) or "media"), value)
    if isinstance(value, list):
        return [_with_media(v) for v in value]
    if isinstance(value, dict):
        return {k: _with_media(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Structure of an answer


def _matches(sample: dict[str, Any], actual: dict[str, Any]) -> bool:
    if "name" in sample and sample["name"] != actual.get("name"):
        return False
    if "dataAsMap" in sample:
        data = actual.get("dataAsMap")
        return isinstance(data, dict) and set(data) == set(sample["dataAsMap"])
    if "dataAsMap" in actual:
        return False
    if "data_type" in sample and sample["data_type"] != actual.get("data_type"):
        return False
    return len(sample.get("shape") or []) == len(actual.get("shape") or [])


def _tensors(body: Any) -> list[dict[str, Any]]:
    results = body.get("inference_results") if isinstance(body, dict) else None
    return [t for r in results or [] for t in r.get("output") or []]


def structure_problem(sample: Any, actual: Any) -> str | None:
    """Why actual's tensors differ in structure from the sample's, or None."""
    expected, got = _tensors(sample), _tensors(actual)
    if not got:
        return f"no output tensors in {json.dumps(actual)[:300]}"
    missing = [s for s in expected if not any(_matches(s, a) for a in got)]
    extra = [a for a in got if not any(_matches(s, a) for s in expected)]
    if missing or extra:
        return (
            f"expected tensors like {_outline(missing or expected)}, got {_outline(extra or got)}"
        )
    return None


def _outline(tensors: list[dict[str, Any]]) -> str:
    shown = []
    for t in tensors[:3]:
        if isinstance(t.get("dataAsMap"), dict):
            shown.append(f"{t.get('name')}{{{', '.join(sorted(t['dataAsMap']))}}}")
        else:
            shown.append(f"{t.get('name')}:{t.get('data_type')}{t.get('shape')}")
    return "[" + "; ".join(shown) + "]"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def media_in(body: Any) -> list[str]:
    """The base64 media values of a predict body (text_docs included)."""
    return [s for s in _strings(body) if MEDIA.fullmatch(s)]


# ---------------------------------------------------------------------------------------------
# Running a page


@dataclass
class Run:
    gw: Cluster
    mock: MockUpstream
    page: str
    problems: list[str]

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["reason"])[:400]
    except (ValueError, KeyError, TypeError):
        return response.text[:400]


def _register(run: Run, case: Case, connector: dict[str, Any], where: str) -> str | None:
    template = case.register.body if case.register and isinstance(case.register.body, dict) else {}
    body = {k: v for k, v in template.items() if k not in ("model_group_id", "connector")}
    body.setdefault("name", f"blueprint {run.page}")
    body.setdefault("function_name", "remote")
    if case.inline:
        body["connector"] = connector
    else:
        created = run.gw.call("POST", "/_plugins/_ml/connectors/_create", connector)
        if created.status_code != 200:
            run.fail(where, f"connector create -> {created.status_code} {_reason(created)}")
            return None
        body["connector_id"] = created.json()["connector_id"]
    body["name"] = f"{body['name']} {uuid.uuid4().hex[:6]}"
    with_deploy = case.register is not None and "deploy=true" in (case.register.path or "")
    params = {"deploy": "true"} if with_deploy else {}
    answer = run.gw.call("POST", "/_plugins/_ml/models/_register", body, **params)
    if answer.status_code != 200:
        run.fail(where, f"register -> {answer.status_code} {_reason(answer)}")
        return None
    task = run.gw.task(answer.json()["task_id"])
    if task["state"] != "COMPLETED":
        run.fail(where, f"register task {task['state']}: {task.get('error')}")
        return None
    model_id = str(task["model_id"])
    if with_deploy:  # as the page does: register?deploy=true, then use the model
        wait_for(lambda: _model_state(run, model_id) == "DEPLOYED", 20, f"{model_id} deployed")
        return model_id
    deployed = run.gw.deploy(model_id)  # as the page does: _register, then _deploy
    if deployed["state"] != "COMPLETED":
        run.fail(where, f"deploy task {deployed['state']}: {deployed.get('error')}")
        return None
    return model_id


def _model_state(run: Run, model_id: str) -> str:
    return str(run.gw.ok("GET", f"/_plugins/_ml/models/{model_id}").get("model_state"))


def _predict_path(path: str, model_id: str) -> str:
    path = re.sub(r"(/_plugins/_ml/models/)[^/]+(/_)", lambda m: m[1] + model_id + m[2], path)
    return re.sub(r"(/_plugins/_ml/_predict/[^/]+/)[^/?]+", lambda m: m[1] + model_id, path)


def _received(run: Run, tally: str) -> list[Any]:
    bodies = requests.get(f"{run.mock.base}/received/{tally}", timeout=10).json()["bodies"]
    parsed = []
    for text in bodies:
        try:
            parsed.append(json.loads(text))
        except ValueError:
            parsed.append(text)
    return parsed


def _check_media(run: Run, where: str, body: Any, tally: str) -> None:
    sent = list(_strings(_received(run, tally)))
    for value in media_in(body):
        if value not in sent:
            run.fail(where, f"media input ({len(value)} chars) did not reach the provider intact")


def _expected(run: Run, predict: Predict, inherited: Any) -> Any:
    sample = predict.sample if predict.sample is not None else inherited
    if sample is not None and run.page in ERRATA:
        sample = ERRATA[run.page][1](json.loads(json.dumps(sample)))
    return sample


def _check_batch_job(run: Run, where: str, sample: Any, task_id: str) -> None:
    """A batch predict's task must hold the provider's job as the page shows it.

    ML Commons 2.16 answered _batch_predict with the provider's job description (the page's
    sample); since 2.17 it answers a task whose remote_job holds that description, and each
    status read adds the provider's latest fields to it: so the sample's keys must be there.
    """
    read = run.gw.call("GET", f"/_plugins/_ml/tasks/{task_id}")
    if read.status_code != 200:
        run.fail(where, f"GET of the batch task -> {read.status_code} {_reason(read)}")
        return
    task = read.json()
    job = task.get("remote_job")
    if not isinstance(job, dict) or not job:
        run.fail(where, f"batch task has no remote_job: {json.dumps(task)[:300]}")
        return
    wanted = {key for t in _tensors(sample) for key in t.get("dataAsMap") or {}}
    missing = sorted(wanted - set(job))
    if missing:
        run.fail(where, f"remote_job lacks {missing} of the sample; it has {sorted(job)}")


def _run_predicts(run: Run, case: Case, model_id: str, tally: str, where: str) -> None:
    inherited: Any = None
    for n, predict in enumerate(case.predicts):
        spot = f"{where} predict {n + 1} ({predict.path.split('?')[0].rsplit('/', 1)[-1]})"
        body = _with_media(predict.body if predict.body is not None else {})
        answer = run.gw.call("POST", _predict_path(predict.path, model_id), body)
        expected = _expected(run, predict, inherited)
        inherited = predict.sample if predict.sample is not None else inherited
        if answer.status_code != 200:
            run.fail(spot, f"{answer.status_code} {_reason(answer)}")
            continue
        result = answer.json()
        if "/_batch_predict" in predict.path and "task_id" in result:
            _check_batch_job(run, spot, expected, result["task_id"])
            continue
        if run.page in UNCOMPARED_SAMPLES:  # see UNCOMPARED_SAMPLES for why
            problem = UNCOMPARED_SAMPLES[run.page][1](body, result)
            if problem:
                run.fail(spot, problem)
            continue
        if expected is None:  # the page prints no sample: ML Commons' general shape only
            expected = {"inference_results": [{"output": [{"name": "response"}]}]}
            tensors = _tensors(result)
            if not tensors or not all(isinstance(t.get("dataAsMap"), dict) for t in tensors):
                run.fail(spot, f"no dataAsMap in {answer.text[:300]}")
            continue
        problem = structure_problem(expected, result)
        if problem:
            run.fail(spot, problem)
        _check_media(run, spot, body, tally)


def _run_connector(run: Run, case: Case, index: int, block: Block, number: int) -> None:
    where = f"case {index + 1} ({case.heading[:50]}) connector {number}"
    raw = connector_of(block)
    if raw is None:
        run.fail(where, "the page's connector body is not valid JSON")
        return
    tally = re.sub(r"\W+", "-", f"{run.page}-{index}-{number}-{uuid.uuid4().hex[:8]}")
    connector = prepared(raw, run.mock, tally)
    if managed_only(raw):  # AWS OpenSearch Service only: it must at least be accepted
        created = run.gw.call("POST", "/_plugins/_ml/connectors/_create", connector)
        if created.status_code != 200:
            run.fail(where, f"connector create -> {created.status_code} {_reason(created)}")
        return
    scripts = [a for a in connector.get("actions") or [] if _has_script(a)]
    if scripts:
        where += " (its Painless pre/post-process script must run)"
    model_id = _register(run, case, connector, where)
    if model_id is not None:
        _run_predicts(run, case, model_id, tally, where)


def _has_script(action: dict[str, Any]) -> bool:
    functions = (action.get("pre_process_function"), action.get("post_process_function"))
    return any(isinstance(f, str) and not f.startswith("connector.") for f in functions)


def page_cases(page: Path) -> list[Case]:
    """The page's cases, with the two layouts the reader has to pair up by hand."""
    name = _page_id(page)
    cases = read_cases(page)
    if name in SECTIONS:
        cases = [c for case in cases for c in split_by_heading(case, SECTIONS[name])]
    if name == SAGEMAKER:
        for case in cases:
            path = "/_plugins/_ml/models/<model_id>/_predict"
            case.predicts.append(Predict(path, SAGEMAKER_PREDICT, case.heading, SAGEMAKER_SAMPLE))
    return cases


@pytest.mark.parametrize("page", [_param(p) for p in PAGES])
def test_blueprint_page_runs_unchanged(gw: Cluster, mock: MockUpstream, page: Path) -> None:
    run = Run(gw, mock, _page_id(page), [])
    cases = page_cases(page)
    runnable = [b for c in cases for b in c.connectors if not b.fragment]
    assert runnable, f"{run.page}: no connector body found on the page"
    for index, case in enumerate(cases):
        if not case.predicts:
            run.fail(f"case {index + 1} ({case.heading[:50]})", "the page shows no predict call")
        number = 0
        for block in case.connectors:
            number += 1
            if not block.fragment:
                _run_connector(run, case, index, block, number)
    assert not run.problems, f"{run.page}:\n  " + "\n  ".join(run.problems)


def test_structure_check_can_fail() -> None:
    sample = {"inference_results": [{"output": [{"name": "response", "dataAsMap": {"a": 1}}]}]}
    other = {"inference_results": [{"output": [{"name": "response", "dataAsMap": {"b": 1}}]}]}
    assert structure_problem(sample, sample) is None
    assert structure_problem(sample, other) is not None
    assert media_in({"x": [media_text("image")]}) == [media_text("image")]
    batch = {"parameters": {"inputs": [{"question": "q", "context": "c"}] * 2}}
    spans = [[{"start": 0, "end": 3}]] * 2
    tensor = {"name": "response", "dataAsMap": {"highlights": spans}}
    answer = {"inference_results": [{"output": [tensor]}]}
    assert _highlighter_problem(batch, answer) is None
    assert _highlighter_problem({"parameters": {"inputs": [{}]}}, answer) is not None
    page_sample = {"inference_results": [{"output": [{"highlights": spans[0]}] * 2}]}
    assert _highlighter_problem(batch, page_sample) is not None


def test_dev_tools_json_is_read_as_a_reader_reads_it() -> None:
    page = '{"a": """two\nlines""", // note\n "b": [1, 2, ...], "c": "x // y", "d": "..."\n'
    assert lenient_json(page) == ({"a": "two\nlines", "b": [1, 2], "c": "x // y", "d": "..."}, True)
    assert lenient_json("{ ... }") == ({}, True)
    assert lenient_json('{"a": 1,}') == ({"a": 1}, False)
    assert _fill("truncate", "<NONE|START|END>") == "NONE"
    assert _fill("region", "<PLEASE ADD YOUR AWS REGION HERE>") == "us-east-1"
    assert _fill("modelUri", "emb://<folder_ID>/x") == "emb://mock-folder_id/x"
    assert _fill("model", "{your-endpoint-name}") == "mock-your-endpoint-name"
    assert _fill("url", "/${parameters.model}/{{x}}") == "/${parameters.model}/mock-x"
