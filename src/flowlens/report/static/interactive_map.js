// flowlens interactive process map (flowlens.report.interactive_map): switches between the
// drawings laid out in Python; no library, no network, no HTML built from strings.
(function () {
  "use strict";
  var root = document.getElementById("fl-map");
  var source = document.getElementById("fl-map-data");
  // without the browser's gzip inflater the static drawings stay (the fallback)
  if (!root || !source || typeof DecompressionStream === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var svgs = null;
  var act = document.getElementById("fl-map-activities");
  var path = document.getElementById("fl-map-paths");
  var live = document.getElementById("fl-map-live");
  var info = document.getElementById("fl-map-info");
  var actLabel = document.getElementById("fl-map-activities-label");
  var pathLabel = document.getElementById("fl-map-paths-label");
  var views = root.querySelectorAll("input[name=fl-map-view]");
  var parser = new DOMParser();
  var selected = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function pct(x) {
    return Math.round(x * 100) + " %";
  }

  function view() {
    for (var i = 0; i < views.length; i++) {
      if (views[i].checked) {
        return data.views.indexOf(views[i].value);
      }
    }
    return 0;
  }

  function text(tag, content, cls) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (cls) {
      el.className = cls;
    }
    return el;
  }

  function showInfo(i) {
    selected = i;
    var box = [];
    if (i === null) {
      box.push(text("p", data.text.click, "note"));
    } else {
      box.push(text("h4", data.activities[i]));
      box.push(text("p", fill(data.text.instances, { n: data.instances[i] })));
      var w = data.waiting[String(i)];
      if (!w) {
        box.push(text("p", data.text.nowait, "note"));
      } else {
        box.push(text("p", fill(data.text.wait, { wait: w.wait })));
        var list = document.createElement("div");
        list.className = "fl-split";
        for (var c = 0; c < data.causes.length; c++) {
          var row = document.createElement("div");
          row.className = "fl-split-row";
          row.appendChild(text("span", data.causes[c], "fl-split-label"));
          var bar = document.createElement("span");
          bar.className = "fl-split-bar";
          var inner = document.createElement("span");
          inner.style.width = (w.shares[c] * 100).toFixed(1) + "%";
          bar.appendChild(inner);
          row.appendChild(bar);
          row.appendChild(text("span", pct(w.shares[c]), "fl-split-value"));
          list.appendChild(row);
        }
        box.push(list);
      }
    }
    info.replaceChildren.apply(info, box);
    var nodes = live.querySelectorAll("g.node[data-i]");
    for (var k = 0; k < nodes.length; k++) {
      nodes[k].classList.toggle("fl-selected", String(selected) === nodes[k].getAttribute("data-i"));
    }
  }

  function draw() {
    var a = Number(act.value);
    var p = Number(path.value);
    var state = data.states[a][p];
    var level = data.activity_levels[a];
    actLabel.textContent = fill(data.text.activities, {
      n: level.n,
      total: data.total_activities,
      share: pct(state.activity_share),
    });
    pathLabel.textContent = fill(data.text.paths, {
      share: pct(data.path_levels[p]),
      n: state.edges,
      total: state.total_edges,
    });
    var doc = parser.parseFromString(svgs[state.svg[view()]], "image/svg+xml");
    live.replaceChildren(document.importNode(doc.documentElement, true));
    live.setAttribute("data-nodes", String(state.nodes));
    showInfo(selected !== null && live.querySelector('g.node[data-i="' + selected + '"]') ? selected : null);
  }

  function inflate(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  act.max = String(data.activity_levels.length - 1);
  path.max = String(data.path_levels.length - 1);
  act.value = String(data.default[0]);
  path.value = String(data.default[1]);
  act.addEventListener("input", draw);
  path.addEventListener("input", draw);
  for (var v = 0; v < views.length; v++) {
    views[v].addEventListener("change", draw);
  }
  live.addEventListener("click", function (event) {
    var node = event.target.closest ? event.target.closest("g.node[data-i]") : null;
    if (node) {
      showInfo(Number(node.getAttribute("data-i")));
    }
  });
  inflate(data.svgs_gz).then(function (textValue) {
    svgs = JSON.parse(textValue);
    root.classList.add("fl-js");
    draw();
    root.setAttribute("data-ready", "1");
  });
})();
