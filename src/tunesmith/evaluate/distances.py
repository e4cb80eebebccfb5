"""How far a generated set is from a real one, per metric, following Yang and Lerch (2020).

For a metric ``f``, the *intra-set* distances of the real set are ``|f(r_i) - f(r_j)|`` for ``i < j`` and the
*inter-set* distances ``|f(g_i) - f(r_j)|`` for every generated ``g_i`` and real ``r_j`` (Euclidean for vector
metrics such as the IOI histogram). Each set of distances is smoothed into a density by a Gaussian kernel density
estimate; the report gives the overlapping area ``OA = int min(p, q)`` (1: indistinguishable, 0: disjoint) and
``KL(p || q)`` (0: indistinguishable) between the real intra-set density ``p`` and the inter-set density ``q``.
"""

from __future__ import annotations

import numpy as np

GRID_POINTS = 512
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz


def pairwise(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between rows of ``a`` and rows of ``b``; within ``a`` (each pair once) without ``b``."""
    a = np.asarray(a, dtype=float).reshape(len(a), -1)
    if b is None:
        i, j = np.triu_indices(len(a), k=1)
        return np.linalg.norm(a[i] - a[j], axis=1)
    b = np.asarray(b, dtype=float).reshape(len(b), -1)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).reshape(-1)


def kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``samples`` on ``grid`` (Scott's bandwidth), normalised to integrate to 1."""
    samples = np.asarray(samples, dtype=float)
    spread = samples.std()
    bandwidth = spread * samples.size ** (-1 / 5) if spread > 0 else 1e-3 * (abs(samples.mean()) + 1)
    z = (grid[:, None] - samples[None, :]) / bandwidth
    density = np.exp(-0.5 * z**2).sum(axis=1)
    area = _trapezoid(density, grid)
    return density / area if area > 0 else density


def _grid(*sets: np.ndarray) -> np.ndarray:
    values = np.concatenate(sets)
    lo, hi = values.min(), values.max()
    pad = max(hi - lo, 1e-3) * 0.25
    return np.linspace(lo - pad, hi + pad, GRID_POINTS)


def overlap_area(p_samples: np.ndarray, q_samples: np.ndarray) -> float:
    """``int min(p, q)`` of the two samples' kernel densities."""
    grid = _grid(p_samples, q_samples)
    return float(np.clip(_trapezoid(np.minimum(kde(p_samples, grid), kde(q_samples, grid)), grid), 0.0, 1.0))


def kl_divergence(p_samples: np.ndarray, q_samples: np.ndarray, floor: float = 1e-10) -> float:
    """``KL(p || q) = int p log(p / q)`` in nats of the two samples' kernel densities (densities floored)."""
    grid = _grid(p_samples, q_samples)
    p = np.maximum(kde(p_samples, grid), floor)
    q = np.maximum(kde(q_samples, grid), floor)
    return float(max(0.0, _trapezoid(p * np.log(p / q), grid)))


def set_distance(real: list, generated: list) -> dict[str, float]:
    """Overlapping area and KL divergence between real intra-set and real-generated inter-set distances.

    Needs two real pieces and one generated one at least; otherwise both figures are NaN.
    """
    if len(real) < 2 or not generated:
        return {"overlap": float("nan"), "kl": float("nan")}
    intra = pairwise(np.asarray(real, dtype=float))
    inter = pairwise(np.asarray(generated, dtype=float), np.asarray(real, dtype=float))
    return {"overlap": overlap_area(intra, inter), "kl": kl_divergence(intra, inter)}
