// tunesmith studio: the page. Plain JavaScript, no build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PALETTE = ["#4e9be6", "#f2a541", "#5cc48a", "#e0637a", "#a98be8", "#47c6c6", "#d9d26a", "#e68a4e"];
const state = { runs: [], current: null, history: [], job: null, uploadId: null, polling: null, roll: null };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text || "";
  box.className = ok ? "ok" : "";
}

// -- runs and controls ------------------------------------------------------------------------------------------

function fmt(x, digits = 3) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function runSummary(run) {
  if (run.error) return `cannot be loaded: ${run.error}`;
  const epochs = `${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`;
  let text = `${run.model} on ${run.data} (${run.encoding}, ${epochs}, vocabulary ${run.vocab})`;
  if (run.eval) text += ` · test NLL ${fmt(run.eval.test_nll)} vs ${run.eval.ngram_order}-gram ${fmt(run.eval.ngram_nll)}`;
  else text += " · not evaluated yet";
  return text;
}

async function loadRuns() {
  const data = await api("/api/runs");
  state.runs = data.runs;
  const select = $("#run");
  select.innerHTML = "";
  for (const run of state.runs) {
    const option = document.createElement("option");
    option.value = run.id;
    option.textContent = run.name + (run.error ? " (unusable)" : "");
    option.disabled = !!run.error;
    select.appendChild(option);
  }
  onRunChange();
  renderRunsList();
}

function currentRun() { return state.runs.find((r) => r.id === $("#run").value); }

function onRunChange() {
  const run = currentRun();
  if (!run) return;
  $("#run-info").textContent = runSummary(run);
  const controls = run.controls || {};
  const instruments = $("#instruments");
  const keep = instruments.value;
  instruments.innerHTML = '<option value="">as decoded</option>';
  for (const name of controls.instruments || []) instruments.add(new Option(name, name));
  instruments.value = keep;
  const styles = controls.styles || [];
  $("#style-label").hidden = styles.length === 0;
  $("#style").innerHTML = '<option value="">none</option>';
  for (const name of styles) $("#style").add(new Option(name, name));
  const keys = controls.keys || [];
  const key = $("#key").value;
  $("#key-label").hidden = keys.length === 0;
  $("#key").innerHTML = '<option value="">the model\'s choice</option>';
  if (controls.key_auto) {  // --key auto
    const kept = new Option("its own, kept", "auto");
    kept.title = "each sample keeps the key of its first bar";
    $("#key").add(kept);
  }
  for (const name of keys) $("#key").add(new Option(name, name));
  $("#key").value = keys.includes(key) || (key === "auto" && controls.key_auto) ? key : "";
  showDensityControl(controls);
  $("#no-copy-label").hidden = !controls.no_copy;
  if (!controls.no_copy) $("#no-copy").checked = false;
  const band = controls.band || [];
  $("#band-box").hidden = band.length === 0;
  $("#band").innerHTML = "";
  for (const member of band) {
    const label = document.createElement("label");
    label.className = "inline";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = member.program < 0 ? "drums" : String(member.program);
    box.addEventListener("change", showInstrumentsApply);
    label.append(box, ` ${member.name}`);
    $("#band").appendChild(label);
  }
  showInstrumentsApply();
  document.querySelector('input[name=primer][value=random]').disabled = !controls.random_primer;
}

// --density: blank (the model's own), the training songs' own notes a bar where the model counted them, or a number.
function showDensityControl(controls) {
  $("#density-label").hidden = !controls.density;
  const corpus = controls.density_corpus;
  const auto = $("#density-auto");
  auto.hidden = auto.disabled = corpus == null;
  auto.textContent = corpus == null ? "the songs' own" : `the songs' own (${formatDensity(corpus)})`;
  if (!controls.density || (corpus == null && $("#density-mode").value === "auto")) $("#density-mode").value = "";
  showDensityNumber();
}

function showDensityNumber() { $("#density").hidden = $("#density-mode").value !== "number"; }

function formatDensity(value) { return String(Math.round(value * 10) / 10); }

function densitySetting() {
  if ($("#density-label").hidden) return null;
  const mode = $("#density-mode").value;
  if (mode === "number") return $("#density").value === "" ? null : Number($("#density").value);
  return mode || null;
}

function restoreDensity(value) {
  const auto = value === "auto" && !$("#density-auto").disabled;
  const number = value != null && value !== "auto";
  $("#density-mode").value = auto ? "auto" : number ? "number" : "";
  $("#density").value = number ? value : "";
  showDensityNumber();
}

