"""The operations console in headless Chromium, against ``serve`` on the embedded default.

The tests of this module share one deployment and run in order, as an operator would: look at
the jobs, run one, find the record it quarantined, fix the ERP and run again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PLANTED_NAME, Deployment

pytestmark = pytest.mark.browser

FINISHED = "(succeeded|partial)"
WAIT_S = 60.0  # runs start within a second; the page refreshes itself every 5 s


def _until(what: str, ready: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """``ready()``'s first true answer. The page refreshes itself: an element found just before
    a refresh is stale when read, and that answer counts as not ready yet (seen in CI)."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = ready()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _by_css(browser: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, css))


def _luminance(css_colour: str) -> float:
    r, g, b = (int(c) / 255 for c in re.findall(r"\d+", css_colour)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(element: Any) -> float:
    """WCAG contrast of an element's text on its own background (badges, buttons)."""
    fg = _luminance(element.value_of_css_property("color"))
    bg = _luminance(element.value_of_css_property("background-color"))
    return (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)


def _row(browser: Any, job: str) -> Any:
    [row] = _by_css(browser, f'tr[data-job="{job}"]')
    return row


def test_the_jobs_page_loads_and_flags_the_stale_job(
    browser: Any, deployment: Deployment, shoot: Callable[..., Path]
) -> None:
    browser.get(deployment.url + "/")
    assert browser.title == "Jobs · commerce-sync console"
    assert browser.find_element("css selector", "html").get_attribute("lang") == "en"
    assert [h.text for h in _by_css(browser, "h1")] == ["Jobs"]
    jobs = [r.get_attribute("data-job") for r in _by_css(browser, "tr[data-job]")]
    assert jobs == ["delivery-and-stores", "inventory", "supplier-feed"]
    stale = _row(browser, "supplier-feed").find_element("css selector", ".freshness")
    assert "stale" in (stale.get_attribute("class") or "").split()
    assert stale.text == "STALE: never synced successfully (objective 1h)"
    # Flagged in colour too: the badge is not the page's default text colour.
    colour = stale.value_of_css_property("color")
    assert colour != browser.find_element("css selector", "body").value_of_css_property("color")
    # Text on coloured backgrounds keeps WCAG AA contrast (4.5:1).
    for element in _by_css(browser, ".badge") + _by_css(browser, "button"):
        assert _contrast(element) >= 4.5, (element.text, _contrast(element))
    shoot("overview")


def test_run_now_from_the_keyboard_starts_a_run_that_appears(
    browser: Any, deployment: Deployment, shoot: Callable[..., Path]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.get(deployment.url + "/")
    button = _row(browser, "inventory").find_element("css selector", "button")
    assert button.get_attribute("aria-label") == "Run inventory now"
    # Keyboard reachable: tab to the button as a keyboard user would, press Enter.
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element == button:
            break
    assert browser.switch_to.active_element == button, "the Run now button is not tabbable"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    _until("the job page", lambda: browser.current_url.startswith(
        deployment.url + "/jobs/inventory?"))
    assert "Run requested" in browser.find_element("css selector", ".notice").text
    # No reload by the test: the page's own refresh shows the run once it has finished.
    # The run set one record aside: "succeeded", or "partial" where the engine tells the two
    # apart (on main as this is written).
    # Texts, not elements: the page's next refresh would leave an element stale.
    heading = _until("a finished run", lambda: [
        h.text for h in _by_css(browser, ".run h3") if re.search(FINISHED, h.text)])
    assert re.fullmatch(rf"Run \d+ {FINISHED}", heading[0])
    steps = _until("the run's steps", lambda: {
        r.find_element("css selector", "th").text: r.text
        for r in _by_css(browser, "table.steps tbody tr:not(.step-error)")})
    assert set(steps) == {"products", "stock"}
    # 12 products, one refused (its price is '12,50'): 11 written, 1 quarantined.
    assert re.search(rf"{FINISHED} \d+ 11 0 0 1$", steps["products"]), steps["products"]
    shoot("job-history")

    browser.get(deployment.url + "/")
    row = _row(browser, "inventory")
    assert re.search(FINISHED, row.find_element("css selector", ".last-run").text)
    assert row.find_element("css selector", "td[data-label=Quarantine]").text == "1 waiting"
    assert row.find_element("css selector", ".freshness").text.startswith("fresh: data is")
    # The README's picture (docs/console.png): the page's content only, no empty window.
    shoot("overview-after-run", browser.find_element("css selector", "body"))


def test_a_quarantined_record_is_shown_escaped_and_released_after_the_source_is_fixed(
    browser: Any, deployment: Deployment, shoot: Callable[..., Path]
) -> None:
    browser.get(f"{deployment.url}/quarantine?job=inventory")
    [record] = _by_css(browser, "article.qrecord")
    assert f"key {deployment.bad_item}" in record.find_element("css selector", "h3").text
    assert "price: '12,50' is not a decimal" in record.find_element(
        "css selector", ".reason").text
    record.find_element("css selector", "summary").click()
    shown = record.find_element("css selector", "pre.record").text
    assert f'"name": "{PLANTED_NAME}"' in shown  # the markup is shown as text...
    assert browser.execute_script("return window.__pwned === undefined")  # ...never run
    assert _by_css(browser, "pre.record script") == []
    shoot("quarantine")
    # Refresh waits while focus is in the page's live region (clicking the summary put it
    # there); once the reader moves on, the region is replaced and the record stays open.
    browser.execute_script("document.getElementById('live').dataset.seen = '1';"
                           "document.activeElement.blur()")
    _until("a refresh", lambda: browser.execute_script(
        "return document.getElementById('live').dataset.seen === undefined"), timeout=15)
    [record] = _by_css(browser, "article.qrecord")
    assert record.find_element("css selector", "details").get_attribute("open") is not None
    assert PLANTED_NAME in record.find_element("css selector", "pre.record").text

    # Retry before the fix: the same row is refused again and the page says what to do.
    record.find_element("css selector", "form[action$='/retry'] button").click()
    _until("the retry's answer", lambda: "notice=" in browser.current_url)
    notice = browser.find_element("css selector", ".notice").text
    assert "refused again" in notice and "Run now" in notice
    assert len(_by_css(browser, "article.qrecord")) == 1

    # Fix the row in the ERP, run the job from its page: the record leaves quarantine.
    deployment.erp_execute(
        "UPDATE products SET list_price = 12.5, modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
        "'now') WHERE item_id = ?", deployment.bad_item)
    browser.get(f"{deployment.url}/jobs/inventory")
    browser.find_element("css selector", "main form button").click()
    # Leave only once the POST has been answered: a new get() would abort the form's request.
    _until("the run request", lambda: "notice=run-requested" in browser.current_url)
    browser.get(f"{deployment.url}/quarantine?job=inventory")
    _until("the record's release", lambda: _by_css(browser, "p.empty"))
    product = deployment.store_product(deployment.bad_item)
    assert product is not None and float(product["price"]) == 12.5
    shoot("quarantine-released")


def test_at_phone_width_nothing_scrolls_sideways(
    browser: Any, deployment: Deployment, shoot: Callable[..., Path]
) -> None:
    browser.set_window_size(375, 812)
    try:
        for path in ("/", "/jobs/inventory", "/quarantine"):
            browser.get(deployment.url + path)
            width = browser.execute_script("return document.documentElement.scrollWidth")
            viewport = browser.execute_script("return window.innerWidth")
            assert width <= viewport, f"{path}: {width}px wide in a {viewport}px window"
        browser.get(deployment.url + "/")
        shoot("phone")
    finally:
        browser.set_window_size(1280, 900)
