/* The MG summary page: draws each chart from its figure (a JSON data island beside it) with
   plotly.js, binds the print button, and takes the authorization code out of the address bar.
   No inline script anywhere (the CSP forbids it). */
(function () {
  "use strict";
  var drawn = [];

  function draw() {
    var charts = document.querySelectorAll(".chart[data-figure]");
    var pending = [];
    charts.forEach(function (el) {
      var island = document.getElementById(el.getAttribute("data-figure"));
      if (!island) { return; }
      var figure = JSON.parse(island.textContent);
      var config = { displayModeBar: false, responsive: true, scrollZoom: false };
      pending.push(window.Plotly.newPlot(el, figure.data, figure.layout, config).then(function () {
        el.setAttribute("data-drawn", "true");
        drawn.push(el);
      }));
    });
    Promise.all(pending).then(function () {
      document.body.setAttribute("data-charts", "drawn");
    }, function () {
      document.body.setAttribute("data-charts", "failed");
    });
  }

  function relayout() {
    drawn.forEach(function (el) { window.Plotly.Plots.resize(el); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.history && window.history.replaceState && window.location.search) {
      window.history.replaceState(null, "", window.location.pathname);  // no code in bookmarks
    }
    var button = document.getElementById("print");
    if (button) { button.addEventListener("click", function () { window.print(); }); }
    if (window.Plotly) { draw(); } else { document.body.setAttribute("data-charts", "failed"); }
  });
  window.addEventListener("beforeprint", relayout);
  window.addEventListener("afterprint", relayout);
}());
