"""Headless Debian Chromium driven by Selenium (no browser download), with an optional fake camera."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(user_dir: Path, fake_camera: Path | None = None):
    """A Selenium driver for headless Chromium; ``fake_camera`` (a .y4m) feeds getUserMedia."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        raise RuntimeError("chromium and chromium-driver are needed (scripts/setup.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={user_dir}", "--window-size=1280,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    if fake_camera is not None:
        options.add_argument("--use-fake-ui-for-media-stream")
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={fake_camera}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def poll(check: Callable[[], Any], deadline_s: float, what: str, step: float = 0.25) -> Any:
    """``check()``'s first truthy value, polled until ``deadline_s`` seconds pass."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