// A band keeps the model's own tracks, so the Instruments preset (one stream spread by pitch range) does not apply
// while a band member is ticked: the select is disabled (its choice kept for when none is) and not sent.
function bandTicked() { return document.querySelector("#band input:checked") !== null; }

function showInstrumentsApply() {
  const ticked = bandTicked();
  $("#instruments").disabled = ticked;
  $("#instruments-off").hidden = !ticked;
}

function primerKind() { return document.querySelector("input[name=primer]:checked").value; }

function settings() {
  return {
    run: $("#run").value,
    primer: primerKind(),
    upload: state.uploadId,
    temperature: Number($("#temperature").value),
    top_p: Number($("#top-p").value),
    length: $("#length").value === "" ? null : Number($("#length").value),
    unit: $("#unit").value,
    form: $("#form").value.trim() || null,
    seed: Number($("#seed").value),
    instruments: bandTicked() ? null : $("#instruments").value || null,
    style: $("#style").value || null,
    tempo: $("#tempo").value === "" ? null : Number($("#tempo").value),
    time_signature: $("#time-signature").value || null,
    key: $("#key").value || null,
    density: densitySetting(),
    no_copy: $("#no-copy").checked,
    band: [...document.querySelectorAll("#band input:checked")].map((b) => b.value).join(",") || null,
  };
}

function restore(s) {
  if (state.runs.some((r) => r.id === s.run)) { $("#run").value = s.run; onRunChange(); }
  const radio = document.querySelector(`input[name=primer][value="${s.primer}"]`);
  if (radio) radio.checked = true;
  $("#temperature").value = s.temperature; $("#top-p").value = s.top_p;
  $("#length").value = s.length; $("#unit").value = s.unit; $("#seed").value = s.seed;
  $("#form").value = s.form || "";
  $("#instruments").value = s.instruments || ""; $("#style").value = s.style || "";
  $("#tempo").value = s.tempo || ""; $("#time-signature").value = s.time_signature || "";
  $("#key").value = s.key || "";
  restoreDensity(s.density);
  $("#no-copy").checked = Boolean(s.no_copy) && !$("#no-copy-label").hidden;
  const band = (s.band || "").split(",");
  for (const box of document.querySelectorAll("#band input")) box.checked = band.includes(box.value);
  showInstrumentsApply();
  $("#seed-lock").checked = true;
  showSliders();
}

function showSliders() {
  $("#temperature-out").textContent = Number($("#temperature").value).toFixed(2);
  $("#top-p-out").textContent = Number($("#top-p").value).toFixed(2);
}

// -- primers ------------------------------------------------------------------------------------------------------

async function onPrimerFile() {
  const file = $("#primer-file").files[0];
  state.uploadId = null;
  if (!file) return;
  document.querySelector("input[name=primer][value=upload]").checked = true;
  $("#primer-msg").textContent = `reading ${file.name} …`;
  say("");
  try {
    const body = await file.arrayBuffer();
    const data = await api(`/api/primers?name=${encodeURIComponent(file.name)}`, { method: "POST", body });
    state.uploadId = data.id;
    $("#primer-msg").textContent = `${data.name}: ${data.notes} notes, ${data.duration.toFixed(1)} s`;
    drawRoll(data, `Primer: ${data.name}`);
  } catch (error) {
    $("#primer-msg").textContent = "";
    say(error.message);
  }
}

// -- generation ---------------------------------------------------------------------------------------------------

