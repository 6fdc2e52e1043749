"""Minimal line charts with Pillow (the host venv has no matplotlib)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def colours(names: list[str]) -> dict[str, tuple[int, int, int]]:
    """One colour per method, the name before "+": "uce", "uce+lines" and "uce+prior" share one, "oce" has another."""
    methods = list(dict.fromkeys(n.partition("+")[0] for n in names))
    return {n: COLOURS[methods.index(n.partition("+")[0]) % len(COLOURS)] for n in names}


def _font(size):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def panel(draw: ImageDraw.ImageDraw, box, title: str, xs: list[float], series: dict[str, list[float | None]],
          ylim=(0.0, 1.0), xlabel: str = "k (concepts erased)", hline: float | None = None,
          hline_label: str | None = None, ylabel: str = "", bands: list[tuple[float, float]] | None = None,
          colour: dict | None = None):
    """One chart in ``box`` (x0, y0, x1, y1); x on an evenly spaced categorical axis; ``colour`` per series
    (default ``colours`` of the series' names)."""
    x0, y0, x1, y1 = box
    f, fs = _font(15), _font(12)
    draw.text((x0 + 50, y0 + 4), title, fill="black", font=f)
    px0, py0, px1, py1 = x0 + 50, y0 + 28, x1 - 10, y1 - 40
    draw.rectangle([px0, py0, px1, py1], outline="black")
    lo, hi = ylim

    def X(i):
        return px0 + 20 + i * (px1 - px0 - 40) / max(1, len(xs) - 1)

    def Y(v):
        return py1 - (v - lo) / (hi - lo) * (py1 - py0)

    for lo_b, hi_b in bands or []:
        draw.rectangle([px0 + 1, Y(hi_b), px1 - 1, Y(lo_b)], fill=(235, 245, 235))
    for t in range(6):
        v = lo + (hi - lo) * t / 5
        draw.line([px0, Y(v), px1, Y(v)], fill=(225, 225, 225))
        draw.text((x0 + 8, Y(v) - 7), f"{v:.1f}" if hi - lo <= 2 else f"{v:.0f}", fill="black", font=fs)
    for i, x in enumerate(xs):
        draw.text((X(i) - 6, py1 + 4), f"{x:g}", fill="black", font=fs)
    draw.text(((px0 + px1) / 2 - 50, py1 + 20), xlabel, fill="black", font=fs)
    if ylabel:
        draw.text((x0 + 4, y0 + 14), ylabel, fill=(90, 90, 90), font=fs)
    if hline is not None:
        for sx in range(int(px0), int(px1), 8):
            draw.line([sx, Y(hline), sx + 4, Y(hline)], fill=(90, 90, 90))
        if hline_label:
            draw.text((px1 - 150, Y(hline) - 15), hline_label, fill=(90, 90, 90), font=fs)
    colour = colour or colours(list(series))
    for name, ys in series.items():
        col = colour[name]
        pts = [(X(i), Y(min(max(y, lo), hi))) for i, y in enumerate(ys) if y is not None]
        if len(pts) > 1:
            draw.line(pts, fill=col, width=3)
        for p in pts:
            draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=col)


def legend(draw, xy, names: list[str], width: int):
    """Each name's line sample (``colours``) and name, wrapped into rows within ``width`` pixels; returns the height
    used."""
    f = _font(14)
    x0, y = xy
    x = x0
    colour = colours(names)
    for name in names:
        w = 40 + 8 * len(name)
        if x + w > x0 + width and x > x0:
            x, y = x0, y + 20
        draw.line([(x, y + 8), (x + 26, y + 8)], fill=colour[name], width=3)
        draw.text((x + 32, y), name, fill="black", font=f)
        x += w
    return y + 20 - xy[1]


def figure(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (width, height), "white")
    return img, ImageDraw.Draw(img)
