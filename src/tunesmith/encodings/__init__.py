"""Encodings: every seed's way of turning music into tokens, behind one ``Tokenizer`` contract.

The names below are imported on first use, so ``tunesmith.encodings.options`` (what the command line is built from)
loads without the tokenizers and their numpy and symusic.
"""

from tunesmith.lazy import lazy_names

_REGISTRY = ("ENCODINGS", "get_encoding", "load_tokenizer", "make_tokenizer", "register", "tokenizer_from_dict")
_WHERE = {
    "DecodeResult": "tunesmith.encodings.base",
    "Tokenizer": "tunesmith.encodings.base",
    **dict.fromkeys((*_REGISTRY, "unregister"), "tunesmith.encodings.registry"),
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
