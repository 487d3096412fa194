"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium from PyPI), used as a person uses it: sign in with the admin key, find the models of
`serve --demo` on the overview and open one with the keyboard alone, open digits and find its
10x10 confusion matrix and the diagnosis of its training run, make iris's second version champion and see the alias move, send one row
from iris's "try" form and read the answer (and a PNG file to an image model, and read the digit
it shows), start a training job on wine with the form and watch its loss curve gain points until
it succeeds and links to its version (with the run's diagnosis), open digits' monitoring after
labelled predictions (its production quality over time and each feature's drift with its
distributions) and set a policy with its form, quantize digits from its page and find the
variant's figures beside its parent's, find wine's profile, upload a CSV file on the datasets
page (chosen, and dropped on it) and find it chosen in the training form its page links to, then
sign in with a viewer key and find no button that changes anything. Each page is checked for
what a screen reader needs (one h1, labelled fields, named buttons and charts, scoped header
cells), and the browser's console must stay free of errors (a blocked script or style under the
page's security policy shows there). Screenshots of the pages at desktop (1280x800) and phone
(390x844) widths go to the folder given.

Usage: check_dashboard.py BASE_URL ADMIN_KEY VIEWER_KEY SCREENSHOT_DIR PNG DIGIT
(PNG: a picture of the digit DIGIT for the `digits-pictures` image model)
"""

import os
import sys
import tempfile

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from chromium import accessible, browser, heading, no_console_errors, sign_in, tab_to, wait_for

BASE, ADMIN_KEY, VIEWER_KEY, SHOTS, PICTURE, DIGIT = sys.argv[1:7]
ACTIONS = ("Make champion", "Delete", "Roll back champion")


def open_model(driver, name):
    driver.find_element(By.LINK_TEXT, name).click()
    heading(driver, name)


def buttons(driver):
    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def as_admin_on_a_desktop():
    driver = browser(1280, 800)
    try:
        sign_in(driver, BASE, ADMIN_KEY)
        models = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "main table a")]
        assert "digits" in models and "iris" in models, models
        accessible(driver)
        shot(driver, "overview-desktop")

        # With the keyboard alone: Tab to digits' link, Enter opens it.
        tab_to(driver, "digits").send_keys(Keys.ENTER)
        heading(driver, "digits")
        driver.get(BASE + "/#/")
        heading(driver, "Overview")
        open_model(driver, "digits")
        matrix = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.heat"), "a confusion matrix")[0]
        rows = matrix.find_elements(By.CSS_SELECTOR, "tbody tr")
        cells = [len(r.find_elements(By.TAG_NAME, "td")) for r in rows]
        assert cells == [10] * 10, f"a 10x10 matrix, found rows of {cells}"
        diagnosis = driver.find_element(By.XPATH, "//section[h2[text()='Diagnosis']]").text
        assert "baseline" in diagnosis, diagnosis
        accessible(driver)
        shot(driver, "model-desktop")
        section = matrix.find_element(By.XPATH, "./ancestor::section")
        section.screenshot(os.path.join(SHOTS, "confusion-desktop.png"))

        driver.get(BASE + "/#/models/iris")
        heading(driver, "iris")
        row_of = lambda d, v: d.find_element(By.XPATH, f"//main//table//tr[td[1]/a[text()='v{v}']]")
        champion = lambda d, v: bool(row_of(d, v).find_elements(By.CSS_SELECTOR, "span.pill.champion"))
        assert champion(driver, 1) and not champion(driver, 2)
        row_of(driver, 2).find_element(By.XPATH, ".//button[text()='Make champion']").click()
        wait_for(driver, lambda d: champion(d, 2) and not champion(d, 1), "the champion alias on v2")
        try_iris(driver)
        try_picture(driver)
        train_wine(driver)
        monitor_digits(driver)
        optimize_digits(driver)
        datasets(driver)
        no_console_errors(driver)
    finally:
        driver.quit()


def try_iris(driver):
    """One row sent from iris v1's form (its fields filled with the training means): a label and
    three probabilities come back."""
    driver.get(BASE + "/#/models/iris/1")
    heading(driver, "iris")
    fields = driver.find_elements(By.CSS_SELECTOR, "form.try input")
    assert len(fields) == 4, f"a field per iris feature, found {len(fields)}"
    driver.find_element(By.XPATH, "//form[@class='try']//button[text()='Predict']").click()
    answer = wait_for(driver, lambda d: d.find_element(By.ID, "try-answer").text, "an answer")
    assert "label" in answer and "probabilities" in answer, answer


def try_picture(driver):
    """A PNG file chosen in the image model's "try" form: the digit it shows comes back."""
    driver.get(BASE + "/#/models/digits-pictures")
    heading(driver, "digits-pictures")
    field = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "form.try input[type=file]"), "an image field")
    field.send_keys(PICTURE)
    driver.find_element(By.XPATH, "//form[@class='try']//button[text()='Predict']").click()
    answer = wait_for(driver, lambda d: d.find_element(By.ID, "try-answer").text, "an answer")
    accessible(driver)
    label = driver.find_element(By.XPATH, "//div[@id='try-answer']//dt[text()='label']/following-sibling::dd[1]").text
    assert label == DIGIT, f"the picture of {DIGIT} read as {label}: {answer}"


