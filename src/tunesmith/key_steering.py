"""How ``generate --key`` keeps a key: the key token where the model has one, a logit bias on the pitch tokens.

The bias is ``tunesmith.keys.key_bias`` over the tokenizer's vocabulary, computed once per generation and added to
every step's logits by ``tunesmith.sample`` (one add per token): the key's Krumhansl-Kessler profile at a small
strength (the tonic weighting that tells D minor from F major) and ``KEY_OUTSIDE`` logits off each pitch class outside
the key's scale. A sample whose music is still heard in another key is redrawn (``generate``'s checks), each redraw
with the profile one step stronger (``redraw_strength``): the first try keeps the soft pull and the pitch variety it
leaves, and a sample that lands elsewhere is pulled harder until it lands in the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesmith.errors import TunesmithError

if TYPE_CHECKING:  # names for the annotations only: generate's options read KEY_STRENGTH without numpy
    import numpy as np

    from tunesmith.keys import Key

# How strongly --key pulls the pitch tokens toward the key's profile by default, and how many logits it takes from the
# pitch classes outside the key's scale: chosen on the bollywood-multitrack model (BENCHMARKS.md, "`--key KEY`: a soft
# pull, and a redraw"). The profile alone at strength 5, the earlier default, won the key estimate by piling the notes
# onto the tonic (0.98 bits of pitch-class entropy against the songs' 2.53).
KEY_STRENGTH = 1.0
KEY_OUTSIDE = 4.0
# How strongly --key auto holds back the classes its key's profile rates below the mean (tunesmith.key_keeper).
KEY_AUTO_STRENGTH = 5.0
# Each redraw of a sample heard in another key multiplies the asked strength by 1 + this step times the redraws made:
# 1, 2, 3, 4 at the default 3 retries. Half a step kept more pitch variety but D minor reached only 85 %
# (BENCHMARKS.md, "`--key KEY`", "Each redraw pulls harder").
KEY_REDRAW_STEP = 1.0
KEY_AUTO = "auto"  # --key auto: each sample keeps the key it starts in (tunesmith.key_keeper)


def keeps_key(tokenizer) -> bool:
    """Whether ``--key auto`` works for this model: a bar token to find the first bar by, pitch tokens to hold back."""
    from tunesmith.keys import ALL_KEYS

    return tokenizer.bar_id is not None and tokenizer.key_bias(ALL_KEYS[0], 1.0) is not None


def redraw_strength(strength: float | None, attempt: int) -> float:
    """The profile strength of try ``attempt`` (0: the first) for an asked ``strength`` (None: ``KEY_STRENGTH``).

    0 stays 0: the key token alone is neither pulled nor checked, so nothing is redrawn for its key.
    """
    base = KEY_STRENGTH if strength is None else strength
    return base * (1 + KEY_REDRAW_STEP * attempt)


def steer(tokenizer, key: Key, strength: float | None = None) -> tuple[np.ndarray | None, str]:
    """The (V,) logit bias toward ``key`` (None: none) and how the key is asked, in words for ``generate.json``.

    ``strength`` defaults to ``KEY_STRENGTH``; 0 leaves the key token alone. A model trained without key conditions
    still gets the bias: the request is useful and the bias alone keeps the key (BENCHMARKS.md), so it is honoured
    and the record says how, rather than refused. Only a model with neither a key token nor pitch tokens to steer
    (ABC text) refuses ``--key``, in one line.
    """
    strength = KEY_STRENGTH if strength is None else strength
    bias = tokenizer.key_bias(key, strength, outside=KEY_OUTSIDE) if strength > 0 else None
    conditioned = "key" in tokenizer.conditions
    if bias is None and not conditioned:
        if strength == 0:
            raise TunesmithError("--key-strength 0 leaves this model nothing to keep the key: it has no key token")
        raise TunesmithError(
            f"--key needs a model trained on data prepared with --condition key: the {tokenizer.name} encoding has "
            "no pitch tokens to steer toward a key"
        )
    if bias is None:
        return None, "key token only"
    how = f"pitch bias (strength {strength:g}, {KEY_OUTSIDE:g} off the classes outside the scale)"
    return bias, f"key token and {how}" if conditioned else f"{how} only: the model was trained without key conditions"
