"""``vidmem serve`` in a real headless Chromium: the page draws the timeline and answers through the ask box."""

from __future__ import annotations

import pytest

from tests.web.browser import chromium, poll
from tests.web.conftest import start_server, stop_server

pytestmark = pytest.mark.slow


def test_page_shows_the_timeline_and_answers_with_evidence_on_it(indexed, tmp_path):
    from selenium.webdriver.common.by import By

    store, video, manifest = indexed
    url, server = start_server(["serve", str(store)], tmp_path / "server.log")
    driver = chromium(tmp_path / "profile")
    try:
        driver.get(url)
        thumbs = poll(lambda: driver.find_elements(By.CSS_SELECTOR, ".row.thumbs .thumb"), 30, "keyframe thumbnails")
        kinds = {r.get_attribute("data-kind") for r in driver.find_elements(By.CSS_SELECTOR, ".row")}
        assert {"visual", "episodic@clip", "text@subtitle"} <= kinds and len(thumbs) >= 3
        scene = manifest.scenes[4]
        driver.find_element(By.ID, "question").send_keys(f"When does this happen: {scene.caption}?")
        driver.find_element(By.ID, "ask-button").click()
        answer = driver.find_element(By.ID, "answer")
        poll(lambda: answer.get_attribute("data-state") == "answered", 60, "the answer")
        first = driver.find_element(By.CSS_SELECTOR, ".evidence-item.first")
        assert scene.t_start - 1 <= float(first.get_attribute("data-t-start")) < scene.t_end
        assert driver.find_elements(By.CSS_SELECTOR, ".evidence-mark")  # drawn on the timeline
        player = driver.find_element(By.ID, "player")
        t = poll(lambda: driver.execute_script("return arguments[0].currentTime", player), 30, "the player to seek")
        assert scene.t_start - 1 <= t < scene.t_end  # the player jumped to the first evidence
        driver.save_screenshot(str(tmp_path / "serve.png"))
    finally:
        driver.quit()
        stop_server(server)
