"""The page at / in a real browser (headless Chromium driven by Playwright): for a digits run, pick a
digit image and see the class `dlspec predict` gives; for a table run, fill the form built from the
run's columns (a category as a choice) and see the value; a screenshot of each is kept as a test
artifact (its path printed). Skipped, with the reason, where Playwright or Chromium is missing."""
import os
import shutil

import pytest

import dlspec
from tests.helpers.predict_runs import make_run
from tests.helpers.served import digit_images, make_digit_run, make_rows_images_run, serving

pytestmark = pytest.mark.slow


def chromium_path():
    for name in (os.environ.get("DLSPEC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                                   "(pip install playwright)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (Debian: apt-get install -y chromium; or set DLSPEC_CHROMIUM)")
    with playwright.sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=executable, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Exception as exc:  # a Chromium that cannot start here (no sandbox support, missing libraries)
            pytest.skip(f"Chromium at {executable} does not start: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("page")


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    return page, errors


def keep(page, base, name):
    shot = base / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 1000


def test_an_image_run_predicts_an_uploaded_digit(browser, base):
    run = make_digit_run(base)
    image = digit_images()[7][0]
    expected = dlspec.predict(str(run), [str(image)], top=5)[0]
    with serving(run) as url:
        page, errors = open_page(browser, url)
        assert "dlspec serve: digits" in page.inner_text("#title")
        assert "accuracy" in page.inner_text("#metrics")  # the test metrics of results.json
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#answer .label", timeout=20_000)
        assert page.inner_text("#answer .label") == expected["label"]
        bars = page.query_selector_all("#answer .bar")
        assert len(bars) == 5 and bars[0].inner_text().split()[0] == expected["label"]
        assert page.evaluate("document.getElementById('curves').naturalWidth") > 0  # curves.png loaded
        keep(page, base, "digits-page")
        assert not errors


def test_a_table_run_answers_the_form(browser, base):
    run = make_run(base, "categories")
    rows = base / "one.csv"
    rows.write_text("size,city,rooms\n80,lyon,3\n")
    expected = dlspec.predict(str(run), [str(rows)])[0]["prediction"]
    with serving(run) as url:
        page, errors = open_page(browser, url)
        options = page.eval_on_selector_all("#col-city option", "nodes => nodes.map(n => n.value)")
        assert set(options) == {"", "paris", "lyon", "nice"}
        page.fill("#col-size", "80")
        page.select_option("#col-city", "lyon")
        page.fill("#col-rooms", "3")
        page.click("#go")
        page.wait_for_selector("#answer .label", timeout=20_000)
        assert float(page.inner_text("#answer .label")) == pytest.approx(expected, rel=1e-3)
        page.fill("#col-size", "big")  # a bad cell: the server's message on the page
        page.click("#go")
        page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=20_000)
        assert "'big' is not a number" in page.inner_text("#error")
        keep(page, base, "table-page")
        assert not errors


def test_a_series_run_plots_the_forecast_and_a_text_run_answers_a_sentence(browser, base):
    series, text = make_run(base, "series"), make_run(base, "text")
    forecast = [a["prediction"] for a in dlspec.predict(str(series), [], steps=10)]
    with serving(series) as url:
        page, errors = open_page(browser, url)
        page.click("#go")  # the values are filled with the end of the training series: predict's own history
        page.wait_for_selector("#plot polyline", timeout=20_000)
        shown = [float(v) for v in page.inner_text("#answer .label").split(",")]
        assert shown == pytest.approx(forecast, rel=1e-3, abs=1e-3)
        assert len(page.query_selector_all("#plot polyline")) == 2  # the history, then the forecast
        page.fill("#values", "1, 2, abc")  # said on the page, by name, before anything is sent
        page.click("#go")
        page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=20_000)
        assert page.inner_text("#error") == "'abc' is not a number"
        keep(page, base, "series-page")
        assert not errors
    expected = dlspec.predict(str(text), ["a very good film"], top=2)[0]
    with serving(text) as url:
        page, errors = open_page(browser, url)
        page.fill("#text", "a very good film")
        page.click("#go")
        page.wait_for_selector("#answer .label", timeout=20_000)
        assert page.inner_text("#answer .label") == expected["label"]
        assert not errors


def test_a_run_whose_rows_name_images_answers_a_form_with_a_file(browser, base, tmp_path):
    """The page of a run with an image column (specs/listing.dlspec's kind): a file field for the image beside
    the number and the category, sent as one row with its image; the value is predict's for that row."""
    made = make_rows_images_run(tmp_path)
    rows = tmp_path / "one.csv"
    rows.write_text("photo,sqm,town\n05.png,64,b\n")
    expected = dlspec.predict(str(made / "run"), [str(rows)])[0]["prediction"]
    with serving(made / "run") as url:
        page, errors = open_page(browser, url)
        page.set_input_files("#col-photo", str(made / "05.png"))
        page.fill("#col-sqm", "64")
        page.select_option("#col-town", "b")
        page.click("#go")
        page.wait_for_selector("#answer .label", timeout=20_000)
        assert float(page.inner_text("#answer .label")) == pytest.approx(expected, rel=1e-3)
        keep(page, base, "rows-with-images-page")
        assert not errors


SEVERAL = """
model M { input vector(auto); h = input -> linear(8) -> relu; output price = h -> linear(1); output kind = h -> linear(3) }
data d { source csv("flats.csv", target=["price", "kind"]); split train=0.5 val=0.25 test=0.25 }
train { model M; data d; loss price: mse, kind: cross_entropy; epochs 1 }
"""


def test_a_several_output_run_shows_bars_for_its_classes(browser, tmp_path):
    """A run with a value and a class among three: the page asks for the class output's top classes (its
    `classes` live per output, not on the run) and shows a bar for each, as predict's top=3 lists them."""
    lines = ["sqm,price,kind"] + [f"{20 + 7 * i},{100 + 3 * i}.0,{'abc'[i % 3]}" for i in range(30)]
    (tmp_path / "flats.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.dlspec").write_text(SEVERAL)
    run = dlspec.fit(str(tmp_path / "m.dlspec"), out=str(tmp_path / "run"), progress=False, log=lambda *a: None).out_dir
    (tmp_path / "one.csv").write_text("sqm\n55\n")
    expected = dlspec.predict(run, [str(tmp_path / "one.csv")], top=3)[0]["kind"]
    with serving(run) as url:
        page, errors = open_page(browser, url)
        page.fill("#col-sqm", "55")
        page.click("#go")
        page.wait_for_selector("#answer .bar", timeout=20_000)
        bars = [b.inner_text().split()[0] for b in page.query_selector_all("#answer .bar")]
        assert bars == [t["label"] for t in expected["top"]] and len(bars) == 3
        assert not errors
