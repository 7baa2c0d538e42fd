(function () {
  /* Re-sorts the scorecard's rows; without this script the rows keep the server's order
     (sites that need attention first), so the page works the same with scripts off. */
  var body = document.getElementById("scorecard-body");
  var bar = document.getElementById("score-sort");
  if (!body || !bar) { return; }
  var note = document.getElementById("sort-note");
  var buttons = bar.querySelectorAll("button[data-key]");
  function sortBy(button) {
    var key = "data-" + button.getAttribute("data-key");
    var rows = Array.prototype.slice.call(body.children);
    rows.sort(function (a, b) {
      var x = a.getAttribute(key), y = b.getAttribute(key);
      if (x === y) { x = a.getAttribute("data-site"); y = b.getAttribute("data-site"); }
      return x < y ? -1 : x > y ? 1 : 0;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(buttons, function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    if (note) { note.textContent = button.getAttribute("data-note"); }
  }
  Array.prototype.forEach.call(buttons, function (b) {
    b.addEventListener("click", function () { sortBy(b); });
  });
  bar.hidden = false;
})();
