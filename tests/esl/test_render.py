"""Tag images: size, colours, where the price is, modes, encodings, determinism.

Panel sizes and colours below are written from OpenEPaperLink's tagtypes
files (00.json 152x152, 01.json 296x128, 02.json 400x300, 21.json 296x128
black/white), not read from the table under test.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from devices.errors import ProfileError
from devices.esl.displays import display_for, load_displays
from devices.esl.model import TagContent, TagMode
from devices.esl.render import json_template, render_tag, render_test_pattern

WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (255, 0, 0)
PANELS = [
    (0x00, 152, 152, {WHITE, BLACK, RED}),
    (0x01, 296, 128, {WHITE, BLACK, RED}),
    (0x02, 400, 300, {WHITE, BLACK, RED}),
    (0x21, 296, 128, {WHITE, BLACK}),
]


def content(price: str = "1.29", promo: str | None = "2 for 2.00") -> TagContent:
    return TagContent(
        sku="4006381333931",
        name="Whole milk 1 l",
        price=Decimal(price),
        unit_price="1.29 EUR/l",
        promo=promo,
    )


def rgb(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def ink(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    found: npt.NDArray[np.bool_] = np.any(pixels != 255, axis=-1)
    return found


def colours(pixels: npt.NDArray[np.uint8]) -> set[tuple[int, int, int]]:
    return {(int(r), int(g), int(b)) for r, g, b in np.unique(pixels.reshape(-1, 3), axis=0)}


@pytest.mark.parametrize(("hw", "width", "height", "palette"), PANELS)
def test_size_and_palette_are_the_panels(
    hw: int, width: int, height: int, palette: set[tuple[int, int, int]]
) -> None:
    for mode in TagMode:
        tag = render_tag(content(), display_for(hw), mode)
        assert tag.image.size == (width, height)
        for fmt in ("png", "bmp"):  # lossless encodings keep exactly the panel's colours
            decoded = Image.open(io.BytesIO(tag.encode(fmt)))
            assert decoded.size == (width, height)
            assert colours(rgb(decoded)) <= palette


@pytest.mark.parametrize(("hw", "width", "height", "palette"), PANELS)
def test_the_price_fills_the_middle_band(
    hw: int, width: int, height: int, palette: set[tuple[int, int, int]]
) -> None:
    pixels = rgb(render_tag(content(promo=None), display_for(hw)).image)
    band = ink(pixels[int(height * 0.3) : int(height * 0.7)])
    columns = np.flatnonzero(band.any(axis=0))
    assert band.sum() > 0.08 * band.size  # big, bold digits
    assert columns[-1] - columns[0] > 0.4 * width  # spread across the tag
    other = rgb(render_tag(content(price="8.88", promo=None), display_for(hw)).image)
    assert not np.array_equal(band, ink(other[int(height * 0.3) : int(height * 0.7)]))


def test_promo_banner_is_red_in_normal_mode_and_gone_without_animations() -> None:
    display = display_for(0x01)
    normal = rgb(render_tag(content(), display, TagMode.NORMAL).image)
    bottom = normal[int(128 * 0.85) :]
    assert (np.all(bottom == RED, axis=-1)).mean() > 0.5
    for mode in (TagMode.NO_ANIMATIONS, TagMode.DIMMED):
        pixels = rgb(render_tag(content(), display, mode).image)
        assert not np.all(pixels == RED, axis=-1).any()
        assert ink(pixels[int(128 * 0.85) :]).mean() < 0.2  # only the unit price line


def test_blank_mode_is_all_white_and_message_shows_in_any_banner() -> None:
    display = display_for(0x00)
    assert not ink(rgb(render_tag(content(), display, TagMode.BLANK).image)).any()
    plain = render_tag(content(promo=None), display, TagMode.NO_ANIMATIONS)
    message = render_tag(content(promo=None), display, TagMode.NO_ANIMATIONS, "Fresh bread")
    assert np.all(rgb(message.image) == RED, axis=-1).sum() > 0
    assert plain.pixel_hash != message.pixel_hash


def test_black_and_white_panel_gets_a_black_banner() -> None:
    pixels = rgb(render_tag(content(), display_for(0x21)).image)
    assert (np.all(pixels[int(128 * 0.85) :] == BLACK, axis=-1)).mean() > 0.4


def test_same_content_gives_the_same_bytes_and_other_content_other_ones() -> None:
    display = display_for(0x01)
    first, again = render_tag(content(), display), render_tag(content(), display)
    assert first.pixel_hash == again.pixel_hash
    for fmt in ("jpeg", "png", "bmp", "raw"):
        assert first.encode(fmt) == again.encode(fmt)
    assert render_tag(content(price="1.30"), display).pixel_hash != first.pixel_hash
    assert render_tag(content(), display, TagMode.DIMMED).pixel_hash != first.pixel_hash


def test_jpeg_keeps_every_pixel_nearest_to_its_colour() -> None:
    tag = render_tag(content(), display_for(0x01))
    decoded = rgb(Image.open(io.BytesIO(tag.encode("jpeg")))).astype(int)
    palette = np.array([WHITE, BLACK, RED])
    nearest = np.argmin(((decoded[:, :, None, :] - palette) ** 2).sum(-1), axis=-1)
    assert (nearest == np.asarray(tag.image)).mean() > 0.995


def test_raw_is_one_palette_index_per_pixel() -> None:
    tag = render_tag(content(), display_for(0x00))
    raw = tag.encode("raw")
    assert len(raw) == 152 * 152
    assert set(raw) <= {0, 1, 2}


@pytest.mark.parametrize(("hw", "width", "height", "palette"), PANELS)
def test_test_pattern_shows_every_colour_and_a_border(
    hw: int, width: int, height: int, palette: set[tuple[int, int, int]]
) -> None:
    pixels = rgb(render_test_pattern(display_for(hw)).image)
    assert pixels.shape == (height, width, 3)
    assert colours(pixels) == palette
    for edge in (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]):
        assert np.all(edge == BLACK)


def test_long_names_are_shortened_to_fit() -> None:
    long = TagContent(
        sku="1",
        name="Extra creamy organic whole milk from alpine pastures " * 3,
        price=Decimal("1.29"),
    )
    template = json_template(long, display_for(0x00))
    name = template[0]["text"][2]
    assert name.endswith("...")
    assert len(name) < len(long.name)


def test_json_template_uses_the_aps_element_forms() -> None:
    template = json_template(content(), display_for(0x02))
    texts = [e["text"] for e in template if "text" in e]
    boxes = [e["box"] for e in template if "box" in e]
    assert any(t[2] == "1.29" and t[4] == "red" and t[5] == 2 for t in texts)  # right-aligned
    assert any(t[2] == "2 for 2.00" and t[4] == "white" for t in texts)
    assert boxes
    assert boxes[0][4] == "red"
    for x, y, w, h, _ in boxes:
        assert x >= 0
        assert y >= 0
        assert x + w <= 400
        assert y + h <= 300
    for t in texts:
        assert 0 <= t[0] <= 400
        assert 0 <= t[1] < 300
        assert t[3] == "Signika-SB.ttf"


def test_unknown_layouts_and_panels_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        render_tag(
            TagContent(sku="1", name="n", price=Decimal(1), layout="fancy"), display_for(0x01)
        )
    with pytest.raises(ProfileError, match="0x7E"):
        display_for(0x7E)


def test_display_table_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "d.yaml"
    bad.write_text(
        "displays:\n  - {hw_type: 1, name: x, width: 296, height: 128,"
        " colors: [white, black], dpi: 100}\n"
    )
    with pytest.raises(ProfileError, match="dpi"):
        load_displays(bad)
    bad.write_text(
        "displays:\n  - {hw_type: 1, name: x, width: 296, height: 128, colors: [black, white]}\n"
    )
    with pytest.raises(ProfileError, match="start with white"):
        load_displays(bad)
    bad.write_text(
        "displays:\n" + "  - {hw_type: 1, name: x, width: 296, height: 128,"
        " colors: [white, black]}\n" * 2
    )
    with pytest.raises(ProfileError, match="twice"):
        load_displays(bad)