def train_wine(driver):
    """Start a job on wine with the form and watch its curve gain points until it succeeds."""
    driver.get(BASE + "/#/")
    heading(driver, "Overview")
    driver.find_element(By.LINK_TEXT, "Start a training job").click()
    heading(driver, "Start a training job")
    Select(driver.find_element(By.ID, "dataset")).select_by_value("wine")
    driver.find_element(By.ID, "model").send_keys("wine-web")
    driver.find_element(By.ID, "epochs").send_keys("40")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Job "), "the job's page")
    points = lambda d: int(d.find_element(By.CSS_SELECTOR, "[data-points]").get_attribute("data-points"))
    seen = [wait_for(driver, lambda d: points(d) >= 1 and points(d), "a first point on the curve")]
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "main dd span").text == "succeeded",
             "the job to succeed")
    seen.append(points(driver))
    assert seen[-1] >= 2 and seen[-1] >= seen[0], f"the curve's points as seen: {seen}"
    assert driver.find_elements(By.CSS_SELECTOR, "svg.curves polyline.series"), "a drawn curve"
    diagnosis = wait_for(driver, lambda d: d.find_element(By.ID, "job-report").text, "the run's diagnosis")
    assert "Diagnosis" in diagnosis and "baseline" in diagnosis, diagnosis
    accessible(driver)
    shot(driver, "job-desktop")
    driver.find_element(By.PARTIAL_LINK_TEXT, "wine-web v1").click()
    heading(driver, "wine-web")


def monitor_digits(driver):
    """digits' monitoring after labelled predictions: its production quality and a drift row per
    pixel and one for the predicted classes."""
    driver.get(BASE + "/#/models/digits")
    heading(driver, "digits")
    driver.find_element(By.LINK_TEXT, "Monitoring").click()
    heading(driver, "digits: monitoring")
    titles = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "main h2")]
    assert any(t.startswith("Production quality of v1") for t in titles), titles
    quality = driver.find_element(By.XPATH, "//section[h2[starts-with(., 'Production quality')]]").text
    assert "40 labelled of 40 logged" in quality, quality
    assert driver.find_elements(By.CSS_SELECTOR, "main figure svg.curves polyline.series"), "quality over time, drawn"
    drift = driver.find_elements(By.XPATH, "//section[h2[starts-with(., 'Drift of v1')]]//tbody/tr")
    assert len(drift) == 65, f"64 pixels and the predicted class, found {len(drift)} rows"
    overlays = driver.find_elements(By.CSS_SELECTOR, "svg.overlay")
    assert len(overlays) == 65, f"each row's training and production distributions, found {len(overlays)}"
    accessible(driver)
    shot(driver, "monitoring-desktop")
    driver.execute_script("document.getElementById('h-drift').scrollIntoView()")
    shot(driver, "drift-desktop")

    # A policy set with the form is what the page shows next time.
    driver.find_element(By.ID, "p-floor").send_keys("0.5")
    driver.find_element(By.XPATH, "//button[text()='Set policy']").click()
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "form p[role=status]").text == "Saved.", "the policy saved")
    driver.refresh()
    heading(driver, "digits: monitoring")
    floor = wait_for(driver, lambda d: d.find_element(By.ID, "p-floor").get_attribute("value"), "the saved floor")
    assert float(floor) == 0.5, floor


