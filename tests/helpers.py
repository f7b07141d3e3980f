"""Tiny, real-looking image data the model tests build themselves (no network, no files)."""

from __future__ import annotations

import numpy as np


def strokes(n: int, rng: np.random.Generator, size: int = 12, noise: float = 0.15):
    """``n`` grayscale images (n, size, size, 1) of four stroke classes, with integer labels (n,).

    Classes: 0 horizontal bar, 1 vertical bar, 2 diagonal, 3 square outline, each
    drawn at a random position and length, with Gaussian pixel noise.
    """
    x = np.zeros((n, size, size), dtype=np.float64)
    y = rng.integers(0, 4, size=n)
    for i, label in enumerate(y):
        length = int(rng.integers(size // 2, size - 1))
        r, c = (int(v) for v in rng.integers(0, size - length, size=2))
        if label == 0:
            x[i, r + length // 2, c : c + length] = 1.0
        elif label == 1:
            x[i, r : r + length, c + length // 2] = 1.0
        elif label == 2:
            idx = np.arange(length)
            x[i, r + idx, c + idx] = 1.0
        else:
            x[i, r, c : c + length] = x[i, r + length - 1, c : c + length] = 1.0
            x[i, r : r + length, c] = x[i, r : r + length, c + length - 1] = 1.0
    x += noise * rng.standard_normal(x.shape)
    return x[..., None].astype(np.float32), y
