"""The chat page in headless Chromium (Selenium): type a message, see the reply stream in with
the speed, and a token's alternatives on hover. Skipped without selenium, chromium and
chromedriver (Debian: apt-get install chromium chromium-driver)."""
import shutil

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs chromium and chromedriver")

TIMEOUT = 30


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1100,700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


def test_a_message_gets_a_streamed_reply_with_alternatives_on_hover(servers, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, TIMEOUT)
    browser.get(servers["chat"].url + "/")
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "model"), "chat"))
    box = browser.find_element(By.ID, "message")
    box.send_keys("the cat sees", Keys.ENTER)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "stats"), "finished"))
    assert browser.find_element(By.CSS_SELECTOR, ".turn.user").text == "the cat sees"
    tokens = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant .token")
    assert tokens and not browser.find_elements(By.CSS_SELECTOR, ".turn.error")
    assert "tokens/s" in browser.find_element(By.ID, "stats").text
    visible = max(tokens, key=lambda token: token.size["width"])   # not a bare line break
    ActionChains(browser).move_to_element(visible).perform()
    tooltip = browser.find_element(By.ID, "tooltip")
    wait.until(lambda _: tooltip.is_displayed())
    assert "%" in tooltip.text and tooltip.find_elements(By.CSS_SELECTOR, "tr.chosen")
