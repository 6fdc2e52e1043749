"""ScaPre Erasure Preview: the labelled grid (nodes/preview_grid.py, a pure function, tested here directly) and the
node on the real host, whose "before" column is exactly what a graph without ScaPre draws and whose "after" column
is what the stock KSampler draws with the edited model; a grid over the limit is refused before any sampling, and
an interrupted preview stops."""

from __future__ import annotations

import json
import time
import urllib.request

import numpy as np
import pytest
import torch
from host_helpers import error_message, images, run_ok

from harness import paths
from harness.server import ComfyServer
from nodes import preview_grid as grid
from nodes.preview_grid import GridTooLarge, Row, check_grid_size, erasure_grid, grid_size, zoom_for


def batches(rows: int, samples: int, height: int, width: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(samples, height, width, 3, generator=g) for _ in range(rows)]


def tile_origin(row: int, side: int, sample: int, samples: int, width: int, height: int, zoom: int):
    """Top-left pixel of one sample in the grid (side 0: before, 1: after), from the module's layout constants."""
    side_width = samples * width * zoom + (samples - 1) * grid.SAMPLE_GAP
    x = grid.MARGIN + grid.LABEL_WIDTH + side * (side_width + grid.SIDE_GAP) + sample * (width * zoom + grid.SAMPLE_GAP)
    y = grid.MARGIN + grid.HEADER_HEIGHT + row * (max(height * zoom, 2 * grid.LINE_HEIGHT) + grid.ROW_GAP)
    return x, y


def as_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.numpy() * 255).round().astype(np.uint8)


ROWS = [Row("golf ball", erased=True), Row("Claude Monet", erased=True, anchor="painting"),
        Row("tennis ball", erased=False)]


def test_every_sample_is_in_its_row_and_column():
    before, after = batches(3, 2, 40, 48, seed=0), batches(3, 2, 40, 48, seed=1)
    out = erasure_grid(ROWS, before, after, zoom=2)
    assert out.shape == (1, *grid_size(3, 2, 48, 40, 2)[::-1], 3) and out.dtype == torch.float32
    pixels = as_uint8(out[0])
    for r in range(3):
        for side, source in enumerate((before, after)):
            for j in range(2):
                x, y = tile_origin(r, side, j, 2, 48, 40, 2)
                expected = as_uint8(source[r][j]).repeat(2, axis=0).repeat(2, axis=1)
                assert np.array_equal(pixels[y:y + 80, x:x + 96], expected), (r, side, j)


def _ink(pixels: np.ndarray, colour) -> np.ndarray:
    """Where the pixels are close to `colour` (anti-aliased text included)."""
    return np.abs(pixels.astype(int) - np.array(colour)).sum(axis=-1) < 120


def test_rows_are_labelled_erased_or_kept_and_columns_before_and_after():
    out = as_uint8(erasure_grid(ROWS, batches(3, 1, 64, 64, 0), batches(3, 1, 64, 64, 1), zoom=2)[0])
    for r, row in enumerate(ROWS):
        _, y = tile_origin(r, 0, 0, 1, 64, 64, 2)
        tag = out[y:y + grid.LINE_HEIGHT, :grid.MARGIN + grid.LABEL_WIDTH]
        assert _ink(tag, grid.ERASED if row.erased else grid.KEPT).sum() > 20
        assert _ink(tag, grid.KEPT if row.erased else grid.ERASED).sum() == 0
        prompt = out[y + grid.LINE_HEIGHT:y + 2 * grid.LINE_HEIGHT, :grid.MARGIN + grid.LABEL_WIDTH]
        inked_rows = np.nonzero(_ink(prompt, grid.TEXT).any(axis=1))[0]
        assert inked_rows.max() - inked_rows.min() >= 10  # letters at least 10 px tall: legible at 100 %
    wide = [Row("Claude Monet", True, "painting")]
    anchored = as_uint8(erasure_grid(wide, batches(1, 1, 64, 64, 0), batches(1, 1, 64, 64, 1), zoom=2)[0])
    plain = as_uint8(erasure_grid([Row("Claude Monet", True)], batches(1, 1, 64, 64, 0), batches(1, 1, 64, 64, 1),
                                  zoom=2)[0])
    assert _ink(anchored, grid.ERASED).sum() > _ink(plain, grid.ERASED).sum()  # "erased -> painting"
    header = out[grid.MARGIN:grid.MARGIN + grid.HEADER_HEIGHT]
    for side in (0, 1):
        x, _ = tile_origin(0, side, 0, 1, 64, 64, 2)
        assert _ink(header[:, x:x + 128], grid.TEXT).sum() > 20  # "before", "after"
    assert not _ink(header[:, :grid.MARGIN + grid.LABEL_WIDTH], grid.TEXT).any()


