// The live page: each camera's frames as an MJPEG stream in an <img> (the browser decodes it itself, no script
// per frame), and its faces pushed as server-sent events, at most [web] live_fps a second, drawn as boxes.
// Boxes are elements positioned in percent of the frame's pixel size, so they follow the picture's displayed
// size; each is labelled with the name ("unknown", or "…" while undecided) and distance as text.
"use strict";

const COUNTERS_EVERY_MS = 2000;
const RETRY_MS = 2000;

function startCamera(fig) {
  const camera = fig.dataset.liveCamera;
  const base = `/api/v1/cameras/${encodeURIComponent(camera)}`;
  const img = fig.querySelector("img");
  const boxes = fig.querySelector(".boxes");
  const waiting = fig.querySelector(".waiting");
  const state = fig.querySelector(".live-state");
  const frameNo = fig.querySelector('[data-counter="frame"]');

  let faces = null;
  let retry = null;

  function watch() {  // the picture and the faces, until the page is hidden
    img.src = `${base}/live.mjpeg?t=${Date.now()}`;
    faces = new EventSource(`${base}/live/stream`);  // reconnects by itself
    faces.addEventListener("frame", (ev) => {
      const snap = JSON.parse(ev.data);
      drawBoxes(boxes, snap);  // every live track comes with every frame (its last box between detections)
      frameNo.textContent = String(snap.frame);
    });
    faces.addEventListener("error", () => say(state, `no faces from camera ${camera}; reconnecting`, true));
    faces.addEventListener("open", () => { if (!img.hidden) say(state, ""); });
  }

  function unwatch() {  // a hidden page costs the daemon nothing
    clearTimeout(retry);
    img.removeAttribute("src");
    if (faces) faces.close();
    faces = null;
  }

  img.addEventListener("load", () => {
    img.hidden = false;
    waiting.hidden = true;
    say(state, "");
  });
  img.addEventListener("error", () => {  // the daemon stopped, or the camera has no frame yet: try again
    if (!faces) return;
    say(state, `no picture from camera ${camera}; trying again`, true);
    clearTimeout(retry);
    retry = setTimeout(() => { if (faces) img.src = `${base}/live.mjpeg?t=${Date.now()}`; }, RETRY_MS);
  });
  document.addEventListener("visibilitychange", () => (document.hidden ? unwatch() : watch()));
  if (!document.hidden) watch();
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