async function generate(continueFrom = null) {
  say("");
  if (!$("#seed-lock").checked && !continueFrom) $("#seed").value = Math.floor(Math.random() * 1e6);
  const request = settings();
  if (continueFrom) request.continue = continueFrom;
  if (request.primer === "upload" && !continueFrom && !state.uploadId) { say("choose a MIDI or ABC file to start from"); return; }
  try {
    const job = await api("/api/generate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    state.job = job.id;
    busy(true);
    poll(job.id, request);
  } catch (error) {
    say(error.message);
  }
}

function busy(on) {
  $("#generate").disabled = on;
  $("#continue").disabled = on || !state.current;
  $("#cancel").hidden = !on;
  $("#progress-box").hidden = !on;
  if (on) { $("#progress").removeAttribute("value"); $("#status").textContent = "starting …"; }
}

function poll(jobId, request) {
  clearTimeout(state.polling);
  const tick = async () => {
    let job;
    try { job = await api(`/api/jobs/${jobId}`); } catch (error) { busy(false); say(error.message); return; }
    if (state.job !== jobId) return;
    const { tokens, budget } = job.progress;
    if (tokens > 0) {
      $("#status").textContent = `${tokens} tokens`;
      if (request.unit === "tokens" && budget) $("#progress").value = tokens / budget;
    }
    if (job.state === "queued" || job.state === "running") { state.polling = setTimeout(tick, 200); return; }
    busy(false);
    state.job = null;
    if (job.state === "done") finished(job, request);
    else if (job.state === "cancelled") say("cancelled", true);
    else say(job.error || "generation failed");
  };
  state.polling = setTimeout(tick, 150);
}

async function cancel() {
  if (!state.job) return;
  const id = state.job;
  state.job = null;
  clearTimeout(state.polling);
  try { await api(`/api/jobs/${id}/cancel`, { method: "POST" }); } catch (error) { /* already over */ }
  busy(false);
  say("cancelled", true);
}

function finished(job, request) {
  const entry = { id: job.id, number: state.history.length + 1, settings: request, result: job.result, seconds: job.seconds };
  state.history.unshift(entry);
  show(entry);
  renderHistory();
  say(`${job.result.notes} notes, ${job.result.duration.toFixed(1)} s of music in ${job.seconds.toFixed(1)} s`, true);
}

function show(entry) {
  state.current = entry;
  const run = state.runs.find((r) => r.id === entry.settings.run);
  const how = entry.settings.continue ? "continued" : `from ${entry.settings.primer}`;
  const key = entry.result.key && entry.result.key.asked
    ? ` · ${entry.result.key.estimated || "no key"} (asked ${entry.result.key.asked})` : "";
  const d = entry.result.density;
  const asked = d && (d.asked === "auto" ? `the songs' own, ${formatDensity(d.target)}` : formatDensity(d.target));
  const density = d ? ` · ${formatDensity(d.played)} notes a bar (asked ${asked})` : "";
  drawRoll(entry.result, `#${entry.number} · ${run ? run.name : "?"} · ${how}${key}${density}`);
  const player = $("#player");
  player.src = `/api/jobs/${entry.id}/files/wav`;
  player.load();
  const links = $("#downloads");
  links.innerHTML = "";
  for (const kind of entry.result.downloads) {
    const a = document.createElement("a");
    a.href = `/api/jobs/${entry.id}/files/${kind}`;
    a.textContent = kind === "mid" ? "MIDI" : kind.toUpperCase().replace("MUSICXML", "MusicXML");
    a.dataset.fmt = kind;
    a.setAttribute("download", "");
    links.appendChild(a);
  }
  $("#continue").disabled = false;
  renderHistory();
}

function renderHistory() {
  const body = $("#history tbody");
  body.innerHTML = "";
  for (const entry of state.history) {
    const s = entry.settings;
    const run = state.runs.find((r) => r.id === s.run);
    const row = document.createElement("tr");
    if (state.current && state.current.id === entry.id) row.className = "current";
    const cells = [entry.number, run ? run.name : "?", s.continue ? "continue" : s.primer, s.temperature.toFixed(2),
      s.top_p.toFixed(2), `${s.length} ${s.unit}`, s.seed,
      entry.result.band ? entry.result.band.join(", ") : s.instruments || "as decoded", entry.result.notes];
    for (const value of cells) { const td = document.createElement("td"); td.textContent = value; row.appendChild(td); }
    const actions = document.createElement("td");
    const play = document.createElement("button");
    play.className = "small"; play.textContent = "show"; play.type = "button";
    play.onclick = () => show(entry);
    const back = document.createElement("button");
    back.className = "small"; back.textContent = "restore"; back.type = "button";
    back.title = "put these settings back in the form";
    back.onclick = () => restore(entry.settings);
    actions.append(play, back);
    row.appendChild(actions);
    body.appendChild(row);
  }
}

// -- piano roll ---------------------------------------------------------------------------------------------------

function drawRoll(piece, title) {
  const canvas = $("#roll");
  const overlay = $("#playhead");
  const width = canvas.clientWidth || 900;
  const height = canvas.clientHeight || 360;
  const ratio = window.devicePixelRatio || 1;
  for (const c of [canvas, overlay]) { c.width = width * ratio; c.height = height * ratio; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = "#16181d";
  ctx.fillRect(0, 0, width, height);
  const notes = piece.tracks.flatMap((t) => t.notes);
  $("#result-title").textContent = title;
  $("#roll-empty").hidden = notes.length > 0;
  const duration = Math.max(piece.duration, 1);
  let low = Math.min(...notes.map((n) => n[2]), 127), high = Math.max(...notes.map((n) => n[2]), 0);
  if (!notes.length) { low = 48; high = 72; }
  low -= 2; high += 2;
  const rowH = height / (high - low + 1);
  const x = (t) => (t / duration) * width;
  // octave lines (C) and bar-independent second ticks
  ctx.strokeStyle = "#2a2e36"; ctx.lineWidth = 1;
  for (let p = Math.ceil(low / 12) * 12; p <= high; p += 12) {
    const y = height - (p - low + 1) * rowH;
    ctx.beginPath(); ctx.moveTo(0, y + rowH); ctx.lineTo(width, y + rowH); ctx.stroke();
    ctx.fillStyle = "#5d6470"; ctx.font = "10px sans-serif"; ctx.fillText(`C${p / 12 - 1}`, 3, y + rowH - 2);
  }
  const step = duration > 120 ? 30 : duration > 40 ? 10 : duration > 12 ? 5 : 1;
  ctx.fillStyle = "#5d6470";
  for (let t = step; t < duration; t += step) {
    ctx.fillRect(x(t), 0, 1, 4);
    ctx.fillText(`${t}s`, x(t) + 2, 12);
  }
  const legend = $("#legend");
  legend.innerHTML = "";
  const seen = {};
  piece.tracks.forEach((track, i) => {
    const same = piece.tracks.filter((t) => t.name === track.name).length;
    seen[track.name] = (seen[track.name] || 0) + 1;
    const label = same > 1 ? `${track.name} ${seen[track.name]}` : track.name;
    const colour = track.drum ? "#9aa0a8" : PALETTE[i % PALETTE.length];
    ctx.fillStyle = colour;
    for (const [start, length, pitch, velocity] of track.notes) {
      ctx.globalAlpha = 0.55 + 0.45 * (velocity / 127);
      const y = height - (pitch - low + 1) * rowH;
      ctx.fillRect(x(start), y, Math.max(x(length) - 1, 1.5), Math.max(rowH - 1, 1.5));
    }
    ctx.globalAlpha = 1;
    const tag = document.createElement("span");
    tag.style.setProperty("--c", colour);
    tag.textContent = `${label} (${track.notes.length})`;
    legend.appendChild(tag);
  });
  canvas.dataset.notes = String(notes.length);
  state.roll = { duration, width, height, ratio };
  drawPlayhead();
}

function drawPlayhead() {
  const overlay = $("#playhead");
  const ctx = overlay.getContext("2d");
  const roll = state.roll;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!roll) return;
  const player = $("#player");
  const t = player.currentTime || 0;
  if (t <= 0) return;
  ctx.setTransform(roll.ratio, 0, 0, roll.ratio, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect((t / roll.duration) * roll.width, 0, 2, roll.height);
}

function animate() {
  drawPlayhead();
  if (!$("#player").paused) requestAnimationFrame(animate);
}

// -- runs page ----------------------------------------------------------------------------------------------------

function renderRunsList() {
  const list = $("#runs");
  list.innerHTML = "";
  for (const run of state.runs) {
    const item = document.createElement("li");
    item.innerHTML = `<b></b><small></small>`;
    item.querySelector("b").textContent = run.name;
    item.querySelector("small").textContent = run.error ? run.error : `${run.model} · ${run.encoding}`;
    item.onclick = () => showRun(run.id, item);
    list.appendChild(item);
  }
}

async function showRun(id, item) {
  document.querySelectorAll("#runs li").forEach((li) => li.classList.toggle("active", li === item));
  let run;
  try { run = await api(`/api/runs/${id}`); } catch (error) { $("#run-detail-info").textContent = error.message; return; }
  $("#run-title").textContent = run.name;
  $("#run-detail-info").textContent = runSummary(run);
  drawCurves(run.curves || {});
  const table = $("#eval-table tbody");
  table.innerHTML = "";
  if (!run.eval_table.length) table.innerHTML = "<tr><td>not evaluated yet: tunesmith evaluate RUN_DIR</td></tr>";
  else {
    const head = document.createElement("tr");
    head.innerHTML = "<th>measure</th><th>real music</th><th>network</th><th>n-gram</th>";
    table.appendChild(head);
  }
  for (const [name, ...numbers] of run.eval_table) {
    const row = document.createElement("tr");
    for (const value of [name, ...numbers.map((v) => fmt(v))]) {
      const td = document.createElement("td"); td.textContent = value; row.appendChild(td);
    }
    table.appendChild(row);
  }
  const samples = $("#samples");
  samples.innerHTML = run.samples.length ? "" : "<li>no samples in this run</li>";
  run.samples.forEach((name, i) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const play = document.createElement("button");
    play.className = "small"; play.textContent = "listen";
    play.onclick = () => {
      const audio = document.createElement("audio");
      audio.controls = true; audio.src = `/api/runs/${id}/samples/${i}.wav`;
      play.replaceWith(audio);
      audio.play().catch(() => {});
    };
    const midi = document.createElement("a");
    midi.href = `/api/runs/${id}/samples/${i}.mid`; midi.textContent = "MIDI";
    item.append(label, play, midi);
    samples.appendChild(item);
  });
}

function drawCurves(columns) {
  const canvas = $("#curves");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 40;
  ctx.clearRect(0, 0, w, h);
  const series = [["train_loss", "#4e9be6"], ["valid_loss", "#e0637a"]].filter(([k]) => columns[k]);
  const epochs = columns.epoch || [];
  const values = series.flatMap(([k]) => columns[k]).filter((v) => v !== null);
  if (!epochs.length || !values.length) { ctx.fillStyle = "#888"; ctx.fillText("no metrics.csv", pad, h / 2); return; }
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const x = (i) => pad + (epochs.length > 1 ? (i / (epochs.length - 1)) * (w - 2 * pad) : (w - 2 * pad) / 2);
  const y = (v) => h - pad - ((v - lo) / span) * (h - 2 * pad);
  ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(pad, pad / 2); ctx.lineTo(pad, h - pad); ctx.lineTo(w - pad / 2, h - pad); ctx.stroke();
  ctx.fillStyle = "#666"; ctx.font = "11px sans-serif";
  ctx.fillText(hi.toFixed(3), 2, y(hi) + 4); ctx.fillText(lo.toFixed(3), 2, y(lo) + 4);
  ctx.fillText(`epoch ${epochs[0]}`, pad, h - pad + 16); ctx.fillText(`epoch ${epochs[epochs.length - 1]}`, w - pad - 50, h - pad + 16);
  series.forEach(([key, colour], k) => {
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    columns[key].forEach((v, i) => { if (v !== null) (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))); });
    ctx.stroke();
    ctx.fillStyle = colour;
    columns[key].forEach((v, i) => { if (v !== null) { ctx.beginPath(); ctx.arc(x(i), y(v), 3, 0, 2 * Math.PI); ctx.fill(); } });
    ctx.fillText(key.replace("_", " "), w - 130, pad / 2 + 14 * (k + 1));
  });
}

