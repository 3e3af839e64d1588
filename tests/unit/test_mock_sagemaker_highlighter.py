"""The mock upstream's SageMaker semantic highlighter container (its blueprint page's shapes)."""

from __future__ import annotations

from tests.unit.test_mock_upstream import aws_post

PATH = "/endpoints/highlighter/invocations"
CONTEXT = "Heart failure is common. Symptoms of heart failure include fatigue. Rest helps."
QUESTION = "What are the symptoms of heart failure?"


def test_one_document_gets_the_sentence_that_answers_the_question() -> None:
    reply = aws_post(PATH, {"question": QUESTION, "context": CONTEXT, "inputs": []}, "sagemaker")
    assert reply.status == 200, reply.body
    [span] = reply.json()["highlights"]
    assert span["text"] == "Symptoms of heart failure include fatigue."
    assert CONTEXT[span["start"] : span["end"]] == span["text"]
    assert span["position"] == 1


def test_a_batch_gets_one_list_of_spans_per_input() -> None:
    inputs = [{"question": QUESTION, "context": CONTEXT}, {"question": "rest?", "context": "Rest."}]
    body = {"question": "", "context": "", "inputs": inputs}
    reply = aws_post(PATH, body, "sagemaker")
    assert reply.status == 200, reply.body
    assert reply.json()["highlights"] == [[{"start": 25, "end": 67}], [{"start": 0, "end": 5}]]


def test_a_highlighter_body_without_a_document_is_refused() -> None:
    reply = aws_post(PATH, {"question": QUESTION, "context": "", "inputs": []}, "sagemaker")
    assert reply.status == 400
    assert aws_post(PATH, {"question": QUESTION}, "sagemaker", secret="wrong").status == 403
