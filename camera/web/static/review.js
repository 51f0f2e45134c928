// The review page: answer a group of unknown visits (or the checked ones) with one call; answered visits leave.
"use strict";

(() => {
  const CHUNK = 500; // the API takes at most 500 event ids per call

  async function answer(form, action) {
    const out = form.querySelector(".result");
    const ids = [...form.querySelectorAll('input[name="event"]:checked')].map((x) => x.value);
    const name = form.elements.name.value.trim();
    if (!ids.length) { say(out, "Check at least one visit.", true); return; }
    if (action !== "dismiss" && !name) { say(out, "Type a name first.", true); form.elements.name.focus(); return; }
    const done = [];
    const refused = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const events = ids.slice(i, i + CHUNK);
      if (ids.length > CHUNK) say(out, `working: ${i} of ${ids.length} visits answered…`);
      if (action === "label") {
        const r = await api("POST", "/api/v1/review/label", { events, name });
        done.push(...r.labelled);
        r.outcomes.filter((o) => o.status === "skipped").forEach((o) => refused.push(o.reason));
      } else {
        await api("POST", `/api/v1/review/${action}`, action === "not" ? { events, name } : { events });
        done.push(...events);
      }
    }
    const gone = new Set(done);
    form.querySelectorAll("[data-visit]").forEach((li) => { if (gone.has(li.dataset.visit)) li.remove(); });
    const left = form.querySelectorAll("[data-visit]").length;
    const verb = { label: `named ${name}`, not: `marked not ${name}`, dismiss: "dismissed" }[action];
    if (refused.length) {
      say(out, `${done.length} ${verb}; ${refused.length} not enrolled: ${[...new Set(refused)].join("; ")}`, true);
    } else if (left) {
      say(out, `${done.length} ${verb}; ${left} left in this group.`);
    }
    if (!left) {
      form.closest("[data-group]").remove();
      say(document.getElementById("flash"), `${done.length} visit${done.length === 1 ? "" : "s"} ${verb}.`);
      if (!document.querySelector("[data-group]")) document.getElementById("nothing").hidden = false;
    } else {
      const h = form.querySelector("h2");
      h.firstChild.textContent = `${left} visit${left === 1 ? "" : "s"} `;
    }
  }

  document.querySelectorAll(".group-form").forEach((form) => form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const button = ev.submitter;
    const action = button?.dataset.do || "label";
    busy(button, form.querySelector(".result"), () => answer(form, action));
  }));
})();
