// facecam's pages: every action is a call to the REST API with the session's CSRF token.
// Names are data: they reach the page only through textContent (never innerHTML).
// Shared by every page; each page's own script (live.js, review.js, ...) builds on these helpers.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

/** Call the API; resolves to the JSON answer, or rejects with the API's own error text ("detail"). */
async function api(method, path, body) {
  const opts = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(detailText(data) || `${r.status} ${r.statusText}`);
  return data;
}

/** The API's error as one line (FastAPI's validation errors are a list). */
function detailText(data) {
  const d = data && data.detail;
  if (Array.isArray(d)) return d.map((x) => `${(x.loc || []).slice(1).join(".")}: ${x.msg}`).join("; ");
  return typeof d === "string" ? d : "";
}

/** Show ``text`` in ``el`` (a status line), as an error when ``bad``. */
function say(el, text, bad = false) {
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("error", bad);
  el.classList.toggle("ok", !bad);
  el.hidden = !text;
}

/** Reload the page and show ``text`` once it is back (or go to ``url``). */
function reloadWith(text, url) {
  sessionStorage.setItem("facecam-flash", text);
  if (url) location.assign(url); else location.reload();
}

/** Run ``work`` with ``button`` disabled; its error text goes to ``out``. */
async function busy(button, out, work) {
  if (button) button.disabled = true;
  say(document.getElementById("flash"), "");
  if (out) out.hidden = true;
  try { return await work(); } catch (e) { say(out, e.message, true); return undefined; } finally {
    if (button) button.disabled = false;
  }
}

function showFlash() {
  const text = sessionStorage.getItem("facecam-flash");
  sessionStorage.removeItem("facecam-flash");
  if (text) say(document.getElementById("flash"), text);
}

/** ``<span data-echo="FIELD">`` repeats what is typed in the form's FIELD ("This is <name>"). */
function setupEcho() {
  document.querySelectorAll("[data-echo]").forEach((span) => {
    const input = span.closest("form")?.elements[span.dataset.echo];
    if (!input) return;
    const update = () => { span.textContent = input.value.trim() || "…"; };
    input.addEventListener("input", update);
    update();
  });
}

/** GET forms marked data-clean-get leave their empty fields out of the address. */
function setupCleanGet() {
  document.querySelectorAll("form[data-clean-get]").forEach((form) => form.addEventListener("submit", () => {
    for (const el of form.elements) if (el.name && el.value === "" && el.type !== "checkbox") el.disabled = true;
    setTimeout(() => { for (const el of form.elements) el.disabled = false; }, 0);
  }));
}

/** A picture that cannot load (removed by retention) becomes a grey placeholder, not a broken icon. */
function setupImageFallback() {
  document.addEventListener("error", (ev) => {
    if (ev.target instanceof HTMLImageElement && !ev.target.src.startsWith("blob:")) ev.target.classList.add("missing");
  }, true);
}

// ``path`` resolved against this page if it stays on this server, else null (no open redirect).
function sameOrigin(path) {
  if (!path) return null;
  try {
    const url = new URL(path, location.href);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : null;
  } catch (e) { return null; }
}

function setupLogin() {
  const form = document.getElementById("login");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = form.querySelector(".error");
    err.hidden = true;
    try {
      await api("POST", "/api/v1/login", { user: form.user.value, password: form.password.value });
      location.assign(sameOrigin(form.dataset.next) || "/");
    } catch (e) { say(err, e.message, true); form.password.select(); }
  });
}

function setupLogout() {
  document.querySelectorAll('[data-action="logout"]').forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", "/api/v1/logout"); } finally { location.assign("/login"); }
  }));
}

setupImageFallback();
document.addEventListener("DOMContentLoaded", () => {
  showFlash(); setupLogin(); setupLogout(); setupEcho(); setupCleanGet();
});
