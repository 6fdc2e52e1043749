"""The synthetic world: 10 shapes x 6 colours = 60 (colour, shape) concepts, a seeded renderer, prompts.

Every image is 64 x 64 RGB: one filled shape in one of six colours on a flat dark-grey background, with a
little jitter in size, position, rotation, colour and background level. Rendering draws a 4x supersampled
mask with PIL and box-filters it down (anti-aliased edges), so the same seed gives the same pixels.

Look-alike pairs (by design): circle / ring (a ring is a circle with a hole) and square / diamond (a diamond
is a square stood on its corner, slightly taller than wide).

Pure numpy + Pillow; no torch, no ComfyUI.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SS = 4  # supersampling factor of the mask
SHAPES = ("circle", "ring", "square", "diamond", "triangle", "star", "cross", "heart", "crescent", "arrow")
COLOURS = ("red", "green", "blue", "yellow", "purple", "white")
NONE = len(SHAPES)  # the oracle's "no shape" class index
SHAPE_CLASSES = SHAPES + ("none",)
PALETTE = {
    "red": (0.90, 0.12, 0.10),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.15, 0.35, 0.95),
    "yellow": (0.95, 0.88, 0.12),
    "purple": (0.62, 0.20, 0.85),
    "white": (0.95, 0.95, 0.95),
}
LOOKALIKE_PAIRS = (("circle", "ring"), ("square", "diamond"))
CONCEPTS = tuple((c, s) for s in SHAPES for c in COLOURS)  # concept index = shape * 6 + colour


def prompt(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


PROMPTS = tuple(prompt(c, s) for c, s in CONCEPTS)


def concept_index(colour: str, shape: str) -> int:
    return SHAPES.index(shape) * len(COLOURS) + COLOURS.index(colour)


def partner(shape: str) -> str | None:
    """The designed look-alike of a shape (circle <-> ring, square <-> diamond), else None."""
    for a, b in LOOKALIKE_PAIRS:
        if shape == a:
            return b
        if shape == b:
            return a
    return None


# --- geometry ---------------------------------------------------------------------------------------------

def _regular(n: int, r: float, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]


def _star(r: float) -> list[tuple[float, float]]:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else 0.42 * r
        a = -math.pi / 2 + math.pi * i / 5
        pts.append((rad * math.cos(a), rad * math.sin(a)))
    return pts


def _heart(r: float) -> list[tuple[float, float]]:
    pts = []
    for i in range(64):
        t = 2 * math.pi * i / 64
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 16 * r, -(y + 2.5) / 16 * r))  # image y points down; centre the heart vertically
    return pts


def _polygon(shape: str, r: float) -> list[list[tuple[float, float]]]:
    """Polygons (unit-free offsets from the centre) whose union is the shape; circles are handled apart."""
    if shape == "square":
        h = 0.80 * r
        return [[(-h, -h), (h, -h), (h, h), (-h, h)]]
    if shape == "diamond":
        return [[(0, -1.05 * r), (0.75 * r, 0), (0, 1.05 * r), (-0.75 * r, 0)]]
    if shape == "triangle":
        return [[(x, y + 0.15 * r) for x, y in _regular(3, 1.12 * r)]]
    if shape == "star":
        return [_star(1.1 * r)]
    if shape == "cross":
        a, w = 1.0 * r, 0.32 * r
        return [[(-a, -w), (a, -w), (a, w), (-a, w)], [(-w, -a), (w, -a), (w, a), (-w, a)]]
    if shape == "heart":
        return [_heart(1.05 * r)]
    if shape == "arrow":
        return [[(-r, -0.28 * r), (0.15 * r, -0.28 * r), (0.15 * r, -0.75 * r), (r, 0),
                 (0.15 * r, 0.75 * r), (0.15 * r, 0.28 * r), (-r, 0.28 * r)]]
    raise ValueError(shape)


def _rotate(pts, angle, cx, cy):
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + ca * x - sa * y, cy + sa * x + ca * y) for x, y in pts]


def shape_mask(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1], float32 [SIZE, SIZE], of one shape (pixel units, y down)."""
    big = SIZE * SS
    img = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(img)
    cx, cy, r = cx * SS, cy * SS, r * SS

    def disk(x, y, rad, fill):
        d.ellipse([x - rad, y - rad, x + rad, y + rad], fill=fill)

    if shape == "circle":
        disk(cx, cy, r, 255)
    elif shape == "ring":
        disk(cx, cy, r, 255)
        disk(cx, cy, 0.55 * r, 0)
    elif shape == "crescent":
        disk(cx, cy, r, 255)
        ox, oy = _rotate([(0.48 * r, -0.12 * r)], angle, 0, 0)[0]
        disk(cx + ox, cy + oy, 0.86 * r, 0)
    else:
        for poly in _polygon(shape, r):
            d.polygon(_rotate(poly, angle, cx, cy), fill=255)
    small = img.resize((SIZE, SIZE), Image.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def blob_mask(rng: np.random.Generator) -> np.ndarray:
    """An irregular blob (strong low-frequency radial wobble): the oracle's "none" class."""
    big = SIZE * SS
    img = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(img)
    cx, cy = (SIZE / 2 + rng.uniform(-8, 8)) * SS, (SIZE / 2 + rng.uniform(-8, 8)) * SS
    r0 = rng.uniform(12, 24) * SS
    ks = rng.choice([2, 3, 4, 6, 7], size=3, replace=False)  # no 5: that wobble reads as a star
    amps = rng.uniform(0.15, 0.35, size=3)
    phases = rng.uniform(0, 2 * math.pi, size=3)
    pts = []
    for i in range(96):
        t = 2 * math.pi * i / 96
        rad = r0 * (1 + sum(a * math.cos(k * t + p) for a, k, p in zip(amps, ks, phases)))
        pts.append((cx + rad * math.cos(t), cy + rad * math.sin(t)))
    d.polygon(pts, fill=255)
    return np.asarray(img.resize((SIZE, SIZE), Image.BOX), dtype=np.float32) / 255.0


def scribble_mask(rng: np.random.Generator) -> np.ndarray:
    """A few thick random strokes: another "none" example."""
    big = SIZE * SS
    img = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(img)
    pts = [tuple(rng.uniform(8, SIZE - 8, size=2) * SS) for _ in range(rng.integers(3, 6))]
    d.line(pts, fill=255, width=int(rng.uniform(2, 5) * SS), joint="curve")
    return np.asarray(img.resize((SIZE, SIZE), Image.BOX), dtype=np.float32) / 255.0


# --- sampling of scenes -----------------------------------------------------------------------------------

def _background(rng) -> np.ndarray:
    return np.full(3, rng.uniform(0.12, 0.32), dtype=np.float32) + rng.uniform(-0.02, 0.02, size=3).astype(np.float32)


def _colour(rng, name) -> np.ndarray:
    return np.clip(np.array(PALETTE[name], dtype=np.float32) + rng.uniform(-0.05, 0.05, size=3), 0, 1).astype(np.float32)


def compose(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """HWC float32 image in [0, 1]."""
    m = mask[..., None]
    return (m * fg[None, None] + (1 - m) * bg[None, None]).astype(np.float32)


def render(colour: str, shape: str, rng: np.random.Generator) -> np.ndarray:
    """One random image of the concept, HWC float32 in [0, 1]."""
    r = rng.uniform(0.30, 0.38) * SIZE
    cx = SIZE / 2 + rng.uniform(-4, 4)
    cy = SIZE / 2 + rng.uniform(-4, 4)
    angle = math.radians(rng.uniform(-12, 12))
    return compose(shape_mask(shape, cx, cy, r, angle), _colour(rng, colour), _background(rng))


def render_none(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One "no shape" image and its colour index (-1 when there is no coloured object)."""
    kind = rng.integers(0, 4)
    bg = _background(rng)
    if kind == 0:  # empty background
        return np.broadcast_to(bg, (SIZE, SIZE, 3)).astype(np.float32).copy(), -1
    c = int(rng.integers(0, len(COLOURS)))
    fg = _colour(rng, COLOURS[c])
    if kind == 1 or kind == 2:
        return compose(blob_mask(rng), fg, bg), c
    return compose(scribble_mask(rng), fg, bg), c


def dataset(per_concept: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_concept`` renders of every concept: (uint8 images [N, 64, 64, 3], concept index [N]).

    Image i of concept j uses its own generator seeded from (seed, j, i), so any prefix is reproducible.
    """
    n = len(CONCEPTS) * per_concept
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(per_concept):
        for j, (c, s) in enumerate(CONCEPTS):
            rng = np.random.default_rng([seed, j, i])
            images[k] = np.round(render(c, s, rng) * 255).astype(np.uint8)
            labels[k] = j
            k += 1
    return images, labels


def none_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [n, 64, 64, 3], colour index or -1 [n]) of "no shape" images."""
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    colours = np.empty(n, dtype=np.int64)
    for i in range(n):
        img, c = render_none(np.random.default_rng([seed, 1000, i]))
        images[i] = np.round(img * 255).astype(np.uint8)
        colours[i] = c
    return images, colours


def grid(images: np.ndarray, cols: int) -> np.ndarray:
    """Tile uint8 HWC images into one image (row-major), with a 2-px black border."""
    n = len(images)
    rows = (n + cols - 1) // cols
    h, w = images.shape[1:3]
    out = np.zeros((rows * (h + 2) + 2, cols * (w + 2) + 2, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + c * (w + 2):2 + c * (w + 2) + w] = im
    return out