// -- wiring -------------------------------------------------------------------------------------------------------

function switchPage(name) {
  for (const page of ["compose", "runs"]) {
    $(`#page-${page}`).hidden = page !== name;
    $(`#tab-${page}`).classList.toggle("active", page === name);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("nav .tab").forEach((tab) => { tab.onclick = () => switchPage(tab.dataset.page); });
  $("#controls").addEventListener("submit", (event) => { event.preventDefault(); generate(); });
  $("#continue").onclick = () => state.current && generate(state.current.id);
  $("#cancel").onclick = cancel;
  $("#run").onchange = onRunChange;
  $("#primer-file").onchange = onPrimerFile;
  $("#density-mode").onchange = showDensityNumber;
  $("#temperature").oninput = showSliders;
  $("#top-p").oninput = showSliders;
  const player = $("#player");
  player.addEventListener("play", () => requestAnimationFrame(animate));
  player.addEventListener("seeked", drawPlayhead);
  player.addEventListener("timeupdate", drawPlayhead);
  $("#playhead").addEventListener("click", (event) => {
    if (!state.roll || !player.duration) return;
    const box = event.target.getBoundingClientRect();
    player.currentTime = ((event.clientX - box.left) / box.width) * state.roll.duration;
  });
  window.addEventListener("resize", () => { if (state.current) drawRoll(state.current.result, $("#result-title").textContent); });
  showSliders();
  loadRuns().catch((error) => say(error.message));
});