def optimize_digits(driver):
    """Quantize digits v1 to int8 with the form on its page, watch the job succeed with its
    report, and find the new version's figures beside its parent's."""
    driver.get(BASE + "/#/models/digits/1")
    heading(driver, "digits")
    Select(driver.find_element(By.ID, "opt-method")).select_by_value("quantize")
    Select(driver.find_element(By.ID, "opt-scheme")).select_by_value("int8")
    driver.find_element(By.XPATH, "//form[@class='optimize']//button[text()='Start']").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Job "), "the job's page")
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "main dd span").text == "succeeded",
             "the optimize job to succeed")
    wait_for(driver, lambda d: d.find_elements(By.ID, "h-optimization"), "the job's report")
    driver.find_element(By.PARTIAL_LINK_TEXT, "digits v2").click()
    heading(driver, "digits")
    report = wait_for(driver, lambda d: d.find_element(By.XPATH, "//section[h2[starts-with(., 'Optimization')]]"),
                      "the optimization report")
    columns = [th.text for th in report.find_elements(By.CSS_SELECTOR, "thead th")]
    assert columns[1:] == ["Parent digits@1", "Variant"], columns
    rows = [tr.find_element(By.TAG_NAME, "th").text for tr in report.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert "Weights file" in rows and "Test accuracy" in rows, rows
    report.screenshot(os.path.join(SHOTS, "optimization-desktop.png"))


def datasets(driver):
    """The registered datasets, wine's profile with a histogram per feature, and a CSV file
    uploaded through the form."""
    driver.find_element(By.LINK_TEXT, "Datasets").click()
    heading(driver, "Datasets")
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "main table a")]
    assert "wine" in names and "digits" in names, names
    driver.find_element(By.LINK_TEXT, "wine").click()
    heading(driver, "Dataset wine")
    bars = driver.find_elements(By.CSS_SELECTOR, "main table svg.bars")
    assert len(bars) == 13, f"a histogram for each of wine's 13 features, found {len(bars)}"
    accessible(driver)
    shot(driver, "dataset-desktop")

    rows = "size,colour,target\n" + "".join(f"{i},{'red' if i % 2 else 'blue'},{i % 3}\n" for i in range(30))
    driver.find_element(By.LINK_TEXT, "Datasets").click()
    heading(driver, "Datasets")
    with tempfile.TemporaryDirectory() as folder:
        csv = os.path.join(folder, "tiny.csv")
        with open(csv, "w") as f:
            f.write(rows)
        driver.find_element(By.ID, "dataset-file").send_keys(csv)
        name = driver.find_element(By.ID, "dataset-name")
        name.clear()
        name.send_keys("tiny")
        driver.find_element(By.XPATH, "//form//button[text()='Upload']").click()
        heading(driver, "Dataset tiny")
    features = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert len(features) == 2, f"size and colour, found {len(features)} rows"

    # The same file dropped on the page (a drop event carrying it, as a browser makes one): it
    # is named after the file; training on it starts from its page with it chosen.
    driver.find_element(By.LINK_TEXT, "Datasets").click()
    heading(driver, "Datasets")
    driver.execute_script("""
        const files = new DataTransfer();
        files.items.add(new File([arguments[0]], "Tiny Drop.csv", { type: "text/csv" }));
        document.querySelector(".drop").dispatchEvent(new DragEvent("drop", { dataTransfer: files, bubbles: true }));
    """, rows)
    assert driver.find_element(By.ID, "dataset-name").get_attribute("value") == "tiny-drop"
    driver.find_element(By.XPATH, "//form//button[text()='Upload']").click()
    heading(driver, "Dataset tiny-drop")
    driver.find_element(By.LINK_TEXT, "Train a model on it").click()
    heading(driver, "Start a training job")
    assert Select(driver.find_element(By.ID, "dataset")).first_selected_option.get_attribute("value") == "tiny-drop"
    accessible(driver)


def as_viewer_on_a_phone():
    driver = browser(390, 844)
    try:
        sign_in(driver, BASE, VIEWER_KEY)
        assert "(viewer)" in driver.find_element(By.ID, "who").text
        shot(driver, "overview-phone")
        open_model(driver, "digits")
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.heat"), "a confusion matrix")
        shot(driver, "model-phone")
        found = [b for b in buttons(driver) if b in ACTIONS]
        assert not found, f"a viewer is offered {found}"
        driver.find_element(By.LINK_TEXT, "Monitoring").click()
        heading(driver, "digits: monitoring")
        assert not driver.find_elements(By.CSS_SELECTOR, "main form"), "a viewer is offered the policy form"
        shot(driver, "monitoring-phone")
        driver.get(BASE + "/#/")
        heading(driver, "Overview")
        driver.find_element(By.XPATH, "//main//tr[td[3][text()='wine-web']]//a").click()
        wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "main dd span").text == "succeeded", "the wine job")
        assert not [b for b in buttons(driver) if b == "Cancel"], "a viewer may not cancel"
        shot(driver, "job-phone")
        no_console_errors(driver)
    finally:
        driver.quit()


as_admin_on_a_desktop()
as_viewer_on_a_phone()
print("dashboard: overview, digits' confusion matrix, champion moved, wine trained, digits monitored, a dataset uploaded, viewer without actions")
