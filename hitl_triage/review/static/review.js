// Keyboard layer of the review screen. It only fills and submits the page's forms; every
// action also works with the mouse. Item text is never read or written by this script.
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const nLabels = Number(root.dataset.nLabels);
  const suggested = root.dataset.suggested;
  const answerForm = document.getElementById("answer-form");
  const skipForm = document.getElementById("skip-form");
  const undoForm = document.getElementById("undo-form");
  const flagDialog = document.getElementById("flag-dialog");
  const flagForm = document.getElementById("flag-form");
  const flagComment = document.getElementById("flag-comment");
  const guide = document.getElementById("guidelines");
  const history = document.getElementById("history");
  const entries = Array.from(document.querySelectorAll(".hist"));
  let busy = false;
  let selected = -1; // index in history entries while history mode is on

  function send(form, fields) {
    if (busy || !form) return;
    busy = true;
    for (const [name, value] of Object.entries(fields || {})) {
      let input = form.querySelector('input[type=hidden][name="' + name + '"]');
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        form.appendChild(input);
      }
      input.value = value;
    }
    form.submit();
  }

  function labelFromKey(key) {
    if (!/^[0-9]$/.test(key)) return null;
    const index = key === "0" ? 9 : Number(key) - 1;
    return index < nLabels ? index : null;
  }

  function select(i) {
    entries.forEach((e, j) => e.classList.toggle("selected", j === i));
    selected = i;
    if (i >= 0) entries[i].scrollIntoView({ block: "nearest" });
  }

  function setHistoryMode(on) {
    history.classList.toggle("active", on && entries.length > 0);
    select(on && entries.length > 0 ? 0 : -1);
  }

  function openFlag() {
    if (!flagDialog) return;
    flagDialog.showModal();
    flagComment.focus();
  }

  document.getElementById("flag-open")?.addEventListener("click", openFlag);
  document.getElementById("guide-open")?.addEventListener("click", () => guide.showModal());
  answerForm?.addEventListener("submit", () => { busy = true; });

  flagComment?.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      send(flagForm);
    }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (flagDialog?.open) return; // the dialog handles its own keys (Esc closes it natively)
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    const key = ev.key;
    if (guide.open) {
      if (key === "g" || key === "?" || key === "Escape") { ev.preventDefault(); guide.close(); }
      return;
    }
    if (selected >= 0) { // history mode
      const entry = entries[selected];
      const label = labelFromKey(key);
      if (key === "ArrowDown" || key === "j") select(Math.min(selected + 1, entries.length - 1));
      else if (key === "ArrowUp" || key === "k") select(Math.max(selected - 1, 0));
      else if (key === "Escape" || key === "h") setHistoryMode(false);
      else if (label !== null) send(entry.querySelector(".edit-form"), { label: String(label) });
      else if (key === "u" || key === "Backspace") send(undoForm, { answer_id: entry.dataset.answerId });
      else return;
      ev.preventDefault();
      return;
    }
    const label = labelFromKey(key);
    if (label !== null && answerForm) {
      send(answerForm, { label: String(label) });
    } else if (key === "Enter" && answerForm) {
      if (suggested === "") return;
      send(answerForm, { label: suggested });
    } else if (key === "s" && skipForm) {
      send(skipForm);
    } else if (key === "f" && flagDialog) {
      openFlag();
    } else if (key === "u" || key === "Backspace") {
      send(undoForm);
    } else if (key === "g" || key === "?") {
      guide.showModal();
    } else if (key === "h") {
      setHistoryMode(true);
    } else {
      return;
    }
    ev.preventDefault();
  });
})();
