"""The synthetic world (v2): 12 shapes in look-alike triples x 6 colours x 4 styles = 288 concepts, three
phrasings each, and a seeded renderer.

Every image is 64 x 64 RGB: one shape in one colour and one rendering style on a flat dark-grey background,
with a little jitter in size, position, rotation, colour and background level. Masks are drawn
4x supersampled with PIL and box-filtered down (anti-aliased edges), so the same seed gives the same pixels.

Axes:
* shapes, in four look-alike groups of three (the analogue of ImageNet-Confuse5's groups of similar classes):
  round (circle, ring, oval), four-sided (square, diamond, rectangle), polygons (triangle, pentagon, hexagon),
  spiky (star, cross, asterisk);
* colours: red, green, blue, yellow, purple, white;
* styles (the analogue of an artist's style, erasable on its own): filled, outlined (a 2.5-px stroke),
  striped (diagonal stripes, period 16 px, inside a thin outline), dotted (a grid of dots, spacing 11 px, inside
  a thin outline), fixed to the image grid. Patterns finer than the 8-px latent cells were lost by the
  4-channel TAESD latent (toy/README.md, build attempts).

Prompts: a concept (colour, shape, style) has three phrasings, ``PHRASINGS``: "a striped red circle" (the
canonical one, shape last, as "an image of a golf ball"), "a red circle, striped" and "a circle in red,
striped"; the UNet is trained on all three and on partial prompts ("a red circle", "a striped circle",
"a circle"; ``partial_prompt``), whose unnamed attributes are random.

Pure numpy + Pillow + scipy (distance transform for the strokes); no torch, no ComfyUI.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SIZE = 64
SS = 4  # supersampling factor of the mask
SHAPE_GROUPS = (("circle", "ring", "oval"), ("square", "diamond", "rectangle"),
                ("triangle", "pentagon", "hexagon"), ("star", "cross", "asterisk"))
SHAPES = tuple(s for group in SHAPE_GROUPS for s in group)
COLOURS = ("red", "green", "blue", "yellow", "purple", "white")
STYLES = ("filled", "outlined", "striped", "dotted")
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
# concept index = (shape * len(COLOURS) + colour) * len(STYLES) + style
CONCEPTS = tuple((c, s, y) for s in SHAPES for c in COLOURS for y in STYLES)
PHRASINGS = ("{a} {style} {colour} {shape}", "{a} {colour} {shape}, {style}", "{a} {shape} in {colour}, {style}")
"""Templates of the three phrasings of a concept; the first is canonical (what the benchmarks erase)."""


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def prompt(colour: str, shape: str, style: str, phrasing: int = 0) -> str:
    """A concept's prompt in one of the PHRASINGS, e.g. "a striped red circle" (0), "a red circle, striped" (1),
    "a circle in red, striped" (2)."""
    template = PHRASINGS[phrasing]
    first = {0: style, 1: colour, 2: shape}[phrasing]
    return template.format(a=article(first), style=style, colour=colour, shape=shape)


def partial_prompt(colour: str | None, shape: str, style: str | None) -> str:
    """A prompt naming only some attributes: "a red circle", "a striped circle", "a circle", ..."""
    words = [w for w in (style, colour) if w] + [shape]
    return f"{article(words[0])} {' '.join(words)}"


PROMPTS = tuple(prompt(c, s, y) for c, s, y in CONCEPTS)
"""The canonical prompt of every concept, in concept order."""


def concept_index(colour: str, shape: str, style: str) -> int:
    return (SHAPES.index(shape) * len(COLOURS) + COLOURS.index(colour)) * len(STYLES) + STYLES.index(style)


def group_of(shape: str) -> tuple[str, str, str]:
    """The look-alike triple a shape belongs to."""
    return next(g for g in SHAPE_GROUPS if shape in g)


def neighbours(erased) -> list[int]:
    """What a careful user keeps when erasing concepts: for each erased (colour, shape, style), the same shape
    and style in the other colours, its two look-alike shapes, and the other styles; none of them erased."""
    out = []
    for j in erased:
        c, s, y = CONCEPTS[j]
        out += [concept_index(o, s, y) for o in COLOURS if o != c]
        out += [concept_index(c, t, y) for t in group_of(s) if t != s]
        out += [concept_index(c, s, o) for o in STYLES if o != y]
    return [j for j in dict.fromkeys(out) if j not in set(erased)]


def training_prompts() -> list[str]:
    """Every prompt the UNet is trained on: three phrasings of each concept and every partial prompt."""
    full = [prompt(c, s, y, k) for c, s, y in CONCEPTS for k in range(len(PHRASINGS))]
    partial = [partial_prompt(c, s, y) for s in SHAPES for c in (None, *COLOURS) for y in (None, *STYLES)
               if c is None or y is None]
    return list(dict.fromkeys(full + partial))


# --- geometry ---------------------------------------------------------------------------------------------

def _regular(n: int, r: float, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]


def _star(r: float) -> list[tuple[float, float]]:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else 0.45 * r
        a = -math.pi / 2 + math.pi * i / 5
        pts.append((rad * math.cos(a), rad * math.sin(a)))
    return pts


def _bar(length: float, width: float, angle: float) -> list[tuple[float, float]]:
    ca, sa = math.cos(angle), math.sin(angle)
    corners = [(-length, -width), (length, -width), (length, width), (-length, width)]
    return [(ca * x - sa * y, sa * x + ca * y) for x, y in corners]


def _polygon(shape: str, r: float) -> list[list[tuple[float, float]]]:
    """Polygons (offsets from the centre, y down) whose union is the shape; round shapes are handled apart."""
    if shape == "square":
        h = 0.80 * r
        return [[(-h, -h), (h, -h), (h, h), (-h, h)]]
    if shape == "diamond":
        return [[(0, -1.05 * r), (0.75 * r, 0), (0, 1.05 * r), (-0.75 * r, 0)]]
    if shape == "rectangle":
        return [[(-1.0 * r, -0.55 * r), (1.0 * r, -0.55 * r), (1.0 * r, 0.55 * r), (-1.0 * r, 0.55 * r)]]
    if shape == "triangle":
        return [[(x, y + 0.15 * r) for x, y in _regular(3, 1.12 * r)]]
    if shape == "pentagon":
        return [_regular(5, 1.0 * r)]
    if shape == "hexagon":
        return [_regular(6, 1.0 * r, phase=0.0)]
    if shape == "star":
        return [_star(1.12 * r)]
    if shape == "cross":
        return [_bar(1.0 * r, 0.22 * r, 0.0), _bar(1.0 * r, 0.22 * r, math.pi / 2)]
    if shape == "asterisk":
        return [_bar(1.0 * r, 0.2 * r, math.pi / 2 + k * math.pi / 3) for k in range(3)]
    raise ValueError(shape)


def _rotate(pts, angle, cx, cy):
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + ca * x - sa * y, cy + sa * x + ca * y) for x, y in pts]


def _big_mask(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean supersampled mask [SIZE*SS, SIZE*SS] of one shape (arguments in pixel units, y down)."""
    big = SIZE * SS
    img = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(img)
    cx, cy, r = cx * SS, cy * SS, r * SS

    def ellipse(rx, ry, fill):
        # an axis-aligned ellipse, rotated: drawn as a dense polygon
        pts = [(rx * math.cos(2 * math.pi * i / 96), ry * math.sin(2 * math.pi * i / 96)) for i in range(96)]
        d.polygon(_rotate(pts, angle, cx, cy), fill=fill)

    if shape == "circle":
        ellipse(r, r, 255)
    elif shape == "ring":
        ellipse(r, r, 255)
        ellipse(0.58 * r, 0.58 * r, 0)
    elif shape == "oval":
        ellipse(1.05 * r, 0.62 * r, 255)
    else:
        for poly in _polygon(shape, r):
            d.polygon(_rotate(poly, angle, cx, cy), fill=255)
    return np.asarray(img) > 127


