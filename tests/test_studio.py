"""The studio's JSON API through Starlette's TestClient: every endpoint, real generation, and bad input as a 4xx."""

from __future__ import annotations

import io
import shutil
import time
import wave

import pytest
from starlette.testclient import TestClient
from symusic import Score

from musicgen import make_score
from tunesmith.cli import main
from tunesmith.studio.app import Studio, create_app

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")


@pytest.fixture(scope="module")
def client(studio_runs):
    studio = Studio([studio_runs], max_upload=64 * 1024)
    with TestClient(create_app(studio), raise_server_exceptions=False) as client:
        yield client
    assert not studio.scratch.exists()  # the scratch folder goes with the server


@pytest.fixture(scope="module")
def run_id(client) -> str:
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["tiny"]
    return runs[0]["id"]


def wait(client, job: dict, timeout: float = 120) -> dict:
    end = time.time() + timeout
    while job["state"] in ("queued", "running"):
        assert time.time() < end, f"job {job['id']} still {job['state']} after {timeout} s"
        time.sleep(0.1)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def start(client, run_id, **settings) -> dict:
    response = client.post("/api/generate", json={"run": run_id, "primer": "none", **settings})
    assert response.status_code == 202, response.text
    return response.json()


def test_runs_are_described_with_their_controls(client, run_id):
    run = client.get("/api/runs").json()["runs"][0]
    assert (run["encoding"], run["model"], run["epochs"]) == ("notechord", "lstm", 3)
    assert run["data"].endswith("/data")  # a folder named data is named with its parent
    assert "path" not in run  # no server path goes to the page
    assert "strings" in run["controls"]["instruments"] and run["controls"]["random_primer"]
    assert run["controls"]["band"] == [] and len(run["controls"]["keys"]) == 24  # no band header; a key by its bias
    assert not run["controls"]["key_auto"]  # note/chord tokens have no bar line to find the first bars by
    assert not run["controls"]["density"] and run["controls"]["density_corpus"] is None  # no bar line to count by
    assert run["controls"]["no_copy"]  # pitch tokens, and the training data to compare with
    assert run["eval"]["test_nll"] > 0 and run["eval"]["ngram_nll"] > 0 and run["eval"]["ngram_order"] >= 1
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["curves"]["epoch"] == [1.0, 2.0, 3.0] and len(detail["curves"]["valid_loss"]) == 3
    table = {row[0]: row[1:] for row in detail["eval_table"]}
    assert table["test nll"][1:] == [run["eval"]["test_nll"], run["eval"]["ngram_nll"]]
    assert table["pitch_range"][0] is not None  # real music's mean beside the network's and the n-gram's
    assert detail["samples"] == ["eval/network/sample-01.mid", "eval/network/sample-02.mid",
                                 "eval/ngram/sample-01.mid", "eval/ngram/sample-02.mid"]  # fmt: skip


@needs_fluidsynth
def test_run_samples_are_served_as_midi_and_wav(client, run_id):
    midi = client.get(f"/api/runs/{run_id}/samples/0.mid")
    assert midi.status_code == 200 and Score.from_midi(midi.content).note_num() > 0
    audio = client.get(f"/api/runs/{run_id}/samples/0.wav")
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() > 0
    assert client.get(f"/api/runs/{run_id}/samples/99.mid").status_code == 404
    assert client.get(f"/api/runs/{run_id}/samples/0.exe").status_code == 404


