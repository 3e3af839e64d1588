"""OpenSearch's standard analyzer, closely enough for searching names and descriptions.

Lucene's StandardTokenizer splits on Unicode word boundaries (UAX #29) and the analyzer
lowercases. This regex keeps the parts of UAX #29 that matter for such text: runs of letters,
digits and underscores are one token, and a `.` or an apostrophe between two of them does not
split ("gpt-3.5-turbo" gives gpt, 3.5, turbo; "o'neil" stays whole). Scripts segmented per
character (CJK ideographs) come out as runs rather than single characters: a known difference.
"""

from __future__ import annotations

import functools
import re

_TOKEN = re.compile(r"\w+(?:['.\u2019]\w+)*")
# StandardTokenizer's default max_token_length: a longer run is split into pieces of this size.
MAX_TOKEN_LENGTH = 255


@functools.lru_cache(maxsize=65536)
def analyze(text: str) -> tuple[str, ...]:
    """Return the lowercased tokens of `text`, in order (cached: names repeat across queries)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        token = match.group()
        tokens.extend(
            token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH)
        )
    return tuple(tokens)
