// The review screen's client. Without this script the page still works: its forms post and
// redirect (post/redirect/get). With it:
//  * the next items come from the JSON API (GET /api/v1/tasks/next?exclude=...), prefetched
//    while the reviewer reads the current one, so a key press shows the next item at once;
//  * answers, undos and relabels go to an outbox kept in localStorage and are sent in the
//    background with their client-generated ids (the server records a retried id once), so a
//    closed tab or a network drop loses nothing: the outbox is sent when the page comes back;
//  * item text reaches the page only as text nodes (textContent), never as HTML; a Markdown
//    field (dataset.fields) comes rendered by the server with raw HTML escaped and is inserted
//    through an allowlist of tags and attributes (markdownNodes);
//  * with review.correction, e opens an editor of that field and Ctrl+Enter sends the label
//    with the corrected text.
// localStorage "hitl-review-mode" = "reload" switches back to a full page load per answer (the
// benchmark's baseline).
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const csrf = root.dataset.csrf;
  const nLabels = Number(root.dataset.nLabels);
  const historySize = Number(root.dataset.historySize || 8);
  const BOX = "hitl-review-outbox:" + root.dataset.me;
  const DEPTH = 2; // items claimed ahead of the current one
  const timings = (window.__reviewTimings = []); // ms from key press to the next item's frame
  const labels = Array.from(document.querySelectorAll("#answer-form .label-btn .name")).map((e) => e.textContent);
  const guide = $("guidelines");
  const flagDialog = $("flag-dialog");
  const flagComment = $("flag-comment");
  const historyBox = $("history");
  const list = historyBox.querySelector("ol");
  const fieldsBox = $("item-fields"); // several fields (dataset.fields) or corrections
  const correctDialog = $("correct-dialog");
  const correctText = $("correct-text");
  const correctLabel = $("correct-label");

  function labelFromKey(key) {
    if (!/^[0-9]$/.test(key)) return null;
    const index = key === "0" ? 9 : Number(key) - 1;
    return index < nLabels ? index : null;
  }

  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ---- the baseline: one full page load per answer -------------------------------------
  if (localStorage.getItem("hitl-review-mode") === "reload") {
    const t0 = sessionStorage.getItem("hitl-t0");
    if (t0) {
      sessionStorage.removeItem("hitl-t0");
      requestAnimationFrame(() => {
        const all = JSON.parse(sessionStorage.getItem("hitl-timings") || "[]");
        all.push(performance.timeOrigin + performance.now() - Number(t0));
        sessionStorage.setItem("hitl-timings", JSON.stringify(all));
      });
    }
    document.addEventListener("keydown", (ev) => {
      const label = labelFromKey(ev.key);
      const form = $("answer-form");
      if (label === null || !$("item").dataset.taskId) return;
      ev.preventDefault();
      sessionStorage.setItem("hitl-t0", String(performance.timeOrigin + ev.timeStamp));
      form.querySelector("input[name=kind]").value = "label";
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "label";
      input.value = String(label);
      form.appendChild(input);
      form.submit();
    });
    return;
  }

  // ---- the outbox (localStorage, shared by this reviewer's tabs) ---------------------------
  function readBox() {
    try { return JSON.parse(localStorage.getItem(BOX) || "[]"); } catch (e) { return []; }
  }
  function writeBox(ops) {
    localStorage.setItem(BOX, JSON.stringify(ops));
    root.dataset.pending = String(ops.length);
  }
  function pushOp(op) { const ops = readBox(); ops.push(op); writeBox(ops); }
  // An answer still in the outbox and not on its way (a request in flight may be stored already).
  function unsent(answerId) { return answerId !== inflight && readBox().some((op) => op.op === "answer" && op.id === answerId); }

  let flushing = null;
  let inflight = null; // id of the answer op being sent
  let retryTimer = null;
  let backoff = 1000;
  let offline = false;

  async function api(method, path, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf, Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init);
  }

  function request(op) {
    if (op.op === "answer") return api("POST", "/api/v1/answers", { id: op.id, task_id: op.task_id, kind: op.kind, label: op.label, comment: op.comment, correction: op.correction || null });
    if (op.op === "undo") return api("POST", "/api/v1/answers/" + encodeURIComponent(op.id) + "/undo");
    const body = { new_id: op.new_id, kind: op.kind, label: op.label };
    if (op.correction !== undefined) body.correction = op.correction; // left out: the server keeps it
    return api("POST", "/api/v1/answers/" + encodeURIComponent(op.id) + "/edit", body);
  }

  function setOffline(on) {
    offline = on;
    root.classList.toggle("offline", on);
    const n = readBox().length;
    const line = $("connection");
    line.hidden = !on && n === 0;
    line.textContent = on ? "Offline: " + n + " answer(s) kept in this browser; they are sent when the connection is back." : n + " answer(s) being sent…";
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { flush(); fill(); }, backoff);
    backoff = Math.min(backoff * 2, 10000);
  }

  // Sends the outbox in order, one op at a time; an op leaves the outbox only when the server
  // has answered it (2xx, or a refusal that a retry cannot change).
  function flush() {
    if (flushing) return flushing;
    flushing = (async () => {
      for (;;) {
        const ops = readBox();
        if (!ops.length) break;
        const op = ops[0];
        let response;
        inflight = op.op === "answer" ? op.id : null;
        try {
          response = await request(op);
        } catch (e) { // network down
          setOffline(true);
          scheduleRetry();
          return;
        } finally {
          inflight = null;
        }
        if (response.status === 401) { notice("Your session ended: log in again (your answers are kept in this browser)."); return; }
        if (response.status >= 500 || response.status === 429) { scheduleRetry(); return; }
        if (!response.ok) {
          let detail = response.statusText;
          try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
          notice("Not recorded: " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
        }
        writeBox(readBox().filter((o) => !(o.op === op.op && o.id === op.id && o.new_id === op.new_id)));
      }
      backoff = 1000;
      setOffline(false);
      if (returning) { returning = false; bringBack(); }
      refreshProgress();
    })().finally(() => { flushing = null; });
    return flushing;
  }

  // ---- the queue: current item and the prefetch buffer -------------------------------------
  const item0 = $("item");
  let current = item0.dataset.taskId ? { task_id: Number(item0.dataset.taskId), suggested: root.dataset.suggested === "" ? null : Number(root.dataset.suggested), partial: true } : null;
  let buffer = [];
  let exhausted = false;
  let filling = null;
  let returning = false; // an undone item without its view in memory: fetch it after the undo is sent
  let keyTime = null;

  function held() {
    const ids = new Set(buffer.map((t) => t.task_id));
    if (current) ids.add(current.task_id);
    for (const op of readBox()) if (op.op === "answer") ids.add(op.task_id);
    return Array.from(ids);
  }

  async function fetchNext() {
    const query = held().map((id) => "exclude=" + id).join("&");
    const response = await api("GET", "/api/v1/tasks/next" + (query ? "?" + query : ""));
    if (response.status === 204) return null;
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  function fill() {
    if (filling) return filling;
    filling = (async () => {
      while (buffer.length < DEPTH && !exhausted) {
        let view;
        try { view = await fetchNext(); } catch (e) { scheduleRetry(); return; }
        if (view === null) { exhausted = true; break; }
        if (held().includes(view.task_id)) break; // already shown (a race with undo)
        buffer.push(view);
        root.dataset.buffered = String(buffer.length); // items ready ahead (tests wait on it)
      }
      if (!current && buffer.length && !returning) advance();
      else if (!current && !returning) render(null);
    })().finally(() => { filling = null; });
    return filling;
  }

  function advance() {
    current = buffer.shift() || null;
    root.dataset.buffered = String(buffer.length);
    render(current);
    if (buffer.length < DEPTH) {
      if (!current) exhausted = false; // look again: items may have come back
      fill();
    }
  }

  // ---- rendering (text only ever as text nodes) ------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function segments(parent, segs) {
    parent.replaceChildren();
    for (const s of segs) {
      if (s.hidden) { const m = el("span", "hidden-char", s.text); m.title = s.name; parent.appendChild(m); }
      else parent.appendChild(document.createTextNode(s.text));
    }
  }
  // Markdown HTML from the server (raw HTML already escaped there) rebuilt node by node: only
  // these tags, only href/title on links with a safe scheme; anything else becomes its text.
  const MD_TAGS = new Set(["P", "BR", "HR", "EM", "STRONG", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A",
    "H1", "H2", "H3", "H4", "H5", "H6", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "DEL", "S"]);
  function markdownNodes(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const copy = (node) => {
      if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
      if (node.nodeType !== Node.ELEMENT_NODE) return document.createTextNode("");
      if (!MD_TAGS.has(node.tagName)) return document.createTextNode(node.textContent);
      const out = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === "A") {
        const href = node.getAttribute("href") || "";
        if (/^(https?:|mailto:|[^:/?#]*([/?#]|$))/i.test(href.trim())) { out.setAttribute("href", href); out.rel = "noopener noreferrer nofollow"; }
        if (node.title) out.title = node.title;
      }
      for (const child of node.childNodes) out.appendChild(copy(child));
      return out;
    };
    return Array.from(doc.body.childNodes, copy);
  }
  function renderFields(view) {
    fieldsBox.replaceChildren();
    for (const f of view.fields) {
      const section = el("section", "field");
      section.dataset.field = f.name;
      section.dataset.format = f.format;
      const head = el("h3", "field-name", f.title);
      if (f.correctable) { const hint = el("span", "hint"); hint.append(" ", el("kbd", null, "e"), " correct"); head.appendChild(hint); }
      const body = el("div", "field-body " + f.format);
      if (f.text === null) body.appendChild(el("em", "muted", "(empty)"));
      else if (f.html !== null) body.replaceChildren(...markdownNodes(f.html));
      else segments(body, f.segments);
      section.append(head, body);
      fieldsBox.appendChild(section);
    }
  }
  function chip(index) {
    if (index === null || index === undefined) return el("span", "chip abstain", "abstain");
    return el("span", "chip c" + (index % 10), labels[index]);
  }

  function evidence(view) {
    const box = $("evidence");
    box.replaceChildren();
    const line = el("div", "suggestion");
    line.appendChild(el("span", "caption", "Suggested"));
    if (view.suggested !== null) {
      line.appendChild(chip(view.suggested));
      if (view.confidence !== null) {
        const meter = el("meter");
        Object.assign(meter, { min: 0, max: 1, low: 0.6, high: 0.85, optimum: 1, value: view.confidence });
        line.appendChild(meter);
        line.appendChild(el("span", "conf", Math.round(100 * view.confidence) + "% confidence"));
      }
      const hint = el("span", "hint");
      hint.append(el("kbd", null, "Enter"), " accepts");
      line.appendChild(hint);
    } else {
      line.appendChild(el("span", "muted", "no suggestion"));
    }
    box.appendChild(line);
    if (view.suggestion_line) {
      const from = el("p", "from", view.suggestion_line);
      from.id = "suggestion-line";
      box.appendChild(from);
    }
    const pct = (c) => (c === null ? "–" : Math.round(100 * c) + "%");
    if (view.label_model && view.end_model) {
      const models = el("p", "models");
      models.id = "models";
      models.append(el("span", "caption", "Models differ"), " label model ", chip(view.label_model.label), " " + pct(view.label_model.confidence) + " · end model ",
        chip(view.end_model.label), " " + pct(view.end_model.confidence));
      box.appendChild(models);
    }
    if (view.sources.length) {
      const table = el("table", "votes");
      table.id = "sources";
      const head = table.createTHead().insertRow();
      head.append(el("th", null, "Source"), el("th", null, "Vote"), el("th", null, "Accuracy (human labels)"));
      const body = table.createTBody();
      for (const source of view.sources) {
        const row = body.insertRow();
        const name = row.insertCell();
        name.className = "source";
        name.textContent = source.name;
        row.insertCell().appendChild(chip(source.vote));
        const acc = row.insertCell();
        acc.className = "acc";
        acc.append(source.accuracy === null ? el("span", "muted", "none yet") : pct(source.accuracy), " ", el("span", "n", "n=" + source.n));
      }
      box.appendChild(table);
    }
    if (view.judge_rationale) {
      const quote = el("blockquote", "rationale");
      quote.appendChild(el("div", "caption", "Judge's rationale"));
      const text = el("div");
      text.id = "rationale";
      segments(text, view.rationale_segments);
      quote.appendChild(text);
      box.appendChild(quote);
    }
  }

  function render(view) {
    $("task-area").hidden = !view;
    $("empty").hidden = !!view;
    if (!view) {
      item0.dataset.taskId = "";
      item0.dataset.itemId = "";
      const waiting = !exhausted || returning;
      $("empty-text").textContent = waiting ? (offline ? "Offline: the next item appears when the connection is back." : "Loading the next item…") : "Queue empty: nothing is waiting for you. Thank you!";
      $("empty-hint").hidden = waiting;
    } else {
      item0.dataset.taskId = String(view.task_id);
      item0.dataset.itemId = view.item_id;
      segments($("item-id"), view.item_id_segments);
      const text = $("item-text");
      if (fieldsBox) renderFields(view);
      else if (view.text === null) { text.replaceChildren(el("em", "muted", "(no text)")); } else segments(text, view.text_segments);
      text.scrollTop = 0;
      evidence(view);
      root.dataset.suggested = view.suggested === null ? "" : String(view.suggested);
      document.querySelectorAll("#answer-form .label-btn").forEach((b, i) => b.classList.toggle("suggested", i === view.suggested));
      for (const input of document.querySelectorAll("input[name=task_id]")) input.value = String(view.task_id);
    }
    root.dataset.shown = String(Number(root.dataset.shown || 0) + 1);
    if (keyTime !== null && view) {
      const t0 = keyTime;
      keyTime = null;
      requestAnimationFrame(() => timings.push(performance.now() - t0));
    }
  }

  // ---- history (the side list) -------------------------------------------------------------
  // Entries newest first: {li, answer_id, task_id, kind, label, view (null if not in memory)}.
  const entries = Array.from(list.querySelectorAll(".hist")).map((li) => ({
    li, answer_id: li.dataset.answerId, task_id: Number(li.dataset.taskId), kind: li.dataset.kind,
    label: li.dataset.label === "" ? null : Number(li.dataset.label), view: null,
  }));
  let selected = -1;

  function given(entry) {
    const box = entry.li.querySelector(".given");
    box.replaceChildren(entry.kind === "label" ? chip(entry.label) : entry.kind === "skip" ? el("span", "chip abstain", "skipped") : el("span", "chip flag", "flagged"));
  }

  function addEntry(entry) {
    const li = el("li", "hist");
    li.dataset.answerId = entry.answer_id;
    const snippet = el("div", "snippet");
    if (entry.view.text === null) snippet.textContent = "(no text)";
    else {
      let n = 0;
      const short = [];
      for (const s of entry.view.text_segments) {
        if (n >= 80) break;
        short.push(s.hidden ? s : { text: s.text.slice(0, 80 - n), hidden: false });
        n += s.text.length;
      }
      segments(snippet, short);
      if (n > 80) snippet.appendChild(document.createTextNode("…"));
    }
    li.append(snippet, el("div", "given"));
    entry.li = li;
    given(entry);
    list.prepend(li);
    entries.unshift(entry);
    while (entries.length > historySize) entries.pop().li.remove();
    syncHistory();
  }

  function syncHistory() {
    const hint = historyBox.querySelector("p.muted");
    if (hint) hint.hidden = entries.length > 0;
    $("undo-button").disabled = entries.length === 0;
  }

  function select(i) {
    entries.forEach((e, j) => e.li.classList.toggle("selected", j === i));
    selected = i;
    if (i >= 0) entries[i].li.scrollIntoView({ block: "nearest" });
  }
  function setHistoryMode(on) {
    historyBox.classList.toggle("active", on && entries.length > 0);
    select(on && entries.length > 0 ? 0 : -1);
  }

  // ---- actions -------------------------------------------------------------------------------
  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 2500);
  }
  function notice(text) {
    let box = $("notice");
    if (!box) {
      box = el("div", "notice");
      box.id = "notice";
      box.setAttribute("role", "status");
      root.querySelector(".work").prepend(box);
    }
    box.textContent = text;
  }

  function setCount(id, delta) {
    changes += 1;
    const node = $(id);
    if (node) node.textContent = String(Math.max(0, Number(node.textContent) + delta));
  }

  let changes = 0; // local actions; a progress answer older than the latest one is dropped
  async function refreshProgress() {
    const seen = changes;
    try {
      const response = await api("GET", "/api/v1/progress");
      if (!response.ok) return;
      const p = await response.json();
      if (seen !== changes || readBox().length) return;
      $("done-count").textContent = String(p.done);
      $("left-count").textContent = String(p.remaining + buffer.length + (current ? 1 : 0));
      if ($("round-settled")) $("round-settled").textContent = String(p.round_settled);
    } catch (e) { /* offline: the counts catch up later */ }
  }

  function answer(kind, label, comment, correction) {
    if (!current) return;
    const id = uuid();
    correction = correction === undefined ? null : correction;
    pushOp({ op: "answer", id, task_id: current.task_id, kind, label, comment: comment || null, correction });
    if (!current.partial) addEntry({ answer_id: id, task_id: current.task_id, kind, label, correction, view: current });
    else { // the page's own first item: its text as shown (markers included), no view in memory
      const first = fieldsBox ? fieldsBox.querySelector(".field-body") : null;
      const shown = (first || $("item-text")).textContent;
      addEntry({ answer_id: id, task_id: current.task_id, kind, label, correction, view: { text: shown, text_segments: [{ text: shown, hidden: false }] } });
      entries[0].view = null;
    }
    setCount("done-count", 1);
    setCount("left-count", -1);
    advance();
    flush();
    if (kind === "skip") toast("Skipped: someone else gets this item");
    if (kind === "flag") toast("Flagged for an admin");
  }

  function undo(entry) {
    entry = entry || entries[0];
    if (!entry) { toast("Nothing to undo"); return; }
    const box = readBox();
    if (unsent(entry.answer_id)) writeBox(box.filter((op) => !(op.op === "answer" && op.id === entry.answer_id)));
    else pushOp({ op: "undo", id: entry.answer_id });
    entries.splice(entries.indexOf(entry), 1);
    entry.li.remove();
    syncHistory();
    setHistoryMode(false);
    setCount("done-count", -1);
    setCount("left-count", 1);
    if (current) buffer.unshift(current);
    if (entry.view) {
      current = entry.view;
      render(current);
    } else {
      current = null;
      returning = true;
      render(null);
    }
    while (buffer.length > DEPTH) buffer.pop(); // still claimed: the server hands it out again
    toast("Undone: the item is back");
    flush();
  }

  async function bringBack() {
    try {
      const view = await fetchNext();
      if (view) { if (current) buffer.unshift(current); current = view; render(view); return; }
    } catch (e) { returning = true; scheduleRetry(); return; }
    advance();
  }

  function relabel(entry, label) {
    const ops = readBox();
    const op = unsent(entry.answer_id) && ops.find((o) => o.op === "answer" && o.id === entry.answer_id);
    if (op) { op.kind = "label"; op.label = label; op.comment = null; writeBox(ops); }
    else { // the replacement keeps the answer's correction (the server keeps it when unknown here)
      const newId = uuid();
      pushOp({ op: "edit", id: entry.answer_id, new_id: newId, kind: "label", label, correction: entry.correction });
      entry.answer_id = newId;
      entry.li.dataset.answerId = newId;
    }
    entry.kind = "label";
    entry.label = label;
    given(entry);
    toast("Relabelled: " + labels[label]);
    flush();
  }

  // The correctable field's original text: from the view, or from the page's own first item.
  function originalText() {
    if (current && current.fields) {
      const f = current.fields.find((x) => x.correctable);
      return f && f.text !== null ? f.text : "";
    }
    const tpl = fieldsBox && fieldsBox.querySelector("template.original");
    return tpl ? tpl.content.textContent : "";
  }
  function openCorrect() {
    if (!current || !correctDialog) return;
    correctText.value = originalText();
    correctLabel.value = String(current.suggested === null || current.suggested === undefined ? 0 : current.suggested);
    correctDialog.showModal();
    correctText.focus();
    correctText.setSelectionRange(0, 0); // read from the top
    correctText.scrollTop = 0;
  }
  function sendCorrect() {
    const text = correctText.value;
    const label = Number(correctLabel.value);
    const changed = text !== originalText().replace(/\r\n?/g, "\n"); // unchanged: no correction
    correctDialog.close();
    answer("label", label, null, changed ? text : null);
    toast((changed ? "Corrected and labelled: " : "Text unchanged, labelled: ") + labels[label]);
  }

  function openFlag() {
    if (!current) return;
    flagDialog.showModal();
    flagComment.focus();
  }
  function sendFlag() {
    const text = flagComment.value;
    flagComment.value = "";
    flagDialog.close();
    answer("flag", null, text);
  }

  // Mouse clicks on the page's forms take the same path as the keys.
  $("answer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (ev.submitter && ev.submitter.value !== "") answer("label", Number(ev.submitter.value));
  });
  $("skip-form").addEventListener("submit", (ev) => { ev.preventDefault(); answer("skip", null); });
  $("flag-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendFlag(); });
  if (correctDialog) {
    $("correct-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendCorrect(); });
    correctDialog.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); sendCorrect(); }
    });
  }
  $("undo-form").addEventListener("submit", (ev) => { ev.preventDefault(); undo(); });
  for (const form of list.querySelectorAll(".edit-form")) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const entry = entries.find((e) => e.li.contains(form));
      if (entry && ev.submitter) relabel(entry, Number(ev.submitter.value));
    });
  }
  $("flag-open").addEventListener("click", openFlag);
  $("guide-open").addEventListener("click", () => guide.showModal());
  flagComment.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); sendFlag(); }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (flagDialog.open) return; // the dialog handles its own keys (Esc closes it natively)
    if (correctDialog && correctDialog.open) return;
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
      else if (label !== null) { relabel(entry, label); setHistoryMode(false); }
      else if (key === "u" || key === "Backspace") undo(entry);
      else return;
      ev.preventDefault();
      return;
    }
    const label = labelFromKey(key);
    if (label !== null && current) {
      keyTime = ev.timeStamp;
      answer("label", label);
    } else if (key === "Enter" && current) {
      if (current.suggested === null) return;
      keyTime = ev.timeStamp;
      answer("label", current.suggested);
    } else if (key === "s" && current) {
      keyTime = ev.timeStamp;
      answer("skip", null);
    } else if (key === "f" && current) {
      openFlag();
    } else if (key === "e" && current && correctDialog) {
      openCorrect();
    } else if (key === "u" || key === "Backspace") {
      undo();
    } else if (key === "g" || key === "?") {
      guide.showModal();
    } else if (key === "h") {
      setHistoryMode(true);
    } else {
      return;
    }
    ev.preventDefault();
  });

  window.addEventListener("online", () => { backoff = 1000; flush(); fill(); });
  window.addEventListener("offline", () => setOffline(true));

  // Start: an answer for the page's item may still be in the outbox (the tab was closed
  // before it was sent): then that item is done and the next one is shown.
  if (current && readBox().some((op) => op.op === "answer" && op.task_id === current.task_id)) {
    current = null;
    render(null);
  }
  root.dataset.pending = String(readBox().length);
  flush();
  fill();
  root.dataset.ready = "1";
})();
