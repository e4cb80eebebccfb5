"""Encodings: every seed's way of turning music into tokens, behind one ``Tokenizer`` contract.

The names below are imported on first use, so ``tunesmith.encodings.options`` (what the command line is built from)
loads without the tokenizers and their numpy and symusic.
"""

from importlib import import_module

_REGISTRY = ("ENCODINGS", "get_encoding", "load_tokenizer", "make_tokenizer", "register", "tokenizer_from_dict")
_WHERE = {
    "DecodeResult": "tunesmith.encodings.base",
    "Tokenizer": "tunesmith.encodings.base",
    **dict.fromkeys((*_REGISTRY, "unregister"), "tunesmith.encodings.registry"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """``name`` from the module that defines it, imported when first asked for."""
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tunesmith.encodings' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
