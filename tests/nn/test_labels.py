"""Label maps: palettes despite anti-aliasing and noise, matched regions, style targets."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gramstyle.errors import GramstyleError
from gramstyle.nn.backbone import features
from gramstyle.nn.labels import (
    load_labels,
    load_regions,
    masked_targets,
    palette_of,
    region_masks,
)
from gramstyle.nn.losses import normalized_gram
from gramstyle.nn.masks import mask_at, masked_style_cost

BLUE, GREEN, BLACK, WHITE, GREY, RED = (
    (0, 0, 255),
    (0, 255, 0),
    (0, 0, 0),
    (255, 255, 255),
    (128, 128, 128),
    (255, 0, 0),
)


def _map(rows: list[tuple[int, tuple[int, int, int]]], width: int) -> torch.Tensor:
    """Horizontal bands ``(height, colour)`` -> ``(1, 3, H, W)`` in [0, 1]."""
    bands = [
        torch.tensor(c, dtype=torch.float32).view(3, 1, 1).expand(3, h, width) for h, c in rows
    ]
    return (torch.cat(bands, dim=1) / 255)[None]


def _palette(m) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in m.palette}


def test_antialiased_edges_and_noise_are_not_labels():
    # Sky over trees over ground; each boundary a 1-px blend band (anti-aliasing), as
    # long as the image is wide: 1% of the pixels each, over the 0.1% share, yet no label.
    rgb = _map([(30, BLUE), (1, (0, 128, 128)), (30, GREEN), (1, (0, 64, 0)), (38, BLACK)], 100)
    # Noise around black (lossy formats): its own colours, within the merge distance.
    g = torch.Generator().manual_seed(0)
    rgb[..., 70:, :] += torch.randint(0, 4, (1, 1, 30, 100), generator=g) / 255
    labels = palette_of(rgb)
    assert _palette(labels) == {BLUE, GREEN, BLACK}
    index = labels.index
    colour = {i: tuple(int(v) for v in c) for i, c in enumerate(labels.palette)}
    assert colour[int(index[30, 50])] in (BLUE, GREEN)  # the blend: to a neighbour's label
    assert colour[int(index[31 + 30, 5])] in (GREEN, BLACK)
    assert colour[int(index[90, 7])] == BLACK  # the noise: merged
    shares = {colour[i]: float((index == i).float().mean()) for i in colour}
    assert shares[BLUE] == pytest.approx(0.30, abs=0.011)
    assert shares[BLACK] == pytest.approx(0.38, abs=0.011)


def test_a_small_flat_region_is_a_label_while_a_blend_line_is_not():
    rgb = _map([(50, BLACK), (50, WHITE)], 100)
    rgb[..., 49:51, :] = 0.5  # a 2-px grey line at the edge: no pixel is inside it
    with_line = palette_of(rgb)
    assert _palette(with_line) == {BLACK, WHITE}
    rgb[..., 10:20, 10:20] = 0.5  # a genuine 10x10 grey region (1%): 64 pixels inside
    assert _palette(palette_of(rgb)) == {BLACK, WHITE, GREY}


def test_regions_match_by_colour_and_a_missing_label_uses_the_whole_style():
    content = palette_of(_map([(10, BLUE), (10, GREEN), (10, RED)], 20))
    style = palette_of(_map([(6, GREEN), (20, BLUE), (4, BLACK)], 16))
    regions = region_masks(content, style)
    assert regions.colours == (BLUE, GREEN, RED)
    assert regions.content.shape == (3, 1, 30, 20) and regions.style.shape == (3, 1, 30, 16)
    torch.testing.assert_close(regions.content.sum(0), torch.ones(1, 30, 20))  # one-hot
    assert (
        float(regions.content[0, 0, :10].mean()) == 1
        and float(regions.content[0, 0, 10:].sum()) == 0
    )
    assert float(regions.style[0, 0, 6:26].mean()) == 1 and float(regions.style[0].sum()) == 20 * 16
    assert float(regions.style[1, 0, :6].mean()) == 1 and float(regions.style[1].sum()) == 6 * 16
    assert float(regions.style[2].mean()) == 1  # red: not in the style, the whole style
    (note,) = regions.notes
    assert "(255, 0, 0) (33% of the content)" in note and "whole style" in note
    assert "\n" not in note


def test_load_resizes_a_map_of_another_size_with_a_note(tmp_path):
    path = tmp_path / "labels.png"
    Image.new("RGB", (40, 20), BLUE).save(path)
    img = Image.open(path)
    img.paste(GREEN, (0, 10, 40, 20))
    img.save(path)
    same = load_labels(path, (20, 40))
    assert same.notes == () and same.index.shape == (20, 40)
    labels = load_labels(path, (30, 60), "content labels")
    assert labels.index.shape == (30, 60)
    assert set(labels.index.unique().tolist()) == {0, 1}  # nearest: no new label
    assert float((labels.index == labels.index[0, 0]).float().mean()) == pytest.approx(0.5)
    (note,) = labels.notes
    assert note == "content labels is 40x20, its image 60x30: resized to fit (nearest)"


def test_bad_maps_are_one_line_errors(tmp_path):
    text = tmp_path / "labels.png"
    text.write_text("not an image")
    with pytest.raises(GramstyleError) as err:
        load_regions(text, text, (10, 10), (10, 10))
    assert "\n" not in str(err.value) and "content labels" in str(err.value)
    photo = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    with pytest.raises(GramstyleError, match="not a colour-coded label map") as err:
        palette_of(photo, "style labels")
    assert "\n" not in str(err.value) and str(err.value).startswith("style labels")
    # Smooth gradients: some colours are frequent, none is a flat region.
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    with pytest.raises(GramstyleError, match="label map"):
        palette_of(ramp)


def test_masked_targets_split_the_whole_style_matrix(tiny_net):
    g = torch.Generator().manual_seed(2)
    style = torch.rand(1, 3, 40, 48, generator=g)
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    whole = {n: normalized_gram(a) for n, a in features(tiny_net, style, layers).items()}
    ones = masked_targets(tiny_net, style, torch.ones(1, 1, 40, 48), layers)
    for n in layers:
        torch.testing.assert_close(ones[n], whole[n], rtol=1e-5, atol=1e-6)
    # Three regions partitioning the style: at every layer (bilinear masks still sum to 1)
    # the area-weighted region matrices add up to the whole image's.
    index = torch.zeros(40, 48, dtype=torch.long)
    index[:, 20:] = 1
    index[30:, :] = 2
    masks = torch.nn.functional.one_hot(index, 3).permute(2, 0, 1)[:, None].float()
    targets = masked_targets(tiny_net, style, masks, layers)
    for n, a in features(tiny_net, style, layers).items():
        m = mask_at(masks, tuple(a.shape[-2:]))
        area = m.mean(dim=(1, 2, 3))
        assert targets[n].shape == (3, a.shape[1], a.shape[1])
        torch.testing.assert_close(
            (area[:, None, None] * targets[n]).sum(0), whole[n][0], rtol=1e-4, atol=1e-6
        )
        assert float((targets[n][0] - targets[n][2]).abs().max()) > 1e-3  # regions differ
        # The output equal to the style under the same masks: zero cost.
        assert float(masked_style_cost(targets[n], a, m)) < 1e-10
