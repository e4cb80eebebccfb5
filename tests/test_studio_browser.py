"""The studio in a real headless Chromium (the system's, driven by Playwright): generate, see, hear, continue, download.

Skipped with the reason where no browser is installed (``make system-deps`` installs Debian's ``chromium``).
The README's picture is made the same way on a real model by ``docs/studio_screenshot.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
from symusic import Score

from tunesmith.studio.app import Studio, create_app

BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")
TIMEOUT_MS = 120_000  # generous: the test machine has two shared cores


def system_browser() -> str | None:
    env = os.environ.get("TUNESMITH_CHROMIUM")
    if env:
        return env
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


pytestmark = [
    pytest.mark.slow,  # a real browser: seconds a test
    pytest.mark.skipif(system_browser() is None, reason="no Chromium installed (make system-deps installs it)"),
    pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def band_runs(tmp_path_factory):
    """A folder holding a tiny event model with band headers (flute, bass and drums; no key tokens: the key is the
    sampler's bias alone), listed after the notechord run."""
    from musicgen import key_song
    from tunesmith.cli import main

    root = tmp_path_factory.mktemp("band")
    for i in range(6):
        key_song(root / "songs" / f"c{i}.mid", 0, False, seed=i, with_drums=i % 2 == 0)
    data, run = root / "data", root / "runs" / "band"
    args = ["prepare", str(root / "songs"), "-o", str(data), "--encoding", "event", "--instruments", "merge"]
    assert main([*args, "--drums", "keep", "--no-cache", "-q", "--transpose=-2..2"]) == 0
    args = ["train", str(data), "-o", str(run), "-q", "--epochs", "8", "--steps-per-epoch", "10", "--seq-len", "32"]
    args += ["--batch-size", "8", "--model-option", "hidden=64", "--model-option", "embed_dim=32", "--lr", "5e-3"]
    assert main(args) == 0
    return root / "runs"


@pytest.fixture(scope="module")
def server(studio_runs, band_runs):
    import uvicorn

    studio = Studio([studio_runs, band_runs])
    port = free_port()
    config = uvicorn.Config(create_app(studio), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.time() + 30
    while not server.started:
        assert time.time() < end and thread.is_alive(), "the studio did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_browser(), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server)
        yield page
        browser.close()


def history_rows(page) -> int:
    return page.locator("#history tbody tr").count()


def generate_one(page, seed: int) -> None:
    """Generate 4 bars from nothing with ``seed`` and wait for the new history row, or fail with the page's message."""
    page.select_option("#unit", "bars")
    page.fill("#length", "4")
    page.check("#seed-lock")
    page.fill("#seed", str(seed))
    page.check("input[name=primer][value=none]")
    rows = history_rows(page)
    page.click("#generate")
    page.wait_for_function(
        f"document.querySelectorAll('#history tbody tr').length === {rows + 1} || "
        "!document.querySelector('#message').classList.contains('ok') && document.querySelector('#message').textContent"
    )
    assert history_rows(page) == rows + 1, page.inner_text("#message")


def test_generate_see_hear_continue_download(page, tmp_path):
    page.wait_for_function("document.querySelectorAll('#run option').length > 0")
    assert page.locator("#run option").first.inner_text() == "tiny"
    assert "lstm on " in page.inner_text("#run-info") and "3 epochs" in page.inner_text("#run-info")
    assert page.is_hidden("#progress-box") and page.is_visible("#roll-empty")
    page.fill("#length", "8")
    page.select_option("#instruments", "strings")
    page.check("#seed-lock")
    page.fill("#seed", "7")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 1")
    assert page.is_hidden("#progress-box") and page.is_hidden("#roll-empty") and page.is_hidden("#cancel")
    # the piano roll is drawn from the notes: painted pixels, one legend entry per instrument
    notes = int(page.get_attribute("#roll", "data-notes"))
    assert notes > 0
    painted = page.evaluate(
        """() => { const c = document.querySelector('#roll'); const d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] > 60 || d[i + 1] > 60 || d[i + 2] > 60) n++; return n; }"""
    )
    assert painted > 50
    assert page.locator("#legend span").count() >= 1
    # the audio element loads a playable WAV
    page.wait_for_function("document.querySelector('#player').readyState >= 2")
    duration = page.evaluate("document.querySelector('#player').duration")
    assert duration > 0.5
    page.evaluate("document.querySelector('#player').muted = true")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 0.2")
    page.evaluate("document.querySelector('#player').pause()")
    playhead = page.evaluate(
        """() => { const c = document.querySelector('#playhead'); const d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert playhead > 0  # the playhead is drawn where the audio is
    # the MIDI download parses and holds the notes drawn
    with page.expect_download() as info:
        page.click("#downloads a[data-fmt=mid]")
    midi = tmp_path / "piece.mid"
    info.value.save_as(midi)
    assert sum(len(t.notes) for t in Score(str(midi)).tracks) == notes
    # Continue: a second history entry holding more notes
    page.click("#continue")
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 2")
    assert int(page.get_attribute("#roll", "data-notes")) > notes
    assert "continue" in page.inner_text("#history tbody tr:first-child")
    # an earlier result can be shown again
    page.click("#history tbody tr:last-child button:has-text('show')")
    page.wait_for_function(f"document.querySelector('#roll').dataset.notes === '{notes}'")


def test_cancel_stops_generation_from_the_page(page):
    page.fill("#length", "40000")
    page.select_option("#unit", "tokens")
    page.click("#generate")
    page.wait_for_function("document.querySelector('#status').textContent.includes('tokens')")
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#message').textContent === 'cancelled'")
    assert page.is_enabled("#generate") and page.is_hidden("#progress-box")
    page.select_option("#unit", "bars")
    page.fill("#length", "8")


def test_bad_upload_shows_its_message(page, tmp_path):
    bad = tmp_path / "notes.mid"
    bad.write_text("these are my notes, typed, not a MIDI file")
    page.set_input_files("#primer-file", str(bad))
    page.wait_for_function("document.querySelector('#message').textContent.includes('cannot read notes.mid')")
    assert "Traceback" not in page.inner_text("body")


def test_runs_page_shows_curves_evaluation_and_samples(page):
    page.click("#tab-runs")
    page.click("#runs li")
    page.wait_for_function("document.querySelector('#run-title').textContent === 'tiny'")
    assert "test nll" in page.inner_text("#eval-table") and "n-gram" in page.inner_text("#eval-table")
    curve = page.evaluate(
        """() => { const c = document.querySelector('#curves'); const d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert curve > 500  # axes, two loss curves, their points and labels
    assert page.locator("#samples li").count() == 4
    page.click("#samples li:first-child button")
    page.wait_for_function("(document.querySelector('#samples audio') || {}).readyState >= 2")
    page.click("#tab-compose")


def test_band_and_key_are_asked_from_the_page(page, tmp_path):
    from tunesmith.keys import estimate_key

    page.select_option("#run", label="band")
    page.wait_for_function("!document.querySelector('#band-box').hidden")
    names = page.locator("#band label").all_inner_texts()
    assert [n.strip() for n in names] == ["Drums", "Electric Bass (finger)", "Flute"]  # the programs it can play
    # the model's choice, the key it starts in (kept), 24 keys
    assert page.is_visible("#key-label") and page.locator("#key option").count() == 26
    page.select_option("#key", "D minor")
    # a band keeps the model's own tracks: the Instruments preset (one stream by pitch range) is shown as not applying
    page.select_option("#instruments", "strings")
    assert page.is_enabled("#instruments") and page.is_hidden("#instruments-off")
    page.check("#band input[value='73']")
    assert page.is_disabled("#instruments") and page.is_visible("#instruments-off")
    page.check("#band input[value='drums']")
    page.uncheck("#band input[value='73']")
    assert page.is_disabled("#instruments")  # drums are still ticked
    page.check("#band input[value='73']")
    generate_one(page, seed=4)  # under the pull toward D minor this tiny model writes mostly rests from seeds 1 and 5
    assert "(asked D minor)" in page.inner_text("#result-title")
    assert {t.split(" (")[0] for t in page.locator("#legend span").all_inner_texts()} <= {"Flute", "drums"}
    assert "Drums, Flute" in page.inner_text("#history tbody tr:first-child")
    with page.expect_download() as info:
        page.click("#downloads a[data-fmt=mid]")
    midi = tmp_path / "piece.mid"
    info.value.save_as(midi)
    score = Score(str(midi))
    assert {t.program for t in score.tracks if len(t.notes) and not t.is_drum} == {73}  # the band, and only it
    assert estimate_key(score).name == "D minor"  # the key bias on a model that never heard D minor
    page.screenshot(path=str(tmp_path / "band-key.png"), full_page=True)
    # none ticked: the preset applies again, the choice made before the band kept
    page.uncheck("#band input[value='73']")
    page.uncheck("#band input[value='drums']")
    assert page.is_enabled("#instruments") and page.is_hidden("#instruments-off")
    assert page.input_value("#instruments") == "strings"
    page.select_option("#instruments", "")
    # the notechord run has no band, but takes a key (its pitch tokens are biased)
    page.select_option("#run", label="tiny")
    page.wait_for_function("document.querySelector('#band-box').hidden")
    assert page.is_visible("#key-label")


def test_density_is_asked_from_the_page(page, tmp_path):
    page.select_option("#run", label="band")
    page.wait_for_function("!document.querySelector('#density-label').hidden")
    corpus = page.evaluate("state.runs.find((r) => r.name === 'band').controls.density_corpus")
    assert corpus > 0  # the band's songs were prepared today: their notes a bar were counted
    options = [o.strip() for o in page.locator("#density-mode option").all_inner_texts()]
    assert options == ["the model's own", f"the songs' own ({round(corpus, 1):g})", "about"]
    assert page.is_hidden("#density")  # the number is asked for only with "about"
    page.select_option("#density-mode", "number")
    assert page.is_visible("#density")
    page.fill("#density", "3")
    for box in page.locator("#band input:checked").all():
        box.uncheck()
    page.select_option("#key", "")
    generate_one(page, seed=2)
    density = page.evaluate("state.current.result.density")  # generate.json's record of the sample, and its count
    assert density["asked"] == "3" and density["by"].startswith("3 notes a bar (asked), kept by pulling")
    assert density["target"] == 3 and density["played"] >= 0
    assert f"{density['played']:g} notes a bar (asked 3)" in page.inner_text("#result-title")
    page.screenshot(path=str(tmp_path / "density.png"), full_page=True)
    # restore puts the density back; the songs' own is offered by name
    page.select_option("#density-mode", "auto")
    assert page.is_hidden("#density")
    page.click("#history tbody tr:first-child button:has-text('restore')")
    assert page.input_value("#density-mode") == "number" and page.input_value("#density") == "3"
    # the notechord run has no bar tokens: no density control, and nothing is sent
    page.select_option("#run", label="tiny")
    page.wait_for_function("document.querySelector('#density-label').hidden")
    assert page.evaluate("settings().density") is None
    page.select_option("#run", label="band")
    assert page.input_value("#density-mode") == "" and page.is_hidden("#density")
