// Search the series' titles and section headings, offline: the index is a script beside this one
// (search-index.js, written by tools/render_series.py), so it also works from file://.
(function () {
  var box = document.querySelector("input.site-search");
  var list = document.querySelector("ul.site-search-results");
  if (!box || !list || !window.SITE_SEARCH) return;
  var root = box.getAttribute("data-root") || "";
  var entries = window.SITE_SEARCH[document.documentElement.lang] || window.SITE_SEARCH.en || [];
  box.addEventListener("input", function () {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    list.innerHTML = "";
    if (!words.length) return;
    entries.filter(function (e) {
      var text = (e.title + " " + e.section + " " + (e.text || "")).toLowerCase();
      return words.every(function (w) { return text.indexOf(w) >= 0; });
    }).slice(0, 20).forEach(function (e) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = root + e.href + (e.anchor ? "#" + e.anchor : "");
      link.textContent = e.section ? e.section + " (" + e.title + ")" : e.title;
      item.appendChild(link);
      list.appendChild(item);
    });
  });
})();
