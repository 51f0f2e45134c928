// The people pages: enrol a new person (name + photo), add or remove photos, rename, remove a person.
// Refusals ("no face found", "not an image") are the API's own words, shown beside the form.
"use strict";

(() => {
  /** Upload one photo; resolves to the API's outcome, or rejects with its refusal. */
  function upload(path, file, name) {
    const body = new FormData();
    if (name !== undefined) body.append("name", name);
    body.append("photo", file, file.name);
    return api("POST", path, body);
  }

  const created = document.getElementById("new-person");
  if (created) {
    created.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const out = created.querySelector(".result");
      const name = created.elements.name.value.trim();
      const file = created.elements.photo.files[0];
      busy(created.querySelector("button"), out, async () => {
        const r = await upload("/api/v1/people", file, name);
        const everyone = await api("GET", "/api/v1/people");
        const x = everyone.find((p) => p.name === r.person);
        reloadWith(`${r.person}: ${r.status === "duplicate" ? "this photo was already enrolled" : "enrolled"}.`,
          x ? `/people/${x.id}` : undefined);
      });
    });
  }

  const person = document.getElementById("person");
  if (!person) return;
  const base = `/api/v1/people/${person.dataset.person}`;

  const add = document.getElementById("add-photos");
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const out = add.querySelector(".result");
    busy(add.querySelector("button"), out, async () => {
      const lines = [];
      let ok = 0;
      for (const file of add.elements.photo.files) {
        try {
          const r = await upload(`${base}/photos`, file);
          ok += 1;
          lines.push(`${file.name}: ${r.status === "duplicate" ? "already enrolled" : "enrolled"}`);
        } catch (e) { lines.push(e.message.startsWith(file.name) ? e.message : `${file.name}: ${e.message}`); }
      }
      if (ok === lines.length) reloadWith(lines.join("; "));
      else {
        say(out, lines.join("; "), true);
        if (ok) setTimeout(() => reloadWith(lines.join("; ")), 2500);
      }
    });
  });

  person.querySelectorAll("[data-remove-photo]").forEach((b) => b.addEventListener("click", () => {
    busy(b, document.getElementById("flash"), async () => {
      await api("DELETE", `/api/v1/photos/${b.dataset.removePhoto}`);
      reloadWith("Photo removed.");
    });
  }));

  const rename = document.getElementById("rename");
  rename.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(rename.querySelector("button"), rename.querySelector(".result"), async () => {
      const r = await api("PATCH", base, { name: rename.elements.name.value.trim() });
      reloadWith(`Renamed to ${r.name}.`);
    });
  });

  const remove = document.getElementById("remove-person");
  remove.addEventListener("click", () => {
    busy(remove, remove.parentElement.querySelector(".result"), async () => {
      const r = await api("DELETE", base);
      reloadWith(`Removed, with ${r.photos_removed} photo${r.photos_removed === 1 ? "" : "s"}.`, "/people");
    });
  });
})();
