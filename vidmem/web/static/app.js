// vidmem page: timeline per video, ask box with evidence, player, and (webcam) the live feed.
"use strict";

const state = { store: null, info: null, live: null, evidence: [], cameraSocket: null };
const $ = (id) => document.getElementById(id);

function fmt(t) {
  const s = Math.max(0, t);
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`;
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function loadInfo() {
  const info = await getJSON("/api/info");
  state.live = info.live;
  const select = $("store");
  if (!select.options.length) {
    for (const s of info.stores) select.add(new Option(s.name, s.name));
    state.store = select.value;
  }
  state.info = info.stores.find((s) => s.name === state.store) || info.stores[0];
  const n = state.info.count || 0;
  const mb = info.live ? ` · ${(info.live.memory_bytes / 1e6).toFixed(2)} MB` : "";
  $("status").textContent = state.info.error ? state.info.error : `${n} memories in ${state.info.sources.length} source(s)${mb}`;
  if (info.live) showLive(info.live);
}

function showLive(live) {
  $("live").hidden = false;
  const rate = live.frames_per_s ? `${live.frames_per_s.toFixed(1)} frames/s` : "waiting for frames";
  $("live-status").textContent = `source ${live.source} · ${live.state} · ${live.frames} frames sampled · ${live.clips} clips · ${rate}`;
  $("live-error").textContent = live.error || "";
  $("use-camera").hidden = live.source === "browser";
  if (live.source === "browser" && !state.cameraSocket) startCamera();
}

async function loadTimeline() {
  if (!state.info || state.info.error) { $("timeline").textContent = ""; return; }
  const items = [];
  let offset = 0;
  while (offset !== null && items.length < 8000) {
    const page = await getJSON(`/api/timeline?store=${encodeURIComponent(state.store)}&limit=2000&offset=${offset}`);
    items.push(...page.items);
    offset = page.next_offset;
  }
  drawTimeline(items);
}

function rowOrder(kind) {
  if (kind === "visual") return "0";
  if (kind.startsWith("episodic@")) return "1" + kind;
  if (kind.startsWith("text@")) return "2" + kind;
  return "3" + kind;
}

function drawTimeline(items) {
  const root = $("timeline");
  root.textContent = "";
  for (const source of state.info.sources) {
    const mine = items.filter((i) => i.source_id === source.id);
    const end = Math.max(source.duration || 0, source.end || 0, ...mine.map((i) => i.t_end), 1);
    const box = document.createElement("div");
    box.className = "source";
    box.dataset.sourceId = source.id;
    box.dataset.end = end;
    const title = document.createElement("h2");
    title.textContent = `#${source.id} ${source.path} (${fmt(end)}, ${source.status})`;
    box.append(title);
    const wrap = document.createElement("div");
    wrap.className = "rows-wrap";
    const rows = document.createElement("div");
    rows.className = "rows";
    const kinds = [...new Set(mine.map((i) => i.kind))].sort((a, b) => rowOrder(a).localeCompare(rowOrder(b)));
    for (const kind of kinds) rows.append(drawRow(kind, mine.filter((i) => i.kind === kind), end, source));
    rows.append(drawAxis(end));
    wrap.append(rows);
    box.append(wrap);
    root.append(box);
  }
  markEvidence();
}

function drawRow(kind, items, end, source) {
  const row = document.createElement("div");
  row.className = kind === "visual" ? "row thumbs" : "row";
  row.dataset.kind = kind;
  const label = document.createElement("span");
  label.className = "row-label";
  label.textContent = kind === "visual" ? "keyframes" : kind;
  row.append(label);
  for (const item of items) {
    const left = (100 * item.t_start) / end;
    let el;
    if (kind === "visual" && item.keyframe_url) {
      el = document.createElement("img");
      el.className = "thumb";
      el.loading = "lazy";
      el.src = item.keyframe_url;
    } else {
      el = document.createElement("div");
      el.className = "mark" + (kind.startsWith("text@") ? " text" : kind.endsWith("@fact") ? " fact" : "");
      el.style.width = `${Math.max(0.15, (100 * (item.t_end - item.t_start)) / end)}%`;
    }
    el.style.left = `${left}%`;
    el.title = `${kind} ${fmt(item.t_start)}–${fmt(item.t_end)}${item.text ? ": " + item.text : ""}`;
    el.dataset.tStart = item.t_start;
    el.addEventListener("click", () => play(source.video_url, item.t_start));
    row.append(el);
  }
  return row;
}

function drawAxis(end) {
  const axis = document.createElement("div");
  axis.className = "axis";
  for (let i = 0; i <= 10; i++) {
    const tick = document.createElement("span");
    tick.style.left = `${i * 10}%`;
    tick.textContent = fmt((end * i) / 10);
    axis.append(tick);
  }
  return axis;
}

