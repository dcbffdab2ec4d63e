"""Procedural drawing primitives for the toy datasets: shape stencils, textures, backgrounds.

Every function takes an explicit ``numpy.random.Generator`` so the generated files depend
only on the seed. Shapes are drawn as boolean stencils first, so the same geometry gives
both the pixels of a classification image and the labels of a segmentation mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHAPE_KINDS: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "stripes",
    "ellipse",
    "hexagon",
    "crescent",
    "arrow",
    "checker",
)


def shape_stencil(
    kind: str,
    canvas_hw: tuple[int, int],
    center: tuple[float, float],
    radius: float,
    angle: float,
) -> np.ndarray:
    """Boolean ``(H, W)`` stencil of one shape of the given kind.

    ``center`` is (x, y) in pixels, ``radius`` the half-extent, ``angle`` the rotation in
    radians. Textured kinds (stripes, checker) are cut out of a disc or square so that the
    pattern, not just the outline, identifies them.
    """
    height, width = canvas_hw
    stencil = np.zeros((height, width), np.uint8)
    cx, cy = center
    if kind == "circle":
        cv2.circle(stencil, _pt(cx, cy), round(radius), 1, -1)
    elif kind == "square":
        _fill_polygon(stencil, _regular_polygon(4, center, radius, angle + math.pi / 4))
    elif kind == "triangle":
        _fill_polygon(stencil, _regular_polygon(3, center, radius, angle))
    elif kind == "hexagon":
        _fill_polygon(stencil, _regular_polygon(6, center, radius, angle))
    elif kind == "star":
        _fill_polygon(stencil, _star(center, radius, angle))
    elif kind == "arrow":
        shaft = [(-1.0, -0.22), (0.2, -0.22), (0.2, -0.6), (1.0, 0.0), (0.2, 0.6), (0.2, 0.22)]
        _fill_polygon(stencil, _place(shaft + [(-1.0, 0.22)], center, radius, angle))
    elif kind == "cross":
        bar = [(-1.0, -0.3), (1.0, -0.3), (1.0, 0.3), (-1.0, 0.3)]
        _fill_polygon(stencil, _place(bar, center, radius, angle))
        _fill_polygon(stencil, _place(bar, center, radius, angle + math.pi / 2))
    elif kind == "ring":
        cv2.circle(stencil, _pt(cx, cy), round(radius * 0.75), 1, max(2, round(radius * 0.4)))
    elif kind == "ellipse":
        axes = (round(radius), max(1, round(radius * 0.45)))
        cv2.ellipse(stencil, _pt(cx, cy), axes, math.degrees(angle), 0, 360, 1, -1)
    elif kind == "crescent":
        cv2.circle(stencil, _pt(cx, cy), round(radius), 1, -1)
        bite_x, bite_y = _place([(0.45, 0.0)], center, radius, angle)[0]
        cv2.circle(stencil, (int(bite_x), int(bite_y)), round(radius * 0.85), 0, -1)
    elif kind == "stripes":
        cv2.circle(stencil, _pt(cx, cy), round(radius), 1, -1)
        stencil &= _periodic_bands(canvas_hw, center, radius / 2.5, angle)
    elif kind == "checker":
        _fill_polygon(stencil, _regular_polygon(4, center, radius, angle + math.pi / 4))
        stencil &= _periodic_bands(canvas_hw, center, radius / 2.0, angle) ^ _periodic_bands(
            canvas_hw, center, radius / 2.0, angle + math.pi / 2
        )
    else:
        raise ValueError(f"unknown toy shape kind {kind!r}; expected one of {SHAPE_KINDS}")
    return stencil.astype(bool)


def noise_texture(
    rng: np.random.Generator, canvas_hw: tuple[int, int], cell: int, amplitude: float
) -> np.ndarray:
    """Smooth random ``(H, W, 3)`` float texture: coarse noise upsampled bicubically."""
    height, width = canvas_hw
    coarse = rng.normal(0.0, amplitude, (max(2, height // cell), max(2, width // cell), 3))
    return cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def cluttered_background(rng: np.random.Generator, canvas_hw: tuple[int, int]) -> np.ndarray:
    """Float ``(H, W, 3)`` background: colour gradient, blotchy texture, grain and a few lines.

    The clutter keeps a shape classifier from succeeding on a plain edge detector; it is
    kept mild enough that 48 images per class suffice to learn the shapes.
    """
    height, width = canvas_hw
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    theta = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (math.cos(theta) * xs / width + math.sin(theta) * ys / height + 1.0) / 2.0
    canvas = start + (end - start) * ramp[..., None]
    canvas += noise_texture(rng, canvas_hw, cell=int(rng.integers(4, 16)), amplitude=15.0)
    canvas += rng.normal(0.0, rng.uniform(2.0, 6.0), canvas.shape)
    for _ in range(int(rng.integers(0, 3))):
        p1 = _pt(rng.uniform(0, width), rng.uniform(0, height))
        p2 = _pt(rng.uniform(0, width), rng.uniform(0, height))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.line(canvas, p1, p2, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return canvas


def paint(canvas: np.ndarray, stencil: np.ndarray, colour: np.ndarray, softness: float) -> None:
    """Paint ``colour`` (RGB, or a per-pixel ``(H, W, 3)`` fill) into ``canvas`` through a stencil.

    The stencil edge is blurred by ``softness`` pixels so shapes look anti-aliased.
    """
    alpha = stencil.astype(np.float32)
    if softness > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), softness)
    canvas += (np.asarray(colour, np.float32) - canvas) * alpha[..., None]


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    """Round and clip a float canvas to a uint8 image."""
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def _place(
    points: list[tuple[float, float]],
    center: tuple[float, float],
    radius: float,
    angle: float,
) -> np.ndarray:
    """Scale unit-square points by ``radius``, rotate by ``angle`` and move to ``center``."""
    unit = np.asarray(points, np.float64)
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = unit @ np.array([[cos, sin], [-sin, cos]])
    return np.rint(rotated * radius + np.asarray(center)).astype(np.int32)


def _regular_polygon(
    sides: int, center: tuple[float, float], radius: float, angle: float
) -> np.ndarray:
    steps = [2 * math.pi * i / sides for i in range(sides)]
    return _place([(math.cos(t), math.sin(t)) for t in steps], center, radius, angle)


def _star(center: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    points = []
    for i in range(10):
        reach = 1.0 if i % 2 == 0 else 0.42
        t = math.pi * i / 5
        points.append((reach * math.cos(t), reach * math.sin(t)))
    return _place(points, center, radius, angle)


def _fill_polygon(stencil: np.ndarray, points: np.ndarray) -> None:
    cv2.fillPoly(stencil, [points], 1)


def _periodic_bands(
    canvas_hw: tuple[int, int], center: tuple[float, float], period: float, angle: float
) -> np.ndarray:
    """uint8 map that is 1 on every other band of width ``period / 2`` along ``angle``."""
    height, width = canvas_hw
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (xs - center[0]) * math.cos(angle) + (ys - center[1]) * math.sin(angle)
    return (np.floor(along / (period / 2.0)) % 2 == 0).astype(np.uint8)
