// The settings page: calibrate's recommended threshold (it may be refused: too few people), and applying it.
"use strict";

(async () => {
  const box = document.getElementById("recommendation");
  if (!box) return;
  const text = box.querySelector(".rec-text");
  const apply = document.getElementById("apply-threshold");
  const out = box.querySelector(".result");
  let rec;
  try {
    rec = await api("GET", "/api/v1/settings/recommendation");
  } catch (e) {
    say(text, `No recommendation: ${e.message}`, true);
    return;
  }
  const named = rec.expected_named === null ? "" : `; about ${Math.round(100 * rec.expected_named)}% of genuine faces named`;
  say(text, `max_distance ${rec.max_distance} for a false-accept rate of ${100 * rec.target_far}% ` +
    `(from ${rec.photos} photo${rec.photos === 1 ? "" : "s"}; bound by ${rec.binding}${named}).`);
  apply.textContent = `Apply ${rec.max_distance}`;
  apply.hidden = false;
  apply.addEventListener("click", () => busy(apply, out, async () => {
    const r = await api("POST", "/api/v1/settings/threshold", { max_distance: rec.max_distance });
    say(out, `Written to ${r.written}: max_distance ${r.max_distance}. It takes effect at the next start of facecam.`);
  }));
})();
