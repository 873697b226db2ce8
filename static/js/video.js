/* Video page: the WebM preview in a player, the score curve under it (click to seek, the
 * playhead follows the player), the event segments and a strip of thumbnails. */
(function () {
  "use strict";

  var root = document.getElementById("video-page");
  if (!root || !window.ScoreCurve) return;

  var player = document.getElementById("video-player");
  var svg = document.getElementById("score-curve");
  var select = document.getElementById("curve-version");
  var status = document.getElementById("curve-status");
  var segmentList = document.getElementById("segment-list");
  var strip = document.getElementById("thumb-strip");
  var curve = null;
  var data = null;

  function seek(t) {
    if (!player) return;
    player.currentTime = Math.max(0, t);
    if (curve) curve.setTime(t);
  }

  function renderSegments() {
    if (!segmentList) return;
    segmentList.textContent = "";
    (data.segments || []).forEach(function (segment) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.dataset.start = segment.start_s;
      button.textContent =
        "Frames " + segment.start_frame + "–" + segment.end_frame +
        " (" + segment.start_s.toFixed(1) + "–" + segment.end_s.toFixed(1) + " s), peak " +
        segment.peak_score.toFixed(4) + " at frame " + segment.peak_frame;
      button.addEventListener("click", function () {
        seek(segment.start_s);
      });
      var badge = document.createElement("span");
      badge.className = "badge badge-" + segment.status;
      badge.textContent = segment.status;
      li.appendChild(button);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(badge);
      segmentList.appendChild(li);
    });
    document.getElementById("segments-empty").hidden = (data.segments || []).length > 0;
  }

  function renderStrip() {
    if (!strip) return;
    strip.textContent = "";
    var frames = data.frames || [];
    var count = Math.min(12, frames.length);
    for (var i = 0; i < count; i++) {
      var frame = frames[Math.floor((i * frames.length) / count)];
      var button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.title = "Frame " + frame.index + " at " + frame.t.toFixed(1) + " s" +
        (frame.score === null ? "" : ", score " + frame.score.toFixed(4));
      var img = document.createElement("img");
      img.src = "/api/assets/" + frame.asset + "/thumbnail/";
      img.alt = "Frame " + frame.index;
      img.loading = "lazy";
      button.appendChild(img);
      button.addEventListener("click", seek.bind(null, frame.t));
      strip.appendChild(button);
    }
  }

  function load(version) {
    var url = root.dataset.scoresUrl + (version ? "?version=" + encodeURIComponent(version) : "");
    window.ScoreCurve.fetchJson(url)
      .then(function (body) {
        data = body;
        curve = window.ScoreCurve.draw(svg, data);
        if (player) curve.setTime(player.currentTime || 0);
        status.textContent = data.version_number
          ? "Scores by v" + data.version_number + ", threshold " +
            (data.threshold === null ? "—" : data.threshold.toFixed(4))
          : "Not scored yet.";
        renderSegments();
        renderStrip();
      })
      .catch(function (error) {
        status.textContent = "Could not load the scores: " + error.message;
      });
  }

  svg.addEventListener("click", function (event) {
    if (curve) seek(curve.timeAt(event.clientX));
  });
  if (player) {
    player.addEventListener("timeupdate", function () {
      if (curve) curve.setTime(player.currentTime);
      var time = document.getElementById("player-time");
      if (time) time.textContent = player.currentTime.toFixed(2) + " s";
    });
  }
  if (select) {
    select.addEventListener("change", function () {
      load(select.value);
    });
  }
  load(root.dataset.version || "");

  // While a worker extracts the frames, follow its progress; reload once it is done.
  var extraction = document.getElementById("extraction-status");
  if (extraction && extraction.dataset.status === "extracting") {
    var timer = setInterval(function () {
      window.ScoreCurve.fetchJson(root.dataset.assetUrl)
        .then(function (asset) {
          var video = asset.video || {};
          var text = document.getElementById("extraction-progress");
          if (text) text.textContent = Math.round(100 * (video.progress || 0)) + " %";
          if (video.status !== "extracting") {
            clearInterval(timer);
            window.location.reload();
          }
        })
        .catch(function () {});
    }, 2000);
  }
})();
