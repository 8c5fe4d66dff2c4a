// carebus event catalog: client-side search over window.CAREBUS_SEARCH_INDEX and the version-diff picker.
// Everything else on the site works without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var root = document.body.getAttribute("data-root") || "";
  var index = window.CAREBUS_SEARCH_INDEX || [];
  var KIND_ORDER = { event: 0, field: 1, type: 2, topic: 3, service: 4, guide: 5 };
  var MAX_RESULTS = 60;

  function score(entry, q) {
    var name = entry.n.toLowerCase();
    if (name === q) return 0;
    if (name.indexOf(q) === 0) return 1;
    if (name.indexOf(q) > 0) return 2;
    if ((entry.c || "").toLowerCase().indexOf(q) >= 0) return 3;
    if ((entry.d || "").toLowerCase().indexOf(q) >= 0) return 4;
    return -1;
  }

  function search(query) {
    var q = query.trim().toLowerCase();
    if (!q) return [];
    var hits = [];
    for (var i = 0; i < index.length; i++) {
      var s = score(index[i], q);
      if (s >= 0) hits.push({ s: s, k: KIND_ORDER[index[i].k] || 9, i: i, e: index[i] });
    }
    hits.sort(function (a, b) { return a.s - b.s || a.k - b.k || a.i - b.i; });
    return hits.slice(0, MAX_RESULTS).map(function (h) { return h.e; });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function badge(s) {
    if (s === "phi") { var b = el("span", "badge badge-phi", "PHI"); b.title = "Protected health information"; return b; }
    if (s === "pii") { var p = el("span", "badge badge-pii", "PII"); p.title = "Personally identifiable information"; return p; }
    return null;
  }

  function render(box, query) {
    box.textContent = "";
    if (!query.trim()) { box.hidden = true; return; }
    var results = search(query);
    box.hidden = false;
    if (!results.length) { box.appendChild(el("p", "empty", "No events, fields or docs match “" + query.trim() + "”.")); return; }
    var list = el("ul");
    results.forEach(function (r) {
      var li = el("li");
      var a = el("a");
      a.href = root + r.u;
      a.appendChild(el("span", "result-kind", r.k));
      a.appendChild(el("strong", null, r.n));
      if (r.t) { a.appendChild(document.createTextNode(" ")); a.appendChild(el("code", null, r.t)); }
      var b = badge(r.s);
      if (b) { a.appendChild(document.createTextNode(" ")); a.appendChild(b); }
      a.appendChild(el("span", "result-context", r.c + (r.d && r.k !== "guide" ? " — " + r.d : "")));
      li.appendChild(a);
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-search-results]"), function (input) {
    var box = document.getElementById(input.getAttribute("data-search-results"));
    if (!box) return;
    input.addEventListener("input", function () { render(box, input.value); });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { input.value = ""; render(box, ""); }
      if (ev.key === "ArrowDown") { var first = box.querySelector("a"); if (first) { ev.preventDefault(); first.focus(); } }
      if (ev.key === "Enter") { var top = box.querySelector("a"); if (top) { ev.preventDefault(); window.location.href = top.href; } }
    });
    box.addEventListener("keydown", function (ev) {
      var links = Array.prototype.slice.call(box.querySelectorAll("a"));
      var at = links.indexOf(document.activeElement);
      if (ev.key === "ArrowDown" && at >= 0 && at < links.length - 1) { ev.preventDefault(); links[at + 1].focus(); }
      if (ev.key === "ArrowUp" && at > 0) { ev.preventDefault(); links[at - 1].focus(); }
      if (ev.key === "ArrowUp" && at === 0) { ev.preventDefault(); input.focus(); }
      if (ev.key === "Escape") { input.focus(); input.value = ""; render(box, ""); }
    });
    // Hide the header dropdown when focus and clicks leave the search form.
    if (!box.classList.contains("search-results-inline")) {
      document.addEventListener("click", function (ev) { if (!input.form.contains(ev.target)) box.hidden = true; });
    }
    var params = new URLSearchParams(window.location.search);
    if (params.get("q") && input.id === "search-home") { input.value = params.get("q"); render(box, input.value); }
  });

  // Version diffs: show the chosen pair only; without JS every pair stays listed.
  var picker = document.querySelector(".diff-picker");
  if (picker) {
    var from = document.getElementById("diff-from");
    var to = document.getElementById("diff-to");
    var note = picker.querySelector(".diff-picker-note");
    var sections = document.querySelectorAll("section.diff");
    var update = function () {
      var a = Math.min(+from.value, +to.value);
      var b = Math.max(+from.value, +to.value);
      var shown = 0;
      Array.prototype.forEach.call(sections, function (s) {
        var on = +s.getAttribute("data-from") === a && +s.getAttribute("data-to") === b;
        s.hidden = !on;
        if (on) shown++;
      });
      note.textContent = a === b ? "Pick two different versions to compare." : shown ? "" : "No diff for this pair.";
    };
    picker.hidden = false;
    // A link to one diff (#diff-v1-v3) opens the picker on that pair.
    var linked = /^#diff-v(\d+)-v(\d+)$/.exec(window.location.hash);
    if (linked) { from.value = linked[1]; to.value = linked[2]; }
    from.addEventListener("change", update);
    to.addEventListener("change", update);
    update();
  }
})();
