"""Micro-benchmark of Painless pre/post-process scripts on a node (no Redis, no HTTP).

Run: `modelgate painless-bench [--dims 256,1024] [--rounds N]`. For each blueprint-style script
it prints the CPU time (median) to shape one answer with the script, with the equivalent
built-in function, and the difference: what the script adds to a predict. Compiling happens
once per connector version and is shown apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import time
from collections.abc import Callable

from common import painless
from workers.remote.http import Answer
from workers.remote.outcome import inference_result
from workers.remote.preprocess import parameter_sets

BEDROCK = "connector.post_process.bedrock.embedding"
COHERE = "connector.post_process.cohere.embedding"
# The post_process_function of the Bedrock Titan embedding blueprint (ML Commons docs).
TITAN_POST = """
      def name = "sentence_embedding";
      def dataType = "FLOAT32";
      if (params.embedding == null || params.embedding.length == 0) {
        return params.message;
      }
      def shape = [params.embedding.length];
      def json = "{" +
                 "\\"name\\":\\"" + name + "\\"," +
                 "\\"data_type\\":\\"" + dataType + "\\"," +
                 "\\"shape\\":" + shape + "," +
                 "\\"data\\":" + params.embedding +
                 "}";
      return json;
"""
# A Cohere-style script: one tensor per embedding of the answer's "embeddings" list.
COHERE_POST = """
    def parts = new StringBuilder("[");
    for (int i = 0; i < params.embeddings.length; i++) {
      def vector = params.embeddings[i];
      if (i > 0) { parts.append(","); }
      parts.append("{\\"name\\":\\"sentence_embedding\\",\\"data_type\\":\\"FLOAT32\\",");
      parts.append("\\"shape\\":[" + vector.length + "],\\"data\\":" + vector + "}");
    }
    return parts.append("]").toString();
"""
# The pre_process_function of the Bedrock Titan embedding blueprint.
TITAN_PRE = """
    StringBuilder builder = new StringBuilder();
    builder.append("\\"");
    String first = params.text_docs[0];
    builder.append(first);
    builder.append("\\"");
    def parameters = "{" +"\\"inputText\\":" + builder + "}";
    return  "{" +"\\"parameters\\":" + parameters + "}";
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's flags."""
    parser.add_argument("--dims", default="8,256,1024", help="embedding sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=300, help="timed runs per figure")


def main(args: argparse.Namespace) -> int:
    """Print per-answer shaping time with each script and with the built-in function."""
    rng = random.Random(7)
    print(f"{'case':<34}{'script µs':>11}{'built-in µs':>13}{'added µs':>10}")
    for dim in (int(d) for d in str(args.dims).split(",")):
        vector = [rng.gauss(0.0, 0.03) for _ in range(dim)]
        titan = Answer(200, json.dumps({"embedding": vector, "inputTextTokenCount": 5}))
        cohere = Answer(200, json.dumps({"id": "x", "embeddings": [vector, vector]}))
        _row(
            f"titan post_process, dim {dim}",
            _post(titan, TITAN_POST),
            functools.partial(inference_result, titan, post_process=BEDROCK),
            args.rounds,
        )
        _row(
            f"cohere-style post_process, 2 x {dim}",
            _post(cohere, COHERE_POST),
            functools.partial(inference_result, cohere, post_process=COHERE),
            args.rounds,
        )
    pre = painless.compile_script(TITAN_PRE)
    docs = ["What is the meaning of life? " * 4]
    _row(
        "titan pre_process, 1 doc",
        lambda: parameter_sets(TITAN_PRE, docs, {}, pre),
        lambda: parameter_sets("connector.pre_process.bedrock.embedding", docs, {}),
        args.rounds,
    )
    compile_us = _median(lambda: painless.compile_script(TITAN_POST), 20)
    print(f"compile titan post_process once per connector: {compile_us:.0f} µs")
    return 0


def _post(answer: Answer, source: str) -> Callable[[], object]:
    script = painless.compile_script(source)
    return lambda: inference_result(answer, post_process=source, script=script)


def _row(name: str, scripted: Callable[[], object], builtin: Callable[[], object], n: int) -> None:
    with_script, without = _median(scripted, n), _median(builtin, n)
    print(f"{name:<34}{with_script:>11.1f}{without:>13.1f}{with_script - without:>10.1f}")


def _median(fn: Callable[[], object], n: int) -> float:
    fn()
    samples = []
    for _ in range(n):
        started = time.thread_time()  # CPU time: other processes' load does not count
        fn()
        samples.append((time.thread_time() - started) * 1e6)
    return statistics.median(samples)
