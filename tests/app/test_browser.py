"""The page in a real browser (Debian's headless `chromium` driven by Playwright, no browser download):
upload a degraded held-out photo, wait for the result, download it and compare its pixels with what
`restore` writes; upload a corrupt file and read the error in the page; take a screenshot that is not
blank (saved to $KERAS_DURBM_SCREENSHOT, e.g. docs/app.png, when that is set)."""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_durbm.errors import BadImageError
from keras_durbm.images.io import read_image
from tests.app.conftest import decode_png, restore_cli
from tfrecords_tools.photos import load_photos
from tfrecords_tools.synthesis import add_haze

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = os.environ.get("KERAS_DURBM_SCREENSHOT")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the `app` extra is not installed
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="Playwright is not installed (pip install -e '.[app]')"),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run does)"),
]


@pytest.fixture(scope="module")
def page(app):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1280, "height": 760}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app.url)
        page.wait_for_selector("#task option[value=auto]", state="attached")
        yield page
        browser.close()


def test_upload_restore_download_equals_restore_and_errors_show_in_the_page(page, trained_model_path, tmp_path):
    from keras_durbm.images.pixels import to_uint8

    [(_, clean)] = load_photos(("coffee",), 320)  # held out: the tiny model trained on other photographs
    hazy = tmp_path / "coffee-hazy.png"
    Image.fromarray(to_uint8(add_haze(clean.astype(np.float32) / 255.0, 11))).save(hazy)
    assert page.input_value("#task") == "auto"  # the default with a classifier
    page.set_input_files("#files", str(hazy))
    page.wait_for_selector("#jobs .job.done")
    status = page.inner_text("#jobs .job.done .status")
    assert status.startswith("done in ") and "restored with haze" in status, status
    assert "haze" in page.inner_text("#classes .prob.best")
    page.wait_for_function("document.getElementById('after').complete && document.getElementById('after').naturalWidth > 0"
                           " && document.getElementById('before').naturalWidth > 0")

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "downloaded.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "coffee-hazy.png"
    expected = decode_png(restore_cli(tmp_path, trained_model_path, "auto", hazy))
    got = decode_png(saved.read_bytes())
    assert got.shape == expected.shape == clean.shape
    assert np.array_equal(got, expected)

    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not the rest of a JPEG")
    page.set_input_files("#files", str(corrupt))
    error = page.wait_for_selector("#jobs .job.failed [role=alert]")
    with pytest.raises(BadImageError) as refused:  # what restore's reader says about that file
        read_image(corrupt)
    assert error.inner_text() == f"error: broken.jpg: {refused.value.problem}; expected {refused.value.expected}"

    page.select_option("#mode", "slider")  # the slider view: before clipped over after
    page.fill("#split", "35")
    page.dispatch_event("#split", "input")
    assert page.eval_on_selector("#slider-before", "e => e.style.clipPath") == "inset(0px 65% 0px 0px)"
    assert page.is_visible("#slider-after") and page.is_hidden("#side")
    page.select_option("#zoom", "200")  # full resolution and beyond: the image is drawn at twice its size
    assert page.eval_on_selector("#slider-after", "e => e.getBoundingClientRect().width") == 2 * clean.shape[1]
    page.select_option("#mode", "side")
    page.select_option("#zoom", "100")
    assert page.is_hidden("#slider") and page.is_visible("#after")
    shot = page.screenshot(full_page=True)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float64)
    assert pixels.std() > 20, "the screenshot looks blank"
    if SCREENSHOT:
        with open(SCREENSHOT, "wb") as handle:
            handle.write(shot)