def test_index_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="roll"' in page.text
    for name in ("studio.js", "studio.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "https://" not in client.get("/static/studio.js").text  # nothing from a CDN


@pytest.mark.slow
@needs_fluidsynth
def test_generate_then_continue_then_download(client, run_id):
    job = wait(client, start(client, run_id, length=8, unit="bars", seed=3, instruments="strings", tempo=90))
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert result["notes"] > 0 and result["tokens"] > 0 and job["progress"]["tokens"] == result["tokens"]
    assert {t["name"] for t in result["tracks"]} <= {"Violin", "Viola", "Cello", "Contrabass"}
    assert set(result["downloads"]) == {"mid", "wav", "musicxml"}
    midi = client.get(f"/api/jobs/{job['id']}/files/mid")
    assert midi.status_code == 200 and "attachment" in midi.headers["content-disposition"]
    score = Score.from_midi(midi.content)
    assert sum(len(t.notes) for t in score.tracks) == result["notes"]
    assert round(score.tempos[0].qpm) == 90
    audio = client.get(f"/api/jobs/{job['id']}/files/wav")
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() / wav.getframerate() >= result["duration"] * 0.9
    xml = client.get(f"/api/jobs/{job['id']}/files/musicxml")
    assert xml.status_code == 200 and b"score-partwise" in xml.content
    # the same settings and seed: the same MIDI bytes
    again = wait(client, start(client, run_id, length=8, unit="bars", seed=3, instruments="strings", tempo=90))
    assert client.get(f"/api/jobs/{again['id']}/files/mid").content == midi.content
    # Continue keeps the whole earlier piece and adds after it
    more = client.post("/api/generate", json={"run": run_id, "continue": job["id"], "length": 4, "unit": "bars"})
    more = wait(client, more.json())
    assert more["state"] == "done", more["error"]
    longer = Score.from_midi(client.get(f"/api/jobs/{more['id']}/files/mid").content)
    before = sorted((n.time, n.pitch) for t in score.tracks for n in t.notes)
    after = sorted((n.time, n.pitch) for t in longer.tracks for n in t.notes)
    assert after[: len(before)] == before and len(after) > len(before)


def test_nothing_copied_is_asked_through_the_same_config_and_reported(client, run_id):
    job = wait(client, start(client, run_id, length=4, unit="bars", seed=2, no_copy=True))
    assert job["state"] == "done", job["error"]
    assert set(job["result"]["no_copy"]) == {"held_back", "let_through"}


def test_two_generations_at_once_both_finish(client, run_id):
    jobs = [start(client, run_id, length=64, unit="tokens", seed=s) for s in (1, 2)]
    done = [wait(client, j) for j in jobs]
    assert [j["state"] for j in done] == ["done", "done"]
    assert done[0]["result"]["tracks"] != done[1]["result"]["tracks"]  # two seeds, two pieces


def test_cancel_stops_a_running_job(client, run_id):
    job = start(client, run_id, length=40000, unit="tokens", seed=5)
    while job["progress"]["tokens"] == 0:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    assert client.post(f"/api/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    time.sleep(0.5)
    first = client.get(f"/api/jobs/{job['id']}").json()["progress"]["tokens"]
    time.sleep(0.5)
    later = client.get(f"/api/jobs/{job['id']}").json()
    assert later["state"] == "cancelled" and later["progress"]["tokens"] == first < 40000 and later["result"] is None


def test_uploaded_primer_is_continued(client, run_id, tmp_path):
    path = tmp_path / "primer.mid"
    tune = [(i * 0.5, 0.5, [60, 64, 67, 65, 62, 72][i % 6], 80) for i in range(12)]  # in the model's vocabulary
    make_score([{"program": 0, "notes": tune}]).dump_midi(str(path))
    upload = client.post("/api/primers?name=primer.mid", content=path.read_bytes())
    assert upload.status_code == 200, upload.text
    assert upload.json()["notes"] == 12 and upload.json()["name"] == "primer.mid"
    job = client.post(
        "/api/generate",
        json={"run": run_id, "primer": "upload", "upload": upload.json()["id"], "length": 32, "unit": "tokens"},
    )
    job = wait(client, job.json())
    assert job["state"] == "done", job["error"]
    pitches = [n[2] for n in job["result"]["tracks"][0]["notes"]]
    assert pitches[:12] == [p for _, _, p, _ in tune]  # the primer's notes open the piece


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "says"),
    [
        ("post", "/api/primers?name=big.mid", {"content": b"MThd" + b"\0" * 70_000}, 413, "too large"),
        ("post", "/api/primers?name=song.mid", {"content": b"just some text, not a MIDI file"}, 400, "song.mid"),
        ("post", "/api/primers?name=song.exe", {"content": b"MZ"}, 400, "MIDI or ABC"),
        ("post", "/api/primers?name=../../etc/passwd", {"content": b"root:x:0:0"}, 400, "MIDI or ABC"),
        ("post", "/api/primers?name=empty.mid", {"content": b""}, 400, "empty"),
        ("get", "/api/runs/nope", {}, 404, "unknown run"),
        ("get", "/api/runs/..%2F..%2Fetc%2Fpasswd", {}, 404, "not found"),
        ("get", "/api/runs/../../etc/passwd", {}, 404, ""),
        ("get", "/static/../../../../etc/passwd", {}, 404, ""),
        ("get", "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", {}, 404, ""),
        ("get", "/api/jobs/nope", {}, 404, "unknown job"),
        ("post", "/api/jobs/nope/cancel", {}, 404, "unknown job"),
        ("get", "/api/jobs/nope/files/mid", {}, 404, "no finished piece"),
        ("post", "/api/generate", {"content": b"{not json"}, 400, "not JSON"),
        ("post", "/api/generate", {"json": [1, 2]}, 400, "JSON object"),
        ("post", "/api/generate", {"json": {"run": "../../etc/passwd"}}, 404, "unknown run"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(client, method, path, kwargs, status, says):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    if says:
        assert says.lower() in response.json()["error"].lower()
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"length": -5}, "length must be at least 1"),
        ({"length": 1.5}, "length must be an integer"),
        ({"length": "lots"}, "length must be a number"),
        ({"unit": "parsecs"}, "length unit"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": "NaN"}, "temperature must be a finite number"),
        ({"top_p": 0}, "top-p"),
        ({"tempo": 5000}, "tempo"),
        ({"seed": -1}, "seed"),
        ({"instruments": "kazoo-orchestra"}, "kazoo-orchestra"),
        ({"instruments": "/etc/passwd.toml"}, "unknown instruments"),
        ({"instruments": "pyproject.toml"}, "unknown instruments"),
        ({"style": "jazz"}, "unknown style"),
        ({"key": "H major"}, "unknown key"),
        ({"key": "auto"}, "ask for a key by name"),  # the notechord run has no bar line to find its first bars by
        ({"density": "busy"}, "density takes a number of notes a bar or auto, not 'busy'"),
        ({"density": 0}, "density must be between 0 and 1000 notes a bar"),
        ({"density": True}, "density must be a number of notes a bar or auto"),
        ({"density": "auto"}, "--density counts notes between bar lines"),  # the notechord run has no bar tokens
        ({"density": 12}, "needs an event (REMI) model"),
        ({"band": "flute; rm -rf"}, "band must list program numbers"),
        ({"band": "73"}, "--band needs an event model"),  # the notechord run has no band header
        ({"time_signature": "7/0"}, "time"),
        ({"primer": "/etc/passwd"}, "primer must be"),
        ({"primer": "upload", "upload": "u123"}, "unknown upload"),
        ({"continue": "j1-nothing"}, "no finished piece"),
        ({"no_copy": "yes"}, "no_copy must be true or false"),
    ],
)
def test_bad_options_get_a_4xx_with_a_message(client, run_id, settings, says):
    response = client.post("/api/generate", json={"run": run_id, "primer": "none", **settings})
    if response.status_code == 202:  # options the generator checks fail the job with its message
        job = wait(client, response.json())
        assert job["state"] == "failed" and says.lower() in job["error"].lower(), job
        return
    assert 400 <= response.status_code < 500, response.text
    assert says.lower() in response.json()["error"].lower()