function markEvidence() {
  document.querySelectorAll(".evidence-mark").forEach((m) => m.remove());
  for (const [i, e] of state.evidence.entries()) {
    const box = document.querySelector(`.source[data-source-id="${e.source_id}"] .rows`);
    if (!box) continue;
    const mark = document.createElement("div");
    mark.className = "evidence-mark";
    mark.dataset.rank = i;
    mark.style.left = `${(100 * e.t_start) / Number(box.closest(".source").dataset.end)}%`;
    box.append(mark);
  }
}

function play(url, t) {
  if (!url) return;
  const player = $("player");
  $("player-panel").hidden = false;
  if (!player.src.endsWith(url)) player.src = url;
  const seek = () => { player.currentTime = t; player.play().catch(() => {}); };
  if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, { once: true });
}

async function ask(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("question", $("question").value);
  form.append("store", state.store);
  for (const c of $("choices").value.split("|").map((c) => c.trim()).filter(Boolean)) form.append("choices", c);
  if ($("image").files.length) form.append("image", $("image").files[0]);
  const out = $("answer");
  out.textContent = "asking…";
  out.dataset.state = "asking";
  try {
    showAnswer(await getJSON("/api/ask", { method: "POST", body: form }));
  } catch (err) {
    out.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = err.message;
    out.append(p);
    out.dataset.state = "error";
  }
}

function showAnswer(answer) {
  const out = $("answer");
  out.innerHTML = "";
  const text = document.createElement("p");
  text.className = "text";
  text.textContent = answer.answer;
  const meta = document.createElement("p");
  meta.className = "muted";
  meta.textContent = `${answer.found ? "found" : "not found (closest memories below)"} · confidence ${answer.confidence.toFixed(2)}`;
  const list = document.createElement("div");
  list.className = "evidence";
  for (const [i, e] of answer.evidence.entries()) {
    const item = document.createElement("div");
    item.className = "evidence-item" + (i === 0 ? " first" : "");
    item.dataset.tStart = e.t_start;
    item.dataset.tEnd = e.t_end;
    if (e.keyframe_url) {
      const img = document.createElement("img");
      img.src = e.keyframe_url;
      item.append(img);
    }
    const caption = document.createElement("div");
    caption.className = "evidence-time";
    caption.textContent = `${fmt(e.t_start)}–${fmt(e.t_end)} · ${e.source}${e.text ? " · " + e.text.slice(0, 60) : ""}`;
    item.append(caption);
    item.addEventListener("click", () => play(e.video_url, e.t_start));
    list.append(item);
  }
  out.append(text, meta, list);
  out.dataset.state = "answered";
  state.evidence = answer.evidence;
  markEvidence();
  if (answer.evidence.length && answer.evidence[0].video_url) play(answer.evidence[0].video_url, answer.evidence[0].t_start);
}

// The browser's own camera: frames drawn to a canvas and sent as JPEG over a websocket.
async function startCamera() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    $("live-error").textContent = `cannot open this browser's camera: ${err.message}`;
    return;
  }
  const video = $("camera");
  video.srcObject = stream;
  video.style.display = "block";
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const socket = new WebSocket(`${scheme}://${location.host}/api/live/ws`);
  socket.binaryType = "arraybuffer";
  state.cameraSocket = socket;
  socket.onclose = () => { state.cameraSocket = null; };
  socket.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.error) $("live-error").textContent = msg.error; };
  const interval = 1000 / (state.live && state.live.send_fps ? state.live.send_fps : 5);
  const timer = setInterval(() => {
    if (socket.readyState !== WebSocket.OPEN) { if (socket.readyState > 1) clearInterval(timer); return; }
    if (!video.videoWidth || socket.bufferedAmount > 2e6) return;
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => blob && socket.readyState === WebSocket.OPEN && socket.send(blob), "image/jpeg", 0.85);
  }, interval);
}

async function useBrowserCamera() {
  try {
    await getJSON("/api/live/source", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ source: "browser" }) });
    await refresh();
  } catch (err) {
    $("live-error").textContent = err.message;
  }
}

async function refresh() {
  try {
    await loadInfo();
    await loadTimeline();
  } catch (err) {
    $("status").textContent = err.message;
  }
}

function refreshFeed() {
  if (!state.live) return;
  $("live-feed").src = `/api/live/frame.jpg?t=${Date.now()}`;
}

$("ask-form").addEventListener("submit", ask);
$("use-camera").addEventListener("click", useBrowserCamera);
$("store").addEventListener("change", (e) => { state.store = e.target.value; state.evidence = []; refresh(); });
refresh().then(() => {
  setInterval(refresh, state.live ? 2000 : 10000);  // a store another process is indexing grows too
  setInterval(refreshFeed, 500);
});
