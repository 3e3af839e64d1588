"""Connector create/update refuse unknown built-in names and scripts that cannot run."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import IllegalArgumentError
from common.process_functions import POST_FUNCTIONS, PRE_FUNCTIONS, check_actions
from common.records import ActionType, Connector, ConnectorAction, ConnectorProtocol
from workers.model_cache import compile_scripts
from workers.remote import post_functions
from workers.remote.outcome import EMBEDDING_FUNCTIONS
from workers.remote.preprocess import (
    LIST_KEYS,
    MULTIMODAL,
    NOVA_MULTIMODAL,
    PER_DOCUMENT_KEYS,
    RERANK,
)


def action(**functions: Any) -> dict[str, Any]:
    return {"action_type": "predict", "method": "POST", "url": "http://x", **functions}


def test_known_names_and_good_scripts_pass() -> None:
    check_actions(
        [
            action(
                pre_process_function="connector.pre_process.bedrock.nova.text_embedding",
                post_process_function="connector.post_process.mlcommons.passthrough",
            ),
            action(pre_process_function="return 'x';", post_process_function="return null;"),
        ]
    )


@pytest.mark.parametrize(
    ("functions", "problem"),
    [
        (
            {"pre_process_function": "connector.pre_process.nova.embeddings"},
            "Unsupported pre_process_function: connector.pre_process.nova.embeddings",
        ),
        (
            {"post_process_function": "connector.post_process.openai.embeddingz"},
            "Unsupported post_process_function: connector.post_process.openai.embeddingz",
        ),
        (
            {"post_process_function": "def x = 1;\nreturn x.nope();"},
            "Invalid painless script in post_process_function: line 2: unknown method",
        ),
        (
            {"pre_process_function": "return [;"},
            "Invalid painless script in pre_process_function: line 1: unexpected",
        ),
    ],
)
def test_unknown_names_and_bad_scripts_are_refused(functions: dict[str, str], problem: str) -> None:
    with pytest.raises(IllegalArgumentError, match=problem.replace("[", "\\[")):
        check_actions([action(**functions)])


def test_every_known_name_is_implemented_on_the_nodes() -> None:
    pre = set(LIST_KEYS) | set(PER_DOCUMENT_KEYS) | set(MULTIMODAL) | set(RERANK)
    pre.add(NOVA_MULTIMODAL)
    assert PRE_FUNCTIONS == pre - {None}
    assert POST_FUNCTIONS == set(EMBEDDING_FUNCTIONS) | set(post_functions.DEFAULT_PATHS)


def test_a_node_compiles_a_connectors_scripts_once() -> None:
    good, bad = "return params.a;", "return params.a.nope();"
    connector = Connector(
        name="c",
        version="1",
        description=None,
        protocol=ConnectorProtocol.HTTP,
        parameters={},
        credential={},
        actions=[
            ConnectorAction(
                action_type=ActionType.PREDICT,
                method="POST",
                url="http://x",
                pre_process_function=bad,
                post_process_function=good,
            )
        ],
        created_time=0,
        last_updated_time=0,
    )
    scripts = compile_scripts(connector)
    assert list(scripts) == [good]  # the bad one is left for the predict to refuse
    assert scripts[good].run({"a": "v"}) == "v"
