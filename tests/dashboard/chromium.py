"""What the dashboard's browser checks share: a headless Chromium (Debian's chromium and
chromium-driver, driven by selenium from PyPI), waiting for what a page shows, signing in, and
the console's errors."""

import os

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
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
