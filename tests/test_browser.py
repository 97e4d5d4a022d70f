"""report.html opened in a real browser: headless Chromium driven by selenium.

The page is served over http from localhost, as a shared report folder is opened: every
image loads, every relative link resolves, the labelled video (H.264 in MP4) can be
played, and the console has no errors. Run by ``nox -s browser`` (marker ``browser``);
needs the Debian packages ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import faceexpr as fe
from faceexpr.data import DROP_REASONS
from faceexpr.synthetic import simulate

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
N_FRAMES = 240
FPS = 30.0


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the report folder without logging every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    """Quiet when the browser drops a connection (it does so as a video loads)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved result of synthetic faces, with the labelled video of its session."""
    pytest.importorskip("cv2")
    pytest.importorskip("imageio_ffmpeg")
    from faceexpr.synthetic.video import render_face_video

    tmp = tmp_path_factory.mktemp("browser")
    pose = simulate(N_FRAMES, seed=2, n_cameras=1, fps=FPS).view(0)
    video = render_face_video(pose, tmp / "face.mp4")
    # as a tracker leaves it: frames without a face (12.5%), a cut (5%), two shots
    codes = np.zeros(N_FRAMES, dtype=np.int8)
    codes[100:130], codes[200:212] = DROP_REASONS.index("no-face"), DROP_REASONS.index("cut")
    pose["dropped"] = ("time", codes, {"flag_meanings": " ".join(DROP_REASONS)})
    pose["position"][codes > 0] = np.nan
    pose = pose.assign_coords(segment=("time", (np.arange(N_FRAMES) >= 206).astype(int)))
    result = fe.Pipeline(n_states=3, progress=False).run([pose], names=["face"])
    return result.save(tmp / "out", videos={"face": video})


@pytest.fixture(scope="module")
def server(report: Path) -> Iterator[str]:
    """The report folder over http on localhost; yields the base address."""
    httpd = Server(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(report)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with its console log kept."""
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER}: "
                    "apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # the background-networking flags: with them Chromium makes no connection of its own,
    # which a closed network refuses
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, script: str, timeout: float = 20.0) -> Any:
    """Run ``script`` until it returns something truthy; return that."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script), message=f"timed out waiting for: {script}")


def test_report_loads_completely_in_chromium(browser: Any, report: Path, server: str) -> None:
    start = time.perf_counter()
    page = urllib.parse.urljoin(server, "report.html")
    browser.get(page)
    assert browser.title == "faceexpr report"

    # every figure is a decoded image
    images = wait_for(browser, "const im = Array.from(document.images);"
                      "return im.every(i => i.complete) && im.map(i => "
                      "[i.getAttribute('src'), i.naturalWidth, i.naturalHeight]);")
    pngs = sorted(p.relative_to(report).as_posix() for p in report.rglob("*.png"))
    assert sorted(src for src, _, _ in images) == pngs and len(pngs) >= 8
    assert all(w > 100 and h > 100 for _, w, h in images), images

    # every relative link (and the video's source) resolves on the server
    targets = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href], source[src]'))"
        ".map(e => e.getAttribute('href') || e.getAttribute('src'));")
    relative = [t for t in targets if not urllib.parse.urlparse(t).scheme
                and not t.startswith("#")]
    assert "sessions/face/labelled.mp4" in relative and "states.csv" in relative
    for target in relative:
        with urllib.request.urlopen(urllib.parse.urljoin(page, target), timeout=10) as r:
            assert r.status == 200, target
            assert r.read(1), target

    # the labelled video: a source the browser can play, decoded and playing
    source = browser.execute_script(
        "const v = document.querySelector('video'), s = v.querySelector('source');"
        "return [s.getAttribute('src'), s.type, v.canPlayType(s.type),"
        "        v.canPlayType('video/mp4; codecs=\"avc1.64001E\"')];")
    assert source[:2] == ["sessions/face/labelled.mp4", "video/mp4"]
    assert source[2] in ("probably", "maybe") and source[3] == "probably", source
    state = wait_for(browser, "const v = document.querySelector('video');"
                     "if (v.error) return ['error', v.error.code, v.error.message];"
                     # with <source> children a failed source sets no error, only this
                     "if (v.networkState === 3) return ['error', 'no playable source'];"
                     "if (v.readyState < 2 && v.preload !== 'auto') {"
                     "  v.preload = 'auto'; v.load(); }"
                     "return v.readyState >= 2 && "
                     "[v.readyState, v.videoWidth, v.videoHeight, v.duration];")
    assert state[0] != "error", state
    assert state[1:3] == [640, 480]
    assert state[3] == pytest.approx(N_FRAMES / FPS, abs=0.1)
    caption = browser.execute_script(
        "return document.querySelector('video').nextElementSibling.textContent;")
    assert "Landmarks in 82% of the frames (no landmarks: no face 12%, cut 5%)." in caption
    played = wait_for(browser, "const v = document.querySelector('video');"
                      "if (v.paused) { v.muted = true; v.play(); }"
                      "return v.currentTime > 0.5 && v.currentTime;")
    assert played > 0.5

    # nothing went wrong on the way (no favicon request either: the page names none)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    assert time.perf_counter() - start < 30
