// The live page: each camera's newest frame at [web] live_fps, with its faces drawn over it as boxes.
// Boxes are elements positioned in percent of the frame's pixel size, so they follow the picture's displayed
// size; each is labelled with the name ("unknown", or "…" while undecided) and distance as text.
"use strict";

const COUNTERS_EVERY_MS = 2000;

function startCamera(fig) {
  const camera = fig.dataset.liveCamera;
  const fps = Math.max(0.2, Number(fig.dataset.fps) || 5);
  const base = `/api/v1/cameras/${encodeURIComponent(camera)}`;
  const img = fig.querySelector("img");
  const boxes = fig.querySelector(".boxes");
  const waiting = fig.querySelector(".waiting");
  const state = fig.querySelector(".live-state");
  const frameNo = fig.querySelector('[data-counter="frame"]');
  let shown = -1;
  let url = null;

  async function showFrame() {
    const snap = await api("GET", `${base}/live`);
    if (snap.frame === shown) return;
    const r = await fetch(`${base}/live.jpg?frame=${snap.frame}`, { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(`no picture from camera ${camera} (${r.status})`);
    const next = URL.createObjectURL(await r.blob());
    img.src = next;
    await img.decode().catch(() => undefined);
    if (url) URL.revokeObjectURL(url);
    url = next;
    shown = snap.frame;
    img.hidden = false;
    waiting.hidden = true;
    drawBoxes(boxes, snap);  // every live track comes with every frame (its last box between detections)
    frameNo.textContent = String(snap.frame);
  }

  async function tick() {
    const started = performance.now();
    if (!document.hidden) {
      try { await showFrame(); say(state, ""); } catch (e) { say(state, e.message, true); }
    }
    setTimeout(tick, Math.max(20, 1000 / fps - (performance.now() - started)));
  }
  tick();
}

/** One box per face: position and size in percent of the frame (``snap.width`` x ``snap.height`` pixels). */
function drawBoxes(layer, snap) {
  const made = snap.tracks.map((t) => {
    const [x1, y1, x2, y2] = t.box;
    const box = document.createElement("div");
    box.className = `box ${t.person === null ? "undecided" : t.known ? "known" : "unknown"}`;
    box.style.left = `${(100 * x1) / snap.width}%`;
    box.style.top = `${(100 * y1) / snap.height}%`;
    box.style.width = `${(100 * (x2 - x1)) / snap.width}%`;
    box.style.height = `${(100 * (y2 - y1)) / snap.height}%`;
    if (y1 < 0.08 * snap.height) box.classList.add("label-inside"); // no room above: label inside the box
    const label = document.createElement("span");
    label.className = "label";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = t.person === null ? "…" : t.person;
    label.append(name);
    if (t.distance !== null && t.distance !== undefined) {
      const dist = document.createElement("span");
      dist.className = "distance";
      dist.textContent = Number(t.distance).toFixed(2);
      label.append(" ", dist);
    }
    box.append(label);
    return box;
  });
  layer.replaceChildren(...made);
}

/** Frames per second and dropped frames of every camera, from the daemon's counters. */
async function updateCounters(figures) {
  try {
    const cams = await api("GET", "/api/v1/cameras");
    for (const c of cams) {
      const fig = figures.find((f) => f.dataset.liveCamera === c.name);
      if (!fig) continue;
      fig.querySelector('[data-counter="fps"]').textContent = c.counters ? String(c.counters.fps) : "–";
      fig.querySelector('[data-counter="dropped"]').textContent = c.counters ? String(c.counters.dropped) : "–";
      fig.classList.toggle("down", c.down);
    }
  } catch (e) { /* the frames say what is wrong */ }
}

const figures = [...document.querySelectorAll("[data-live-camera]")];
figures.forEach(startCamera);
if (figures.length) {
  updateCounters(figures);
  setInterval(() => { if (!document.hidden) updateCounters(figures); }, COUNTERS_EVERY_MS);
}
