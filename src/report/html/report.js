(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, { numeric: true });
  function sortBy(table, col, descending) {
    var head = table.tHead.rows[0].cells;
    var numeric = head[col].getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, n) {
      var cell = row.cells[col];
      var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
      return { row: row, n: n, v: numeric ? Number(v) : v };
    });
    rows.sort(function (a, b) {
      var c = numeric ? a.v - b.v : collator.compare(a.v, b.v);
      return (descending ? -c : c) || a.n - b.n;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    for (var i = 0; i < head.length; i++) { head[i].removeAttribute("aria-sort"); }
    head[col].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.querySelector("button").addEventListener("click", function () {
        sortBy(table, col, th.getAttribute("aria-sort") === "ascending");
      });
    });
  });
  var m = /^#sort=(-?)([a-z]+)$/.exec(window.location.hash);
  var findings = document.getElementById("findings");
  if (m && findings) {
    Array.prototype.forEach.call(findings.tHead.rows[0].cells, function (th, col) {
      if (th.getAttribute("data-col") === m[2]) { sortBy(findings, col, m[1] === "-"); }
    });
  }
  document.body.setAttribute("data-ready", "1");
})();
