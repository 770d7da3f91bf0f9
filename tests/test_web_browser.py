"""`framecolor serve` in a real headless Chromium (Debian's chromium and chromedriver, via Selenium),
with every request that would leave the machine blocked and recorded.

The tests run in file order against one server and one browser: the page loads offline; the sample
photo comes back as a colour PNG of its size; a non-image and a truncated JPEG get clear errors and
the next upload still works; the sample clip comes back with its frame count, the progress shown
while it ran. Screenshots before and after each step go to $FRAMECOLOR_SCREENSHOTS (default: the
test's temporary folder); `scripts/web_screenshots.sh` copies two of them into docs/images.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PHOTO, SAMPLE_CLIP = ROOT / "samples" / "chelsea_gray.jpg", ROOT / "samples" / "traffic_short.mp4"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
LOCAL_PREFIXES = ("http://127.0.0.1:", "ws://127.0.0.1:", "http://localhost:", "ws://localhost:", "data:", "blob:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`framecolor serve` in a subprocess, its temporary work folder under a private TMPDIR."""
    pytest.importorskip("gradio", reason="the web extra is not installed")
    tmp = tmp_path_factory.mktemp("serve-tmp")
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    log = open(tmp_path_factory.mktemp("serve-log") / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "framecolor", "serve", "--port", str(port), "--device", "cpu",
                             "--max-upload-mb", "20"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _wait_for(lambda: _responds(url) or proc.poll() is not None, 180)
    assert proc.poll() is None, _tail(log)
    yield url, tmp, proc, log
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-3000:]


def _wait_for(cond, timeout: float, step: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"gave up after {timeout} s")


class Browser:
    """The driver, its download folder, the screenshots, and every URL the page asked for."""

    def __init__(self, driver, downloads: Path, shots: Path):
        self.driver, self.downloads, self.shots, self.urls = driver, downloads, shots, []

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def requests(self) -> list[str]:
        for entry in self.driver.get_log("performance"):  # drained on each read: kept here
            msg = json.loads(entry["message"])["message"]
            if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
                self.urls.append(msg["params"].get("request", {}).get("url") or msg["params"].get("url"))
        return self.urls

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        try:
            return self.css(selector).text
        except Exception:  # noqa: BLE001 - not rendered yet
            return ""

    def upload(self, box: str, *paths: Path) -> None:
        self.css(f"#{box} input[type=file]").send_keys("\n".join(str(p) for p in paths))
        names = [p.stem for p in paths]  # the page breaks the name before its extension
        _wait_for(lambda: all(n in self.text(f"#{box}") for n in names), 60)

    def download(self, selector: str, timeout: float = 60) -> Path:
        """Click a download button; the file, in a fresh folder (a second file of one name would
        replace the first)."""
        folder = self.downloads / str(len(list(self.downloads.iterdir())))
        folder.mkdir()
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
        self.css(selector).click()
        return _wait_for(lambda: next((p for p in folder.iterdir() if not p.name.endswith(".crdownload")), None),
                         timeout)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        why = "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("FRAMECOLOR_REQUIRE_BROWSER"):  # set by .ci/run, which installs them
            pytest.fail(why)
        pytest.skip(why)
    downloads = tmp_path_factory.mktemp("downloads")
    shots = Path(os.environ.get("FRAMECOLOR_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost",
                "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False,
                                           "profile.default_content_setting_values.automatic_downloads": 1})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    b = Browser(driver, downloads, shots)
    b.url = server[0]
    yield b
    driver.quit()


def _open(b: Browser, tab: str = "Photos") -> None:
    from selenium.webdriver.common.by import By

    b.driver.get(b.url)
    _wait_for(lambda: b.driver.find_elements(By.CSS_SELECTOR, "#photo-run"), 60)
    if tab != "Photos":
        next(e for e in b.driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if e.text == tab).click()
        _wait_for(lambda: b.css("#film-run").is_displayed(), 30)