def test_studio_command_refuses_what_it_cannot_serve(tmp_path, capsys):
    assert main(["studio", str(tmp_path)]) == 2
    assert "no trained run" in capsys.readouterr().err
    assert main(["studio", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_abc_primer_is_read_in_a_worker(client):
    tune = "X:1\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|c2B2 A2G2|]\n"
    upload = client.post("/api/primers?name=tune.abc", content=tune.encode())
    assert upload.status_code == 200, upload.text
    assert upload.json()["notes"] == 12


def test_a_primer_past_the_timeout_is_skipped(tmp_path):
    from tunesmith.studio import engine

    path = tmp_path / "slow.mid"
    make_score([{"program": 0, "notes": [(0, 1, 60, 80)]}]).dump_midi(str(path))
    with pytest.raises(engine.StudioError, match=r"took longer than 0\.01 s"):
        engine.check_primer(path, timeout=0.01)  # a worker cannot even start in 10 ms: it is killed
    from tunesmith.config import IngestConfig

    assert engine.primer_timeout() == IngestConfig().file_timeout  # the default is prepare's --file-timeout


def test_the_queue_forgets_old_jobs_and_frees_their_files(tmp_path):
    from tunesmith.studio.jobs import JobQueue

    queue = JobQueue(workers=1, keep=2)
    folders = [tmp_path / f"job{i}" for i in range(3)]
    jobs = []
    for folder in folders:
        folder.mkdir()
        jobs.append(queue.submit(lambda progress, cancelled: {"ok": True}, {}, str, lambda f=folder: f.rmdir()))
    end = time.time() + 30
    while jobs[2].state != "done":
        assert time.time() < end
        time.sleep(0.01)
    assert queue.get(jobs[0].id) is None and not folders[0].exists()
    assert [queue.get(j.id).state for j in jobs[1:]] == ["done", "done"] and folders[2].exists()
    queue.shutdown()


@pytest.mark.parametrize(
    ("asked", "sent"), [(None, None), ("", None), (12, "12"), (12.5, "12.5"), ("7.25", "7.25"), ("AUTO", "auto")]
)
def test_the_density_asked_is_checked_and_passed_to_the_generator(asked, sent):
    from tunesmith.studio.engine import GenerateRequest

    request = GenerateRequest.from_json({"density": asked})
    assert request.density == sent and request.settings(("mid",))["density"] == sent


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ("lots", "density takes a number of notes a bar or auto, not 'lots'"),
        (-3, "density must be between 0 and 1000 notes a bar, not -3"),
        ("nan", "density must be between"),
        (1e6, "density must be between"),
        (False, "density must be a number of notes a bar or auto"),
        ([12], "density must be a number of notes a bar or auto"),
        ("9" * 100, "density must be a number of notes a bar or auto"),
    ],
)
def test_a_wrong_density_is_one_line_naming_the_field(asked, says):
    from tunesmith.studio.engine import GenerateRequest, StudioError

    with pytest.raises(StudioError) as caught:
        GenerateRequest.from_json({"density": asked})
    assert str(caught.value).startswith(says) and "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def event_run(tmp_path_factory):
    """A tiny event (REMI) model, one short epoch: bar tokens, and its songs' notes a bar counted at fit."""
    from musicgen import key_song

    root = tmp_path_factory.mktemp("event")
    for i in range(3):
        key_song(root / "songs" / f"k{i}.mid", 0, False, seed=i, bars=4)
    data, run = root / "data", root / "run"
    args = ["prepare", str(root / "songs"), "-o", str(data), "--encoding", "event", "--instruments", "merge", "-q"]
    assert main([*args, "--no-cache"]) == 0
    args = ["train", str(data), "-o", str(run), "-q", "--epochs", "1", "--steps-per-epoch", "2", "--seq-len", "16"]
    assert main([*args, "--batch-size", "4", "--model-option", "hidden=16", "--model-option", "embed_dim=8"]) == 0
    return run


def test_an_event_model_offers_its_songs_own_density(event_run, tmp_path):
    import json
    import shutil

    import torch

    from tunesmith.checkpoint import load_model
    from tunesmith.studio.engine import describe_run

    counted = load_model(event_run)[1].stats["notes_per_bar"]
    controls = describe_run(event_run)["controls"]
    assert controls["density"] and controls["density_corpus"] == pytest.approx(counted) and counted > 0
    # a model prepared before tunesmith counted notes a bar takes a number, but has no figure of its songs' own
    older = tmp_path / "older"
    shutil.copytree(event_run, older)
    for file in (older / "checkpoints").glob("*.pt"):
        data = torch.load(file, weights_only=True)
        tokenizer = json.loads(data["tokenizer"])
        del tokenizer["stats"]["notes_per_bar"]
        data["tokenizer"] = json.dumps(tokenizer)
        torch.save(data, file)
    controls = describe_run(older)["controls"]
    assert controls["density"] and controls["density_corpus"] is None
