"""The labelled before/after grid of ScaPre Erasure Preview, as a pure function (torch, numpy and Pillow only).

    from nodes.preview_grid import Row, erasure_grid
    grid = erasure_grid([Row("a red circle", erased=True), Row("a blue circle", erased=False)],
                        before=[images_0, images_1], after=[edited_0, edited_1], zoom=3)

`before[i]` and `after[i]` are ComfyUI IMAGE tensors [samples, H, W, 3] (float, 0..1) of row i's prompt, from the
original and the edited model at the same seeds. The result is one IMAGE [1, height, width, 3]: a header row
("before" over the original model's samples, "after" over the edited model's), then a row per prompt, labelled
on the left with "erased" (red, with "-> anchor" when it has one) or "kept" (green) and the prompt. `zoom`
enlarges every sample by a whole factor (nearest neighbour) so that small images stay visible; the labels keep
their size (16 px text, legible at 100 %). This module imports nothing from ComfyUI or the rest of the pack, so
a script with the repository on sys.path can import it as `nodes.preview_grid` outside ComfyUI.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

MAX_MEGAPIXELS = 40
"""The largest grid made: 40 million pixels, e.g. about 55 rows of one 512 x 512 sample per side."""
MIN_ROW_HEIGHT = 128
"""Samples shorter than this are enlarged by ``zoom_for`` so that a row has room for its label."""

LABEL_WIDTH = 280
HEADER_HEIGHT = 34
MARGIN = 8
SAMPLE_GAP = 4
SIDE_GAP = 16
ROW_GAP = 6
TEXT_SIZE = 16
LINE_HEIGHT = 20
BACKGROUND, TEXT, ERASED, KEPT = (255, 255, 255), (32, 32, 32), (179, 38, 30), (27, 110, 32)
# A font with accents and many scripts, by file name as the operating systems install them; Pillow's built-in
# font (ASCII only: other letters lose their accents) when none is found.
FONT_FILES = ("DejaVuSans.ttf", "arial.ttf", "Arial.ttf", "Helvetica.ttc", "LiberationSans-Regular.ttf")


class GridTooLarge(ValueError):
    """The grid asked for would exceed MAX_MEGAPIXELS."""


@dataclass(frozen=True)
class Row:
    """One prompt of the grid: erased (towards `anchor`, None for the blank prompt) or kept."""

    prompt: str
    erased: bool
    anchor: str | None = None


def zoom_for(height: int) -> int:
    """The smallest whole enlargement that makes samples `height` px tall at least MIN_ROW_HEIGHT."""
    return max(1, math.ceil(MIN_ROW_HEIGHT / height))


def grid_size(rows: int, samples: int, width: int, height: int, zoom: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of the grid for `rows` prompts of `samples` samples of width x height per side."""
    side = samples * width * zoom + (samples - 1) * SAMPLE_GAP
    row = max(height * zoom, LINE_HEIGHT * 2)
    return (MARGIN + LABEL_WIDTH + 2 * side + SIDE_GAP + MARGIN,
            MARGIN + HEADER_HEIGHT + rows * row + (rows - 1) * ROW_GAP + MARGIN)


def check_grid_size(rows: int, samples: int, width: int, height: int, zoom: int = 1) -> None:
    """Raise GridTooLarge, saying what to lower, when the grid would exceed MAX_MEGAPIXELS."""
    w, h = grid_size(rows, samples, width, height, zoom)
    if w * h > MAX_MEGAPIXELS * 1e6:
        raise GridTooLarge(
            f"the preview grid would be {w} x {h} px ({w * h / 1e6:.1f} megapixels: {rows} prompts, {samples} "
            f"sample(s) of {width} x {height} per side), more than the limit of {MAX_MEGAPIXELS} megapixels; "
            "lower width and height or samples, show fewer preserved prompts, or preview a shorter concept list")


@functools.cache
def _font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """(the font at `size` px, whether it has more than ASCII)."""
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size), True
        except OSError:
            continue
    return ImageFont.load_default(size), False


def _printable(text: str, unicode: bool) -> str:
    """`text`, or with ASCII only its letters without accents ('Édouard' -> 'Edouard'), not boxes."""
    return text if unicode else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, lines: int) -> list[str]:
    """`text` in at most `lines` lines of at most `width` px, broken between words; '...' ends a cut text."""
    out, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not current:
            current = candidate
        else:
            out.append(current)
            current = word
    out.append(current)
    if len(out) > lines:
        out = out[:lines]
        last = out[-1]
        while last and draw.textlength(last + "...", font=font) > width:
            last = last[:-1]
        out[-1] = last.rstrip() + "..."
    return out


def _pixels(images: torch.Tensor, zoom: int) -> np.ndarray:
    """IMAGE [n, H, W, 3] (0..1) -> uint8 [n, H*zoom, W*zoom, 3]."""
    array = (images.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return array.repeat(zoom, axis=1).repeat(zoom, axis=2)


def erasure_grid(rows: list[Row], before: list[torch.Tensor], after: list[torch.Tensor], zoom: int = 1) -> torch.Tensor:
    """The labelled grid, an IMAGE [1, height, width, 3]; see the module docstring."""
    if not rows or len(before) != len(rows) or len(after) != len(rows):
        raise ValueError(f"erasure_grid needs one before and one after batch per row: {len(rows)} rows, "
                         f"{len(before)} before, {len(after)} after")
    shapes = {tuple(t.shape) for t in (*before, *after)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[3] != 3:
        raise ValueError(f"every batch must be an IMAGE [samples, H, W, 3] of the same shape, got {sorted(shapes)}")
    samples, height, width, _ = next(iter(shapes))
    check_grid_size(len(rows), samples, width, height, zoom)
    size = grid_size(len(rows), samples, width, height, zoom)
    canvas = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    (font, unicode), (header_font, _) = _font(TEXT_SIZE), _font(TEXT_SIZE + 2)
    side = samples * width * zoom + (samples - 1) * SAMPLE_GAP
    x_before = MARGIN + LABEL_WIDTH
    x_after = x_before + side + SIDE_GAP
    for x, title in ((x_before, "before"), (x_after, "after")):
        draw.text((x + side / 2, MARGIN + HEADER_HEIGHT / 2), title, font=header_font, fill=TEXT, anchor="mm")
    row_height = max(height * zoom, LINE_HEIGHT * 2)
    y = MARGIN + HEADER_HEIGHT
    for row, original, edited in zip(rows, before, after):
        tag = ("erased" + (f" -> {row.anchor}" if row.anchor else "")) if row.erased else "kept"
        tag_lines = _wrap(draw, _printable(tag, unicode), font, LABEL_WIDTH - MARGIN, 1)
        draw.text((MARGIN, y), tag_lines[0], font=font, fill=ERASED if row.erased else KEPT)
        prompt_lines = _wrap(draw, _printable(row.prompt, unicode), font, LABEL_WIDTH - MARGIN,
                             max(1, row_height // LINE_HEIGHT - 1))
        for i, line in enumerate(prompt_lines, start=1):
            draw.text((MARGIN, y + i * LINE_HEIGHT), line, font=font, fill=TEXT)
        for x0, batch in ((x_before, original), (x_after, edited)):
            for j, tile in enumerate(_pixels(batch, zoom)):
                canvas.paste(Image.fromarray(tile), (x0 + j * (width * zoom + SAMPLE_GAP), y))
        y += row_height + ROW_GAP
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).unsqueeze(0)
