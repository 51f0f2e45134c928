// The event page: "this is NAME" (enrols the face), "this is not NAME", dismiss; each one API call.
"use strict";

(() => {
  const section = document.getElementById("answers");
  if (!section) return;
  const id = section.dataset.event;
  const out = section.querySelector(".result");
  const base = `/api/v1/events/${encodeURIComponent(id)}`;

  section.querySelectorAll("form[data-answer]").forEach((form) => form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = form.dataset.answer;
    const name = form.elements.name ? form.elements.name.value.trim() : "";
    busy(form.querySelector("button"), out, async () => {
      if (kind === "label") {
        const r = await api("POST", `${base}/label`, { name });
        if (r.enrolled && r.enrolled.status === "skipped") {
          say(out, `Not enrolled: ${r.enrolled.reason}`, true);
          return;
        }
        reloadWith(`This face is now enrolled as ${name}.`);
      } else if (kind === "not") {
        const r = await api("POST", `${base}/not`, { name });
        reloadWith(`Noted: not ${name} (${r.negatives_added} face${r.negatives_added === 1 ? "" : "s"} stored).`);
      } else {
        await api("POST", `${base}/dismiss`);
        reloadWith("Dismissed: this visit left the review list.");
      }
    });
  }));
})();
