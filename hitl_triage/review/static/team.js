// Keys of the team pages (no inline code: the CSP allows scripts from this server only).
//  * review screen: "/" opens the history search;
//  * history search: "/" focuses the box, arrows (j/k) select a result, a digit relabels it
//    through the JSON API (the same edit as the review screen's history), n/p page, Esc back;
//  * adjudication page: a digit records the final label and the server opens the next dispute,
//    n focuses the note, r the resolve note (Enter resolves), j skips to the next dispute;
//  * flag queue: j/k move, r resolve note (Enter resolves), a opens the item to adjudicate.
// Outcomes show as a toast; item text is only ever inserted as text.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function labelFromKey(key, n) {
    if (!/^[0-9]$/.test(key)) return null;
    const index = key === "0" ? 9 : Number(key) - 1;
    return index < n ? index : null;
  }
  function typing(ev) {
    const tag = (ev.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select";
  }
  function quiet(ev) { return ev.ctrlKey || ev.metaKey || ev.altKey || document.querySelector("dialog[open]"); }

  let toastTimer = null;
  function toast(text) {
    let box = $("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.className = "toast";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }
  if ($("toast")) toastTimer = setTimeout(() => { $("toast").hidden = true; }, 4000);

  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // A list of cards moved through with j/k or the arrows.
  function selector(items) {
    let at = items.length ? 0 : -1;
    const show = () => items.forEach((e, i) => e.classList.toggle("selected", i === at));
    show();
    return {
      get current() { return at >= 0 ? items[at] : null; },
      move(step) { if (at < 0) return; at = Math.max(0, Math.min(items.length - 1, at + step)); show(); items[at].scrollIntoView({ block: "nearest" }); },
    };
  }

  // ---- review screen: "/" opens the search ----------------------------------------------
  const review = $("review");
  if (review) {
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "/" || quiet(ev) || typing(ev)) return;
      ev.preventDefault();
      location.href = "/review/history";
    });
    return;
  }

  // ---- history search ------------------------------------------------------------------
  const search = $("history-search");
  if (search) {
    const csrf = search.dataset.csrf;
    const nLabels = Number(search.dataset.nLabels);
    const names = JSON.parse(search.dataset.labels);
    const hits = selector(Array.from(document.querySelectorAll("#results .hit")));
    const box = $("q");
    if (hits.current && document.activeElement === box) box.blur();

    async function relabel(li, label) {
      if (!li.dataset.editable) { toast("Not recorded: round " + li.dataset.round + " is finished; ask an admin to adjudicate"); return; }
      const newId = uuid();
      let response;
      try {
        response = await fetch("/api/v1/answers/" + encodeURIComponent(li.dataset.answerId) + "/edit", {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ new_id: newId, kind: "label", label }),
        });
      } catch (e) { toast("Not recorded: the server cannot be reached"); return; }
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
        toast("Not recorded: " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
        return;
      }
      li.dataset.answerId = newId;
      const form = li.querySelector(".edit-form");
      if (form) { form.querySelector("input[name=answer_id]").value = newId; form.querySelector("input[name=new_answer_id]").value = uuid(); }
      const chip = document.createElement("span");
      chip.className = "chip c" + (label % 10);
      chip.textContent = names[label] || String(label);
      li.querySelector(".given").replaceChildren(chip);
      toast("Relabelled: " + chip.textContent);
    }

    for (const form of document.querySelectorAll("#results .edit-form")) {
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        if (ev.submitter) relabel(form.closest(".hit"), Number(ev.submitter.value));
      });
    }
    document.addEventListener("keydown", (ev) => {
      if (quiet(ev)) return;
      if (typing(ev)) {
        if (ev.key === "Escape" || (ev.key === "ArrowDown" && hits.current)) { ev.preventDefault(); ev.target.blur(); }
        return;
      }
      const key = ev.key;
      const label = labelFromKey(key, nLabels);
      if (key === "/") { box.focus(); box.select(); }
      else if (key === "ArrowDown" || key === "j") hits.move(1);
      else if (key === "ArrowUp" || key === "k") hits.move(-1);
      else if (label !== null && hits.current) relabel(hits.current, label);
      else if (key === "n" && $("next-page")) location.href = $("next-page").href;
      else if (key === "p" && $("prev-page")) location.href = $("prev-page").href;
      else if (key === "Escape") location.href = "/review";
      else return;
      ev.preventDefault();
    });
    return;
  }

  // ---- adjudication page -----------------------------------------------------------------
  const adjudicate = $("adjudicate");
  if (adjudicate) {
    const nLabels = Number(adjudicate.dataset.nLabels);
    const form = $("adjudicate-form");
    document.addEventListener("keydown", (ev) => {
      if (quiet(ev)) return;
      if (typing(ev)) {
        // Enter in the adjudication note must not pick the first label: it only leaves the field.
        if (ev.key === "Escape" || (ev.key === "Enter" && ev.target.id === "adjudicate-note")) { ev.preventDefault(); ev.target.blur(); }
        return;
      }
      const key = ev.key;
      const label = labelFromKey(key, nLabels);
      if (label !== null) {
        if (!form) { toast("A gold item is not adjudicated: r resolves its flags"); ev.preventDefault(); return; }
        form.requestSubmit(form.querySelector(".label-btn[value='" + label + "']"));
      } else if (key === "n" && $("adjudicate-note")) $("adjudicate-note").focus();
      else if (key === "r" && $("resolve-note")) $("resolve-note").focus();
      else if (key === "j") location.href = "/admin/disputes/next?after=" + adjudicate.dataset.taskId;
      else return;
      ev.preventDefault();
    });
    return;
  }

  // ---- flag queue ------------------------------------------------------------------------
  const flags = $("flag-queue");
  if (flags) {
    const cards = selector(Array.from(document.querySelectorAll(".flag-card")));
    document.addEventListener("keydown", (ev) => {
      if (quiet(ev)) return;
      if (typing(ev)) {
        if (ev.key === "Escape") { ev.preventDefault(); ev.target.blur(); }
        return; // Enter in a note submits its resolve form
      }
      const card = cards.current;
      const key = ev.key;
      if (key === "ArrowDown" || key === "j") cards.move(1);
      else if (key === "ArrowUp" || key === "k") cards.move(-1);
      else if (key === "r" && card) card.querySelector(".resolve-note").focus();
      else if ((key === "a" || key === "Enter") && card) location.href = card.querySelector("a.open-task").href;
      else return;
      ev.preventDefault();
    });
  }
})();