def test_a_long_prompt_is_wrapped_and_cut_inside_its_label():
    long = Row("a painting of a landscape with mountains, a lake, a small wooden house, tall pine trees, clouds "
               "at sunset, a boat and a fisherman, in the style of nobody in particular", erased=False)
    out = as_uint8(erasure_grid([long], batches(1, 1, 64, 64, 0), batches(1, 1, 64, 64, 0), zoom=1)[0])
    label = out[:, :grid.MARGIN + grid.LABEL_WIDTH]
    assert not _ink(label[:, grid.LABEL_WIDTH:], grid.TEXT).any()  # nothing runs into the samples
    _, y = tile_origin(0, 0, 0, 1, 64, 64, 1)
    bands = {i: out[y + i * grid.LINE_HEIGHT:y + (i + 1) * grid.LINE_HEIGHT, :grid.LABEL_WIDTH]
             for i in range(1, 64 // grid.LINE_HEIGHT + 1)}
    text_lines = [i for i, band in bands.items() if _ink(band, grid.TEXT).any()]
    assert text_lines == [1, 2]  # the tag line, then what fits in a 64 px row: the rest is cut with "..."


def test_small_samples_are_enlarged_to_a_row_a_label_fits_in():
    assert (zoom_for(64), zoom_for(128), zoom_for(512), zoom_for(16), zoom_for(100)) == (2, 1, 1, 8, 2)


def test_a_grid_over_the_limit_is_refused():
    with pytest.raises(GridTooLarge, match=r"4416 x 49340 px \(217\.9 megapixels: 24 prompts, 2 sample\(s\) of "
                                           r"1024 x 2048 per side\), more than the limit of 40 megapixels"):
        check_grid_size(24, 2, 1024, 2048)
    check_grid_size(55, 1, 512, 512)  # the documented example fits
    with pytest.raises(ValueError, match="one before and one after batch per row"):
        erasure_grid(ROWS, batches(2, 1, 8, 8, 0), batches(3, 1, 8, 8, 0))
    with pytest.raises(ValueError, match="of the same shape"):
        erasure_grid(ROWS[:1], batches(1, 1, 8, 8, 0), batches(1, 2, 8, 8, 0))


# --- the node on the real host ---------------------------------------------------------------------------------

PREVIEW = {"seed": 5, "steps": 2, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "width": 32,
           "height": 32, "samples": 2, "preserved": 1}
CONCEPTS = "golf ball\nchurch -> a building\n+ tennis ball\n+ a dog\n"
SHOWN = ["golf ball", "church", "tennis ball"]  # every erased prompt, then `preserved` kept ones


def stock_branch(graph: dict, name: str, model: list, prompt: str) -> None:
    """CLIPTextEncode -> KSampler (EmptyLatentImage, PREVIEW's settings) -> VAEDecode -> SaveImage, as node `name`."""
    graph[f"{name}_text"] = {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["ckpt", 1]}}
    graph[f"{name}_sample"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": [f"{name}_text", 0], "negative": ["blank", 0], "latent_image": ["latent", 0],
        "denoise": 1.0, **{k: PREVIEW[k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler")}}}
    graph[f"{name}_px"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"{name}_sample", 0], "vae": ["ckpt", 2]}}
    graph[name] = {"class_type": "SaveImage", "inputs": {"images": [f"{name}_px", 0], "filename_prefix": name}}


def base_graph() -> dict:
    return {"ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SD15}},
            "blank": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
            "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                                    "batch_size": PREVIEW["samples"]}}}


def preview_graph(**changes) -> dict:
    graph = base_graph()
    graph["concepts"] = {"class_type": "ScaPreConceptList", "inputs": {"text": CONCEPTS, "preset": "none"}}
    graph["unlearn"] = {"class_type": "ScaPreUnlearn", "inputs": {"model": ["ckpt", 0], "clip": ["ckpt", 1],
                                                                  "concepts": ["concepts", 0], "recipe": "uce",
                                                                  "strength": 1.0, "seed": 0}}
    graph["preview"] = {"class_type": "ScaPreErasurePreview", "inputs": {
        "original": ["ckpt", 0], "edited": ["unlearn", 0], "clip": ["ckpt", 1], "vae": ["ckpt", 2],
        "concepts": ["concepts", 0], **PREVIEW, **changes}}
    graph["grid"] = {"class_type": "SaveImage", "inputs": {"images": ["preview", 0], "filename_prefix": "grid"}}
    return graph


def cut_tiles(picture: np.ndarray, rows: int, samples: int, size: int) -> dict:
    """{(row, side): [samples, size, size, 3]} from a saved grid, each tile shrunk back by its zoom."""
    zoom = zoom_for(size)
    return {(r, side): np.stack([picture[y:y + size * zoom:zoom, x:x + size * zoom:zoom]
                                 for x, y in (tile_origin(r, side, j, samples, size, size, zoom)
                                              for j in range(samples))])
            for r in range(rows) for side in (0, 1)}


def test_the_columns_are_what_stock_samplers_draw(host, tmp_path):
    """In a server without caching: a graph without ScaPre first, then the preview beside stock samplers."""
    plain = base_graph()
    stock_branch(plain, "plain", ["ckpt", 0], SHOWN[0])
    graph = preview_graph()
    for i, prompt in enumerate(SHOWN):
        stock_branch(graph, f"original{i}", ["ckpt", 0], prompt)
        stock_branch(graph, f"edited{i}", ["unlearn", 0], prompt)
    with ComfyServer(["--output-directory", tmp_path, "--cache-none"]) as server:
        server.output_dir = tmp_path
        without_scapre = np.stack(images(server, run_ok(server, plain), "plain"))
        entry = run_ok(server, graph)
        (picture,) = images(server, entry, "grid")
    assert picture.shape[:2][::-1] == grid_size(3, 2, 32, 32, zoom_for(32))
    tiles = cut_tiles(picture, 3, 2, 32)
    for i in range(3):
        original = np.stack(images(server, entry, f"original{i}"))
        edited = np.stack(images(server, entry, f"edited{i}"))
        # the grid rounds where SaveImage truncates: at most 1 apart
        assert np.abs(tiles[(i, 0)].astype(int) - original).max() <= 1, SHOWN[i]
        assert np.abs(tiles[(i, 1)].astype(int) - edited).max() <= 1, SHOWN[i]
    assert np.array_equal(np.stack(images(server, entry, "original0")), without_scapre)  # the input model is untouched
    assert not np.array_equal(tiles[(0, 0)], tiles[(0, 1)])  # the edit changed the erased prompt's samples
    assert len(images(server, entry, "grid")) == 1


def test_a_grid_over_the_limit_is_refused_before_sampling(comfy_server):
    log_start = len(comfy_server.log_text())
    message = error_message(comfy_server.run(preview_graph(width=4096, height=4096, samples=8, seed=11)))
    assert "the preview grid would be" in message and "more than the limit of 40 megapixels" in message
    assert "lower width and height" in message
    assert "/2 [" not in comfy_server.log_text()[log_start:]  # no sampler started (its progress bar: "0/2 [")


def test_an_interrupted_preview_stops(comfy_server):
    graph = base_graph()
    graph["concepts"] = {"class_type": "ScaPreConceptList", "inputs": {"text": "golf ball\n", "preset": "none"}}
    graph["preview"] = {"class_type": "ScaPreErasurePreview", "inputs": {
        "original": ["ckpt", 0], "edited": ["ckpt", 0], "clip": ["ckpt", 1], "vae": ["ckpt", 2],
        "concepts": ["concepts", 0], **PREVIEW, "steps": 2000, "width": 16, "height": 16, "samples": 1,
        "seed": time.time_ns() % 2**32}}
    graph["grid"] = {"class_type": "SaveImage", "inputs": {"images": ["preview", 0], "filename_prefix": "stopped"}}
    log_start = len(comfy_server.log_text())
    prompt_id = comfy_server.queue(graph)["prompt_id"]
    deadline = time.monotonic() + 300
    while "/2000 [" not in comfy_server.log_text()[log_start:]:  # the sampler's progress: sampling has begun
        assert time.monotonic() < deadline, comfy_server.log_text()[-3000:]
        time.sleep(0.2)
    urllib.request.urlopen(urllib.request.Request(comfy_server.url + "/interrupt", data=b"{}", method="POST"),
                           timeout=30).read()
    while not (entry := json.loads(urllib.request.urlopen(f"{comfy_server.url}/history/{prompt_id}",
                                                          timeout=30).read()).get(prompt_id)):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    events = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in events and "execution_success" not in events
    assert "2000/2000" not in comfy_server.log_text()[log_start:]
