/* Score curve of a video: one SVG drawn from GET /api/assets/{id}/frame-scores/.
 *
 * ScoreCurve.draw(svg, data, options) draws the frame scores over time, the threshold
 * line, the event segments (shaded by review status) and a playhead; it returns
 * {setTime(t), timeAt(clientX)} so a page can follow its player and seek on click.
 * options.from / options.to (seconds) zoom on a stretch (the review queue shows one
 * segment with some context); options.highlight (a flag id) marks one segment.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var W = 1000;
  var H = 200;
  var PAD = 8;

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    return node;
  }

  function draw(svg, data, options) {
    options = options || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("preserveAspectRatio", "none");
    var from = options.from !== undefined ? options.from : 0;
    var to = options.to !== undefined ? options.to : data.duration_s || 1;
    if (to <= from) to = from + 1;
    var points = (data.frames || []).filter(function (f) {
      return f.score !== null && f.t >= from && f.t <= to;
    });
    var values = points.map(function (f) {
      return f.score;
    });
    if (data.threshold !== null && data.threshold !== undefined) values.push(data.threshold);
    var low = Math.min.apply(null, values.length ? values : [0]);
    var high = Math.max.apply(null, values.length ? values : [1]);
    if (high <= low) high = low + 1;
    var span = high - low;
    low -= 0.05 * span;
    high += 0.05 * span;

    function x(t) {
      return ((t - from) / (to - from)) * W;
    }
    function y(v) {
      return H - PAD - ((v - low) / (high - low)) * (H - 2 * PAD);
    }

    (data.segments || []).forEach(function (segment) {
      if (segment.end_s < from || segment.start_s > to) return;
      var rect = el("rect", {
        x: Math.max(0, x(segment.start_s)),
        y: 0,
        width: Math.max(2, x(segment.end_s) - x(segment.start_s)),
        height: H,
        class: "curve-segment curve-segment-" + segment.status +
          (options.highlight && String(segment.flag) === String(options.highlight)
            ? " curve-segment-current" : ""),
        "data-flag-id": segment.flag,
      });
      svg.appendChild(rect);
    });
    if (data.threshold !== null && data.threshold !== undefined) {
      svg.appendChild(
        el("line", {
          x1: 0, x2: W, y1: y(data.threshold), y2: y(data.threshold),
          class: "curve-threshold", "vector-effect": "non-scaling-stroke",
        })
      );
    }
    if (points.length) {
      var path = points
        .map(function (f, i) {
          return (i ? "L" : "M") + x(f.t).toFixed(1) + " " + y(f.score).toFixed(1);
        })
        .join(" ");
      svg.appendChild(
        el("path", { d: path, class: "curve-line", "vector-effect": "non-scaling-stroke" })
      );
    }
    var head = el("line", {
      x1: 0, x2: 0, y1: 0, y2: H, class: "curve-playhead", "vector-effect": "non-scaling-stroke",
    });
    svg.appendChild(head);
    svg.dataset.points = String(points.length);
    svg.dataset.drawn = "true";

    return {
      setTime: function (t) {
        var at = x(Math.min(to, Math.max(from, t)));
        head.setAttribute("x1", at);
        head.setAttribute("x2", at);
      },
      timeAt: function (clientX) {
        var box = svg.getBoundingClientRect();
        var share = Math.min(1, Math.max(0, (clientX - box.left) / (box.width || 1)));
        return from + share * (to - from);
      },
    };
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("The server answered " + response.status + ".");
        return response.json();
      });
  }

  window.ScoreCurve = { draw: draw, fetchJson: fetchJson };
})();
