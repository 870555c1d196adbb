"""The claim page in a real browser: headless Chromium in a phone-sized window opens the page
over plain http on the machine's LAN address (not a secure context, as in a room), types a
code, reads the key from the page and presses copy. Skipped where Chromium is not installed.

Set KEYPROV_SCREENSHOTS=DIR to keep the screenshots (form, key page) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from keyprov.claim.page import ClaimSettings, lan_address
from tests.claim.support import claim_page, code_of, folder_of
from tests.helpers import CliWorkshop, make_roster

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromedriver are not installed"
)
PHONE = (390, 844)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={PHONE[0]},{PHONE[1]}")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_window_size(*PHONE)
    yield driver
    driver.quit()


def _shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("KEYPROV_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_a_phone_types_its_code_reads_its_key_and_copies_it(
    workshop: CliWorkshop, management_key, browser, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    make_roster(workshop.roster, 3)
    assert workshop.provision("--closed").returncode == 0
    address = lan_address()
    settings = (
        ClaimSettings(host="0.0.0.0", port=0, plain_http=True) if address else ClaimSettings(port=0)
    )
    with claim_page(workshop, management_key, settings) as page:
        url = page.url
        browser.get(url)
        assert "Get your API key" in browser.title
        if address:
            assert browser.execute_script("return window.isSecureContext") is False
        field = browser.find_element(By.ID, "code")
        field.send_keys(code_of(workshop, "person1@example.org").lower())
        _shot(browser, tmp_path, "claim-form")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        try:
            key_field = WebDriverWait(browser, 30).until(
                expected_conditions.presence_of_element_located((By.ID, "key"))
            )
        except Exception:
            _shot(browser, tmp_path, "claim-failed")
            raise AssertionError(browser.page_source) from None
        shown = key_field.get_attribute("value")
        state = (folder_of(workshop) / "state.jsonl").read_text()
        assert shown and shown.startswith("sk-or-v1-") and shown in state
        copy = browser.find_element(By.CSS_SELECTOR, "button[data-copy=key]")
        assert copy.is_displayed(), "the script ran (CSP allows the page's own file)"
        copy.click()
        status = browser.find_element(By.ID, "copy-status")
        WebDriverWait(browser, 10).until(lambda _driver: status.text)
        assert copy.text == "Copied" and status.text.startswith("Copied")
        selected = browser.execute_script(
            "const f = document.getElementById('key');"
            "return f.value.substring(f.selectionStart, f.selectionEnd)"
        )
        assert selected == shown, "the whole key is what was copied"
        _shot(browser, tmp_path, "claim-key")
        # The page asked for nothing from elsewhere and its policy held: no console errors.
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == [], [entry["message"] for entry in errors]
        # Another phone with the same code: told it was claimed, shown nothing.
        browser.delete_all_cookies()
        browser.get(url)
        browser.find_element(By.ID, "code").send_keys(code_of(workshop, "person1@example.org"))
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 30).until(lambda driver: "Already claimed" in driver.page_source)
        assert "sk-or-v1-" not in browser.page_source
        _shot(browser, tmp_path, "claim-already")