def _downsample(big: np.ndarray) -> np.ndarray:
    img = Image.fromarray((big * 255).astype(np.uint8))
    return np.asarray(img.resize((SIZE, SIZE), Image.BOX), dtype=np.float32) / 255.0


def _stroke(big: np.ndarray, width: float) -> np.ndarray:
    """The part of a supersampled mask within ``width`` pixels of its edge."""
    inside = ndimage.distance_transform_edt(big)
    return big & (inside <= width * SS)


def styled_mask(shape: str, style: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1], float32 [SIZE, SIZE], of one shape in one style."""
    big = _big_mask(shape, cx, cy, r, angle)
    if style == "filled":
        return _downsample(big)
    if style == "outlined":
        return _downsample(_stroke(big, 2.5))
    n = SIZE * SS
    y, x = np.mgrid[0:n, 0:n] / SS
    if style == "striped":
        pattern = ((x + y) % 16.0) < 8.0
    elif style == "dotted":
        pattern = (x % 11.0 - 5.5) ** 2 + (y % 11.0 - 5.5) ** 2 <= 3.0 ** 2
    else:
        raise ValueError(style)
    return _downsample(_stroke(big, 1.3) | (big & pattern))


def blob_mask(rng: np.random.Generator) -> np.ndarray:
    """An irregular blob (strong low-frequency radial wobble): the oracle's "none" class."""
    big = SIZE * SS
    img = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(img)
    cx, cy = (SIZE / 2 + rng.uniform(-8, 8)) * SS, (SIZE / 2 + rng.uniform(-8, 8)) * SS
    r0 = rng.uniform(12, 24) * SS
    ks = rng.choice([2, 3, 4, 7], size=3, replace=False)  # no 5 or 6: those wobbles read as stars and hexagons
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
    return np.full(3, rng.uniform(0.12, 0.30), dtype=np.float32) + rng.uniform(-0.02, 0.02, size=3).astype(np.float32)


def _colour(rng, name) -> np.ndarray:
    return np.clip(np.array(PALETTE[name], dtype=np.float32) + rng.uniform(-0.05, 0.05, size=3), 0, 1).astype(np.float32)


def compose(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """HWC float32 image in [0, 1]."""
    m = mask[..., None]
    return (m * fg[None, None] + (1 - m) * bg[None, None]).astype(np.float32)


def render(colour: str, shape: str, style: str, rng: np.random.Generator) -> np.ndarray:
    """One random image of the concept, HWC float32 in [0, 1]."""
    r = rng.uniform(0.31, 0.37) * SIZE
    cx = SIZE / 2 + rng.uniform(-3, 3)
    cy = SIZE / 2 + rng.uniform(-3, 3)
    angle = math.radians(rng.uniform(-12, 12))
    return compose(styled_mask(shape, style, cx, cy, r, angle), _colour(rng, colour), _background(rng))


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
        for j, (c, s, y) in enumerate(CONCEPTS):
            rng = np.random.default_rng([seed, j, i])
            images[k] = np.round(render(c, s, y, rng) * 255).astype(np.uint8)
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


def labels_of(concepts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shape, colour, style) indices of concept indices."""
    concepts = np.asarray(concepts)
    return (concepts // (len(COLOURS) * len(STYLES)), (concepts // len(STYLES)) % len(COLOURS),
            concepts % len(STYLES))


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
