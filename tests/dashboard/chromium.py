"""What the dashboard's browser checks share: a headless Chromium (Debian's chromium and
chromium-driver, driven by selenium from PyPI), waiting for what a page shows, signing in, the
console's errors, what a screen reader needs of a page, and moving with the keyboard."""

import os

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("AIAAS_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("AIAAS_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def wait_for(driver, condition, what, seconds=20):
    # The page redraws what it shows: an element read during a redraw is read again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(driver, seconds, ignored_exceptions=ignored).until(condition)
    except Exception as e:
        shown = driver.find_element(By.TAG_NAME, "main").text
        raise AssertionError(f"waited {seconds} s for {what}; the page shows:\n{shown}") from e


def heading(driver, text):
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == text, f"the page {text!r}")


def sign_in(driver, base, key):
    driver.get(base + "/")
    field = wait_for(driver, lambda d: d.find_elements(By.ID, "key"), "the sign-in form")[0]
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    heading(driver, "Overview")


def no_console_errors(driver):
    # Answers the page expects and shows as such: /api/v1/session before anyone signs in (does
    # the server need a key?), and a model without a monitoring policy.
    failed = "Failed to load resource: the server responded with a status of"
    expected = (f"/api/v1/session - {failed} 401", f"/policy - {failed} 404")
    errors = [e for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)]
    assert not errors, f"the console has errors: {errors}"


def accessible(driver):
    """What a screen reader needs of the page shown: one h1, a label for every field, a name for
    every button and every chart, a scope for every header cell of a data table."""
    problems = driver.execute_script("""
        const problems = [];
        const named = (e) => (e.getAttribute("aria-label") || e.textContent).trim();
        if (document.querySelectorAll("h1").length !== 1) problems.push("not one h1");
        for (const f of document.querySelectorAll("main input, main select, main textarea")) {
            if (!f.labels.length && !f.getAttribute("aria-label")) problems.push(`a field without a label: ${f.outerHTML}`);
        }
        for (const b of document.querySelectorAll("button")) {
            if (!named(b) && !b.hidden) problems.push(`a button without a name: ${b.outerHTML}`);
        }
        for (const s of document.querySelectorAll("main svg")) {
            if (s.getAttribute("role") !== "img" || !s.getAttribute("aria-label")) problems.push(`a chart without a name: ${s.outerHTML.slice(0, 80)}`);
        }
        for (const th of document.querySelectorAll("main th")) {
            if (!th.getAttribute("scope") && th.textContent.trim()) problems.push(`a header cell without a scope: ${th.outerHTML}`);
        }
        return problems;
    """)
    assert not problems, f"{driver.find_element(By.TAG_NAME, 'h1').text}: {problems}"


def tab_to(driver, text, presses=40):
    """Moves the keyboard's focus with Tab until it is on the link or button `text`."""
    for _ in range(presses):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement.textContent.trim()") == text:
            return driver.switch_to.active_element
    raise AssertionError(f"{presses} presses of Tab never reached {text!r}")
