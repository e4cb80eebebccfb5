"""Encodings: every seed's way of turning music into tokens, behind one ``Tokenizer`` contract."""

from tunesmith.encodings.base import DecodeResult, Tokenizer
from tunesmith.encodings.registry import (
    ENCODINGS,
    get_encoding,
    load_tokenizer,
    make_tokenizer,
    register,
    tokenizer_from_dict,
    unregister,
)

__all__ = [
    "ENCODINGS",
    "DecodeResult",
    "Tokenizer",
    "get_encoding",
    "load_tokenizer",
    "make_tokenizer",
    "register",
    "tokenizer_from_dict",
    "unregister",
]