def _colour_image_of(path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == size and im.mode == "RGB", (im.size, im.mode)
        rgb = np.asarray(im).astype(int)
    chroma = np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean()
    assert chroma > 2, f"{path.name} looks grey (mean distance from grey {chroma:.2f} levels)"


def test_the_page_loads_with_the_network_blocked(browser):
    _open(browser)
    browser.shot("01_photos_empty")
    assert "framecolor" in browser.driver.title
    assert "Colorize" in browser.text("#photo-run")


def test_a_photo_comes_back_as_a_colour_png_of_its_size(browser):
    _open(browser)
    browser.upload("photo-input", SAMPLE_PHOTO)
    browser.shot("02_photo_uploaded")
    browser.css("#photo-run").click()
    _wait_for(lambda: "Colorized 1 photo" in browser.text("#photo-status"), 120)
    _wait_for(lambda: browser.text("#photo-download-0"), 30)
    browser.shot("03_photo_result")
    got = browser.download("#photo-download-0")
    assert got.name == "chelsea_gray_color.png"
    _colour_image_of(got, (451, 300))


def test_bad_uploads_get_clear_errors_and_the_next_upload_works(browser, tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo\n")
    data = SAMPLE_PHOTO.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "blank.jpg").write_bytes(b"")
    _open(browser)
    browser.upload("photo-input", tmp_path / "notes.txt", tmp_path / "cut.jpg", tmp_path / "blank.jpg")
    browser.css("#photo-run").click()
    _wait_for(lambda: "failed" in browser.text("#photo-status"), 120)
    browser.shot("04_bad_uploads")
    status = browser.text("#photo-status")
    assert "Colorized 0 photo(s); 3 failed" in status
    lines = {line.split(":")[0].lstrip("- "): line for line in status.splitlines()[1:]}
    assert set(lines) == {"notes.txt", "cut.jpg", "blank.jpg"}, status
    assert "not an image file" in lines["notes.txt"] and "truncated JPEG" in lines["cut.jpg"], status
    assert "empty" in lines["blank.jpg"] or "0 bytes" in lines["blank.jpg"], status
    _open(browser)
    browser.upload("photo-input", SAMPLE_PHOTO)
    browser.css("#photo-run").click()
    _wait_for(lambda: "Colorized 1 photo" in browser.text("#photo-status"), 120)
    _wait_for(lambda: browser.text("#photo-download-0"), 30)
    browser.shot("05_after_bad_uploads")
    _colour_image_of(browser.download("#photo-download-0"), (451, 300))


def test_an_upload_over_the_limit_is_refused_with_a_message(browser, tmp_path):
    from selenium.webdriver.common.by import By

    huge = tmp_path / "huge.tif"
    with open(huge, "wb") as f:
        f.truncate(22_000_000)  # the server runs with --max-upload-mb 20
    _open(browser)
    browser.css("#photo-input input[type=file]").send_keys(str(huge))
    body = lambda: browser.driver.find_element(By.TAG_NAME, "body").text  # noqa: E731
    said = _wait_for(lambda: next((line for line in body().splitlines() if "maximum allowed size" in line), None), 60)
    browser.shot("05b_upload_too_large")
    assert "of 20" in said and "huge.tif" in said, said
    assert "huge" not in browser.text("#photo-input"), said
    assert _responds(browser.url)


def test_the_clip_comes_back_with_its_frame_count_and_progress_while_it_ran(browser):
    import av

    _open(browser, "Film")
    browser.upload("film-input", SAMPLE_CLIP)
    browser.shot("06_film_uploaded")
    browser.css("#film-run").click()
    seen = _wait_for(lambda: ("frames/s" in (t := browser.text("#film-status")) or "error" in t) and "done" not in t
                     and t, 180, 0.1)
    browser.shot("07_film_running")
    assert "/60 frames" in seen and "ETA" in seen, seen
    _wait_for(lambda: "done" in browser.text("#film-status"), 300)
    browser.shot("08_film_done")
    assert browser.css("#film-result video").get_attribute("src").endswith("traffic_short_color.mp4")  # plays in the page
    got = browser.download("#film-download")
    with av.open(str(got)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(SAMPLE_CLIP)) as c:
        expected = sum(1 for _ in c.decode(video=0))
    assert frames == expected == 60


def test_a_film_keeps_going_when_the_tab_is_closed_and_the_reopened_page_shows_it(browser):
    _open(browser, "Film")
    browser.upload("film-input", SAMPLE_CLIP)
    end = browser.css("#film-end input")
    end.clear()
    end.send_keys("1")  # the first second: 30 frames
    browser.css("#film-run").click()
    _wait_for(lambda: "frames" in browser.text("#film-status"), 120, 0.1)
    browser.driver.get("about:blank")  # the tab leaves the page while the film runs
    _open(browser, "Film")
    jobs = _wait_for(lambda: (t := browser.text("#film-jobs")).count("done: traffic_short_color.mp4") == 2 and t, 180)
    browser.shot("09_film_jobs_after_reopening")
    assert "error" not in jobs, jobs


def test_no_request_left_the_machine(browser):
    urls = browser.requests()
    assert any(u.startswith(browser.url) for u in urls)  # the log did record the page
    outside = sorted({u for u in urls if not u.startswith(LOCAL_PREFIXES)})
    assert outside == [], f"the page asked for off-machine URLs: {outside}"


def test_the_stopped_server_leaves_no_temporary_files(server, browser):
    url, tmp, proc, log = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, _tail(log)
    left = [p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")]  # torch's own cache
    assert left == [], _tail(log)  # uploads, results and Gradio's copies are all gone
