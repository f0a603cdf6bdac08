// Layout checks of a TokenWatt page, run by headless Chromium on a copy of the page with this
// script added at its end (WebOverviewTests, scripts/screenshots.sh). It appends
// a pre#layout-report holding the report as JSON: each list names what breaks a rule, empty when none.
//   wide      an element wider than its box (scrollWidth against clientWidth), or past the window
//   svgText   an SVG text outside its SVG's drawing (viewBox)
//   timeAxes  a time chart (data-axis="time") with fewer than two labels on its axis
//   iso       an ISO 8601 timestamp as visible text
(function () {
  const report = { wide: [], svgText: [], timeAxes: [], iso: [], charts: 0, timeCharts: 0, times: 0 };
  const root = document.documentElement;
  const name = (element) => element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
    + (element.className && typeof element.className === "string" ? "." + element.className.split(" ").join(".") : "");
  if (root.scrollWidth > root.clientWidth) report.wide.push("the page: " + root.scrollWidth + " > " + root.clientWidth);
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg")) continue;
    if (element.clientWidth > 0 && element.scrollWidth > element.clientWidth + 1) {
      report.wide.push(name(element) + ": " + element.scrollWidth + " > " + element.clientWidth);
    }
    const right = element.getBoundingClientRect().right;
    if (right > root.clientWidth + 1) report.wide.push(name(element) + " ends at " + Math.round(right) + " > " + root.clientWidth);
  }
  for (const svg of document.querySelectorAll("svg")) {
    report.charts += 1;
    const box = svg.viewBox.baseVal;
    for (const text of svg.querySelectorAll("text")) {
      const b = text.getBBox();
      if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5 || b.y + b.height > box.y + box.height + 0.5) {
        report.svgText.push(svg.getAttribute("aria-label") + ": \"" + text.textContent + "\" at " + [b.x, b.y, b.width, b.height].map(Math.round).join(","));
      }
    }
    if (svg.dataset.axis === "time") {
      report.timeCharts += 1;
      const labels = svg.querySelectorAll("text.x-label").length;
      if (labels < 2) report.timeAxes.push(svg.getAttribute("aria-label") + ": " + labels + " label(s)");
    }
  }
  report.iso = document.body.innerText.match(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/g) || [];
  report.times = document.querySelectorAll("time[title]").length;
  const pre = document.createElement("pre");
  pre.id = "layout-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
})();
