/* Live progress of queued/running versions and scoring jobs: polls the REST API for each
 * element with data-poll-url and updates its status and progress; when one finishes the
 * page reloads once so that everything derived from it (threshold, metrics) is shown. */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var FINISHED = { succeeded: true, failed: true };
  var LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };

  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-poll-url]"));
  if (!rows.length || !window.fetch) return;

  function update(row, data) {
    var badge = row.querySelector('[data-field="status"]');
    if (badge) {
      badge.className = "badge badge-" + data.status;
      badge.textContent = LABELS[data.status] || data.status;
    }
    var bar = row.querySelector("progress");
    var text = row.querySelector('[data-field="progress-text"]');
    if (row.dataset.pollKind === "job") {
      if (bar) {
        bar.max = data.chunks || 1;
        bar.value = data.chunks_done || 0;
      }
      if (text) text.textContent = (data.chunks_done || 0) + "/" + (data.chunks || 0) + " chunks";
    } else {
      if (bar) bar.value = data.progress || 0;
      if (text) {
        text.textContent =
          Math.round((data.progress || 0) * 100) + "%" +
          (data.progress_message ? " · " + data.progress_message : "");
      }
    }
  }

  function poll() {
    Promise.all(
      rows.map(function (row) {
        return fetch(row.dataset.pollUrl, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
          .then(function (response) {
            return response.ok ? response.json() : null;
          })
          .then(function (data) {
            if (!data) return false;
            update(row, data);
            return !!FINISHED[data.status];
          })
          .catch(function () {
            return false;
          });
      })
    ).then(function (finished) {
      if (finished.some(Boolean)) {
        window.location.reload();
      } else {
        window.setTimeout(poll, INTERVAL_MS);
      }
    });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
