"""The page in a real browser: Debian's headless Chromium types a prompt, watches the image grow, checks it.

Skipped where chromium, chromedriver or selenium is missing (``.ci/run`` installs them). The screenshot
go to out/test-artifacts/: serve-page-preview.png while decoding, serve-page.png at the end.
"""

import shutil
import signal
from pathlib import Path

import pytest

from tests.serve.server_process import start_server
from tokenshuffle.cli.generate import DEFAULT_MODEL

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "serve-page.png"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="Debian chromium and chromium-driver are not installed "
                                       "(apt-get install chromium chromium-driver)")

# Pixel statistics of the final image, read back through a canvas in the page.
IMAGE_STATS = """
const img = document.querySelector('#gallery img.final');
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let sum = 0, sq = 0; const n = d.length / 4;
for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += v; sq += v * v; }
return [img.naturalWidth, img.naturalHeight, Math.sqrt(sq / n - (sum / n) ** 2)];
"""


def chrome():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def test_page_shows_previews_then_the_final_image():
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    proc, url = start_server(DEFAULT_MODEL, "--preview-rows", "1")
    driver = chrome()
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "size")).options) > 0)
        Select(driver.find_element(By.ID, "size")).select_by_value("512x512")  # the shipped model's trained size
        prompt = driver.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("a photo of a red circle")
        driver.find_element(By.ID, "seed").send_keys("0")
        driver.find_element(By.ID, "generate").click()
        # The live card shows previews while the image decodes (the screenshot waits for the sixth of 15) ...
        WebDriverWait(driver, 120, poll_frequency=0.1).until(lambda d: d.execute_script(
            "const f = document.querySelector('#current figure'); return f && Number(f.dataset.previews) >= 6"))
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT.with_name("serve-page-preview.png")))
        # ... and the gallery gets the final image, which records how many previews came before it.
        result = WebDriverWait(driver, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery figure.result"))
        assert int(result[0].get_attribute("data-previews")) >= 1
        wait.until(lambda d: d.execute_script("return document.querySelector('#gallery img.final').complete"))
        width, height, spread = driver.execute_script(IMAGE_STATS)
        assert (width, height) == (512, 512)
        assert spread > 5, f"the final image is blank (pixel std {spread:.2f})"
        assert "error" not in driver.find_element(By.ID, "status").text
        driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
