/* Review queue: select a flag, confirm or reject it, undo; keyboard and buttons.
 *
 * Every decision goes through the REST API (session cookie + X-CSRFToken header); the
 * page updates in place. Keys: j/k or arrows move, c confirm, r reject, u undo, n note,
 * [ and ] the previous / next event segment of the same video. A segment flag plays its
 * stretch of the video in a loop, above its part of the score curve.
 *
 * While the site's uploads are scored, the page polls scoring-status every few seconds,
 * shows the progress and puts the flags opened since in their place by score, leaving
 * the selected flag and the keyboard focus where they are; it stops when scoring ends.
 */
(function () {
  "use strict";

  var root = document.getElementById("review");
  if (!root) return;

  var list = document.getElementById("flag-list");
  var viewer = document.getElementById("viewer");
  var statusRegion = document.getElementById("review-status");
  var emptyNote = document.getElementById("queue-empty");
  var moreNote = document.getElementById("more-note");
  var pendingCount = document.getElementById("pending-count");
  var noteField = document.getElementById("review-note");
  var itemTemplate = document.getElementById("flag-item-template");
  var canReview = root.dataset.canReview === "true";
  var pageSize = parseInt(root.dataset.pageSize, 10) || 50;
  var hasMore = root.dataset.hasMore === "true";
  var viewStatus = root.dataset.status || "pending";
  var scoringRunning = root.dataset.scoringRunning === "true";
  var sinceId = parseInt(root.dataset.sinceId, 10) || 0;
  var firstSinceId = sinceId;
  var pollMs = parseInt(root.dataset.pollMs, 10) || 3000;
  var newsRegion = document.getElementById("queue-news");

  var LABELS = {
    pending: "Pending",
    confirmed: "Confirmed anomaly",
    rejected: "Rejected (normal)",
    superseded: "Superseded (a newer model scored it)",
  };
  /** Flags a reviewer may still decide on: pending, or superseded by a newer model. */
  function isOpen(status) {
    return status === "pending" || status === "superseded";
  }

  /** "v3 scored 0.4100 (flags it too)" for a superseded flag, else "". */
  function supersededText(flag) {
    var by = flag.superseded_by;
    if (!by) return "";
    return "model " + by.version_number + " scored " + fmt(by.score) +
      (by.is_flagged ? " (flags it too)" : " (below its threshold)");
  }

  /** Write ``name`` so that a cut keeps its end: "long-name-of-a-pho…to-017.png". */
  function showName(element, name) {
    var tail = name.length > 16 ? name.slice(-10) : "";
    var head = document.createElement("span");
    head.className = "name-head";
    head.textContent = tail ? name.slice(0, -10) : name;
    element.textContent = "";
    element.appendChild(head);
    if (tail) {
      var end = document.createElement("span");
      end.className = "name-tail";
      end.textContent = tail;
      element.appendChild(end);
    }
    element.title = name;
  }

  var DONE = { confirm: "confirmed as an anomaly", reject: "rejected as normal" };

  var undoStack = []; // [{id, filename}] of decisions made on this page, latest last
  var busy = false;
  var fetchingMore = false;

  // --- helpers ----------------------------------------------------------------------

  function urlFor(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  function announce(message, isError) {
    statusRegion.textContent = message;
    statusRegion.classList.toggle("status-error", !!isError);
    statusRegion.classList.toggle("status-ok", !isError);
  }

  function fmt(value) {
    var number = parseFloat(value);
    return isNaN(number) ? "—" : number.toFixed(4);
  }

  function items() {
    return Array.prototype.slice.call(list.querySelectorAll(".flag-item"));
  }

  function selected() {
    return list.querySelector(".flag-item.selected");
  }

  var apiRequest = window.anomalyApi.request;

  function setPending(delta) {
    if (!pendingCount) return;
    var value = Math.max(0, (parseInt(pendingCount.textContent, 10) || 0) + delta);
    pendingCount.textContent = String(value);
  }

  // --- rendering --------------------------------------------------------------------

  function updateItem(li, flag) {
    li.dataset.status = flag.status;
    li.dataset.reviewer = flag.reviewer || "";
    li.dataset.note = flag.note || "";
    li.dataset.superseded = supersededText(flag);
    var badge = li.querySelector('[data-field="status"]');
    badge.className = "badge badge-" + flag.status;
    // disputed: reviewers disagree (second opinion); a third reviewer or an admin settles it
    badge.textContent = (LABELS[flag.status] || flag.status) + (flag.disputed ? " · disputed" : "");
    li.classList.toggle("decided", flag.status !== viewStatus);
    if (li.classList.contains("selected")) showInViewer(li);
  }

  function itemFromFlag(flag) {
    var li = itemTemplate.content.firstElementChild.cloneNode(true);
    li.dataset.flagId = String(flag.id);
    li.dataset.filename = flag.filename;
    li.dataset.assetId = String(flag.asset);
    li.dataset.imageUrl = flag.display_url;
    li.dataset.heatmapUrl = flag.heatmap_url || "";
    li.dataset.score = String(flag.score);
    li.dataset.normalised = flag.normalised_score === null ? "" : String(flag.normalised_score);
    li.dataset.threshold = String(flag.threshold);
    li.dataset.versionId = String(flag.version);
    li.dataset.versionNumber = String(flag.version_number);
    li.dataset.kind = flag.kind || "image";
    if (flag.kind === "segment") {
      li.dataset.videoId = String(flag.video);
      li.dataset.startFrame = String(flag.start_frame);
      li.dataset.endFrame = String(flag.end_frame);
      li.dataset.peakFrame = String(flag.peak_frame);
      li.dataset.startS = String(flag.start_s);
      li.dataset.endS = String(flag.end_s);
      li.dataset.previewUrl = flag.preview_url || "";
    }
    li.querySelector("img").src = flag.thumbnail_url;
    showName(li.querySelector(".flag-name"), flag.filename);
    li.querySelector('[data-field="score"]').textContent = fmt(flag.score);
    li.querySelector('[data-field="threshold"]').textContent = fmt(flag.threshold);
    li.querySelector('[data-field="version"]').textContent = "model " + flag.version_number;
    updateItem(li, flag);
    return li;
  }

  function showHeatmap(url) {
    var overlay = document.getElementById("viewer-heatmap");
    var control = document.getElementById("heatmap-control");
    var toggle = document.getElementById("heatmap-toggle");
    if (!overlay) return;
    if (url && overlay.getAttribute("src") !== url) overlay.src = url;
    control.hidden = !url;
    overlay.hidden = !url || !toggle.checked;
  }

  function toggleHeatmap() {
    var toggle = document.getElementById("heatmap-toggle");
    var current = selected();
    if (!toggle || !current || !current.dataset.heatmapUrl) return false;
    toggle.checked = !toggle.checked;
    window.localStorage.setItem("heatmap-on", toggle.checked ? "1" : "0");
    showHeatmap(current.dataset.heatmapUrl);
    return true;
  }

  function showInViewer(li) {
    if (!viewer) return;
    if (!li) {
      viewer.hidden = true;
      return;
    }
    viewer.hidden = false;
    var data = li.dataset;
    showSegment(li);
    var image = document.getElementById("viewer-image");
    if (image.getAttribute("src") !== data.imageUrl) image.src = data.imageUrl;
    showHeatmap(data.heatmapUrl || "");
    image.alt = "Flagged image " + data.filename;
    var caption = document.getElementById("viewer-filename");
    caption.textContent = "";
    var assetLink = document.createElement("a");
    assetLink.href = "/assets/" + data.assetId + "/";
    assetLink.textContent = data.filename;
    caption.appendChild(assetLink);
    document.getElementById("viewer-score").textContent = fmt(data.score);
    document.getElementById("viewer-threshold").textContent = fmt(data.threshold);
    document.getElementById("viewer-normalised").textContent =
      data.normalised === "" || data.normalised === undefined
        ? "—"
        : Math.round(100 * Number(data.normalised)) + " %";
    var version = document.getElementById("viewer-version");
    version.textContent = "";
    var link = document.createElement("a");
    link.href = urlFor(root.dataset.versionUrl, data.versionId);
    link.textContent = "Model " + data.versionNumber;
    version.appendChild(link);
    var status = LABELS[data.status] || data.status;
    document.getElementById("viewer-status").textContent =
      status + (data.reviewer ? " by " + data.reviewer : "") +
      (data.superseded ? ": " + data.superseded : "");
    document.getElementById("viewer-note").textContent = data.note || "";
    document.getElementById("viewer-note-row").hidden = !data.note;
    // Other scripts draw what they know of the flag (objects: static/js/review_boxes.js).
    document.dispatchEvent(new CustomEvent("review:flag-shown", { detail: { flagId: data.flagId } }));
    var open = isOpen(data.status);
    ["confirm-button", "reject-button"].forEach(function (id) {
      var button = document.getElementById(id);
      if (button) button.disabled = !open;
    });
  }

  // --- event segments of videos -----------------------------------------------------

  var loop = { start: 0, end: 0 };
  var curves = {}; // "video:version" -> promise of the frame-scores JSON

  function showSegment(li) {
    var box = document.getElementById("viewer-segment");
    var figure = document.getElementById("viewer-image-figure");
    var player = document.getElementById("viewer-video");
    if (!box) return;
    var isSegment = li.dataset.kind === "segment";
    box.hidden = !isSegment;
    if (figure) figure.hidden = isSegment && !!li.dataset.previewUrl;
    if (!isSegment) {
      if (player && !player.paused) player.pause();
      return;
    }
    var data = li.dataset;
    loop.start = parseFloat(data.startS) || 0;
    loop.end = parseFloat(data.endS) || loop.start + 0.1;
    document.getElementById("viewer-segment-facts").textContent =
      "Frames " + data.startFrame + "–" + data.endFrame + " (" + loop.start.toFixed(1) + "–" +
      loop.end.toFixed(1) + " s), peak at frame " + data.peakFrame + ". Plays in a loop.";
    if (player && data.previewUrl) {
      player.hidden = false;
      if (player.getAttribute("src") !== data.previewUrl) player.src = data.previewUrl;
      var start = function () {
        player.currentTime = loop.start;
        var playing = player.play();
        if (playing && playing.catch) playing.catch(function () {});
      };
      if (player.readyState >= 1) start();
      else player.addEventListener("loadedmetadata", start, { once: true });
    } else if (player) {
      player.hidden = true;
    }
    drawSegmentCurve(li);
  }

  function drawSegmentCurve(li) {
    var svg = document.getElementById("viewer-curve");
    if (!svg || !window.ScoreCurve) return;
    var key = li.dataset.videoId + ":" + li.dataset.versionId;
    if (!curves[key]) {
      curves[key] = window.ScoreCurve.fetchJson(
        "/api/assets/" + li.dataset.videoId + "/frame-scores/?version=" + li.dataset.versionId
      );
    }
    curves[key]
      .then(function (data) {
        if (selected() !== li) return;
        var context = Math.max(1, (loop.end - loop.start) * 1.5);
        var curve = window.ScoreCurve.draw(svg, data, {
          from: Math.max(0, loop.start - context),
          to: Math.min(data.duration_s, loop.end + context),
          highlight: li.dataset.flagId,
        });
        var player = document.getElementById("viewer-video");
        if (player) {
          player.ontimeupdate = function () {
            if (selected() !== li) return;
            if (player.currentTime >= loop.end || player.currentTime < loop.start - 0.25) {
              player.currentTime = loop.start;
            }
            curve.setTime(player.currentTime);
          };
        }
      })
      .catch(function (error) {
        announce("Could not load the scores of this video: " + error.message, true);
      });
  }

  /** The previous (-1) or next (+1) segment of the selected flag's video, by time. */
  function stepSegment(step) {
    var current = selected();
    if (!current || current.dataset.kind !== "segment") return false;
    var same = items()
      .filter(function (li) {
        return li.dataset.kind === "segment" && li.dataset.videoId === current.dataset.videoId;
      })
      .sort(function (a, b) {
        return parseInt(a.dataset.startFrame, 10) - parseInt(b.dataset.startFrame, 10);
      });
    var index = same.indexOf(current) + step;
    if (index < 0 || index >= same.length) {
      announce(step > 0 ? "No later segment in this video." : "No earlier segment in this video.");
      return true;
    }
    select(same[index], true);
    return true;
  }

  function select(li, focus) {
    items().forEach(function (other) {
      other.classList.remove("selected");
      other.removeAttribute("aria-current");
    });
    if (!li) {
      showInViewer(null);
      return;
    }
    li.classList.add("selected");
    li.setAttribute("aria-current", "true");
    showInViewer(li);
    if (focus) li.querySelector(".flag-select").focus({ preventScroll: true });
    li.scrollIntoView({ block: "nearest" });
  }

  function refreshEmpty() {
    var open = items().filter(function (li) {
      return li.dataset.status === viewStatus;
    });
    if (emptyNote) {
      emptyNote.hidden = open.length > 0 || hasMore;
      // "the queue is empty" would be wrong while new photos are still being checked
      var text = scoringRunning && viewStatus === "pending"
        ? emptyNote.dataset.scoringText
        : emptyNote.dataset.emptyText;
      if (text && emptyNote.textContent !== text) emptyNote.textContent = text;
    }
    if (moreNote) moreNote.hidden = !hasMore;
  }

  /** Put ``li`` in its place by score (highest first, then by id, as the API orders).
   *
   * Past the last item it goes only when nothing more waits on the server: otherwise
   * it comes in its turn with the next page. Returns whether it was added. */
  function insertInOrder(li) {
    var score = parseFloat(li.dataset.score);
    var id = parseInt(li.dataset.flagId, 10);
    var all = items();
    for (var i = 0; i < all.length; i++) {
      var other = parseFloat(all[i].dataset.score);
      if (other < score || (other === score && parseInt(all[i].dataset.flagId, 10) > id)) {
        list.insertBefore(li, all[i]);
        return true;
      }
    }
    if (hasMore) return false;
    list.appendChild(li);
    return true;
  }

  /** Add flags not on the page yet, keeping the selected item where the reviewer sees it. */
  function addFlags(flags) {
    var known = {};
    items().forEach(function (li) {
      known[li.dataset.flagId] = true;
    });
    var anchor = selected();
    var before = anchor ? anchor.getBoundingClientRect().top : 0;
    var added = [];
    flags.forEach(function (flag) {
      if (known[String(flag.id)]) return;
      var li = itemFromFlag(flag);
      if (insertInOrder(li)) {
        known[String(flag.id)] = true;
        added.push(li);
      }
    });
    if (anchor && added.length) {
      // items added above the selected one would push it down: scroll them out of the way
      var shift = anchor.getBoundingClientRect().top - before;
      if (shift) list.scrollTop += shift;
    }
    return added;
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var index = all.indexOf(selected());
    var next = index < 0 ? 0 : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next], true);
  }

  /** The next pending item after ``li`` (or before it when none follows). */
  function nextPending(li) {
    var all = items();
    var index = all.indexOf(li);
    var after = all.slice(index + 1).concat(all.slice(0, Math.max(index, 0)));
    for (var i = 0; i < after.length; i++) {
      if (isOpen(after[i].dataset.status)) return after[i];
    }
    return null;
  }

  // --- actions ----------------------------------------------------------------------

  function decide(decision) {
    if (!canReview || busy) return;
    var li = selected();
    if (!li) {
      announce("Nothing is selected.", true);
      return;
    }
    if (!isOpen(li.dataset.status)) {
      announce(
        li.dataset.filename + " is already " + LABELS[li.dataset.status].toLowerCase() +
          "; press u to put it back in the queue first.",
        true
      );
      return;
    }
    busy = true;
    var id = li.dataset.flagId;
    var note = noteField ? noteField.value : "";
    var wasPending = li.dataset.status === "pending";
    apiRequest("POST", urlFor(root.dataset.reviewUrl, id), { decision: decision, note: note })
      .then(function (flag) {
        updateItem(li, flag);
        undoStack.push({ id: id, filename: li.dataset.filename });
        if (noteField) noteField.value = "";
        if (wasPending) setPending(-1);
        announce(li.dataset.filename + " " + DONE[decision] + ". Press u to undo.");
        var next = nextPending(li);
        if (next) select(next, true);
        else showInViewer(li);
        refreshEmpty();
        loadMoreIfLow();
      })
      .catch(function (error) {
        announce("Could not save the decision on " + li.dataset.filename + ": " + error.message, true);
        if (error.status === 409) refreshFlag(li);
      })
      .then(function () {
        busy = false;
      });
  }

  function undo() {
    if (!canReview || busy) return;
    var entry = undoStack[undoStack.length - 1];
    var li;
    if (entry) {
      li = list.querySelector('.flag-item[data-flag-id="' + entry.id + '"]');
    } else {
      li = selected();
      if (!li || isOpen(li.dataset.status)) {
        announce("There is no decision to undo.", true);
        return;
      }
    }
    var id = entry ? entry.id : li.dataset.flagId;
    var filename = li ? li.dataset.filename : "flag " + id;
    busy = true;
    apiRequest("POST", urlFor(root.dataset.undoUrl, id))
      .then(function (flag) {
        if (entry) undoStack.pop();
        if (li) {
          updateItem(li, flag);
          select(li, true);
        }
        if (flag.status === "pending") setPending(1);
        announce("Undone: " + filename + " is " + LABELS[flag.status].toLowerCase() + " again.");
        refreshEmpty();
      })
      .catch(function (error) {
        if (entry && error.status === 409) undoStack.pop(); // nothing left to undo there
        announce("Could not undo the review of " + filename + ": " + error.message, true);
        if (li && error.status === 409) refreshFlag(li);
      })
      .then(function () {
        busy = false;
      });
  }

  function refreshFlag(li) {
    apiRequest("GET", urlFor(root.dataset.flagUrl, li.dataset.flagId))
      .then(function (flag) {
        var wasPending = li.dataset.status === "pending";
        updateItem(li, flag);
        if (wasPending && flag.status !== "pending") setPending(-1);
        refreshEmpty();
      })
      .catch(function () {});
  }

  /** Fetch the next flags from the API when few undecided ones are left on the page. */
  function loadMoreIfLow() {
    if (!hasMore || fetchingMore) return;
    var open = items().filter(function (li) {
      return li.dataset.status === viewStatus;
    });
    if (open.length >= 5) return;
    fetchingMore = true;
    var url =
      root.dataset.flagsUrl + "?status=" + encodeURIComponent(viewStatus) + "&page_size=" + pageSize;
    apiRequest("GET", url)
      .then(function (page) {
        hasMore = false; // the next flags in score order: they go at the end
        var added = addFlags(page.results || []).length;
        hasMore = !!page.next || (page.count || 0) > open.length + added;
        if (!added) hasMore = false;
        if (!selected() || selected().dataset.status !== viewStatus) {
          var next = nextPending(selected());
          if (next) select(next, false);
        }
        refreshEmpty();
      })
      .catch(function (error) {
        announce("Could not load more flags: " + error.message, true);
      })
      .then(function () {
        fetchingMore = false;
      });
  }

  // --- live queue while scoring runs ------------------------------------------------

  var progressBox = document.getElementById("scoring-progress");
  var progressText = document.getElementById("scoring-progress-text");
  var progressBar = document.getElementById("scoring-progress-bar");
  var jobsSeen = {};

  function showProgress(state) {
    if (!progressBox) return;
    progressBox.hidden = !state.running;
    if (!state.running) return;
    progressText.textContent =
      "Checking new photos: " + state.done + " of " + state.total +
      (state.started ? "" : " (waiting for a worker)");
    progressBar.max = Math.max(1, state.total);
    progressBar.value = state.done;
  }

  /** Every pending flag opened after ``sinceId``, page after page, in score order. */
  function fetchNewFlags(url, collected) {
    return apiRequest("GET", url).then(function (page) {
      collected = collected.concat(page.results || []);
      return page.next ? fetchNewFlags(page.next, collected) : collected;
    });
  }

  function addNewFlags(flags) {
    var added = addFlags(flags);
    added.forEach(function (li) {
      li.classList.add("fresh");
      window.setTimeout(function () {
        li.classList.remove("fresh");
      }, 4000);
    });
    if (added.length && !selected()) {
      var first = nextPending(null);
      if (first) select(first, false); // shown in the viewer; the focus stays put
    }
    refreshEmpty();
    return added.length;
  }

  /** After the last poll: jobs that failed say so, instead of "all checked". */
  function finishScoring() {
    var ids = Object.keys(jobsSeen);
    Promise.all(
      ids.map(function (id) {
        return apiRequest("GET", "/api/scoring-jobs/" + id + "/").catch(function () {
          return null;
        });
      })
    ).then(function (jobs) {
      var failed = jobs.filter(function (job) {
        return job && job.status === "failed";
      });
      newsRegion.textContent = failed.length
        ? "Checking stopped: " + (failed[0].error || "a scoring job failed") +
          " The photos checked so far are in the queue; the site page says more."
        : "All new photos are checked.";
    });
  }

  function pollScoring() {
    apiRequest("GET", root.dataset.scoringUrl)
      .then(function (state) {
        (state.jobs || []).forEach(function (job) {
          jobsSeen[job.id] = true;
        });
        showProgress(state);
        if (pendingCount) pendingCount.textContent = String(state.pending);
        var latest = state.latest_flag || 0;
        var fetching = Promise.resolve(0);
        // Once scoring is over, everything opened since the page was drawn, once more: a
        // flag committed late by a parallel worker may have a smaller id than one seen.
        var from = state.running ? sinceId : firstSinceId;
        if (latest > sinceId || !state.running) {
          var url = root.dataset.flagsUrl + "?status=pending&page_size=500&since_id=" + from;
          fetching = fetchNewFlags(url, []).then(function (flags) {
            sinceId = Math.max(sinceId, latest);
            return addNewFlags(flags);
          });
        }
        return fetching.then(function (added) {
          if (added) {
            newsRegion.textContent =
              added === 1 ? "1 new flag in the queue." : added + " new flags in the queue.";
          }
          scoringRunning = state.running;
          refreshEmpty();
          if (state.running) {
            window.setTimeout(pollScoring, pollMs);
          } else {
            finishScoring();
          }
        });
      })
      .catch(function () {
        window.setTimeout(pollScoring, pollMs * 2); // a hiccup: try again, less often
      });
  }

  // --- events -----------------------------------------------------------------------

  list.addEventListener("click", function (event) {
    var button = event.target.closest(".flag-select");
    if (button) select(button.closest(".flag-item"), false);
  });

  ["confirm-button", "reject-button"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", function () {
        decide(button.dataset.decision);
      });
    }
  });
  var undoButton = document.getElementById("undo-button");
  if (undoButton) undoButton.addEventListener("click", undo);

  var filter = document.getElementById("status-filter");
  if (filter) {
    filter.addEventListener("change", function () {
      filter.form.submit();
    });
  }

  // Off by default (it covers what the reviewer must judge); the choice and the opacity
  // are remembered in this browser.
  var heatmapToggle = document.getElementById("heatmap-toggle");
  var heatmapOpacity = document.getElementById("heatmap-opacity");
  function applyOpacity() {
    var overlay = document.getElementById("viewer-heatmap");
    if (overlay && heatmapOpacity) overlay.style.opacity = String(heatmapOpacity.value / 100);
  }
  if (heatmapToggle) {
    heatmapToggle.checked = window.localStorage.getItem("heatmap-on") === "1";
    heatmapToggle.addEventListener("change", function () {
      window.localStorage.setItem("heatmap-on", heatmapToggle.checked ? "1" : "0");
      var current = selected();
      showHeatmap(current ? current.dataset.heatmapUrl || "" : "");
    });
    var start = selected();
    showHeatmap(start ? start.dataset.heatmapUrl || "" : "");
  }
  if (heatmapOpacity) {
    var saved = window.localStorage.getItem("heatmap-opacity");
    if (saved) heatmapOpacity.value = saved;
    heatmapOpacity.addEventListener("input", function () {
      window.localStorage.setItem("heatmap-opacity", heatmapOpacity.value);
      applyOpacity();
    });
    applyOpacity();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    // shortcuts stay live on checkboxes and sliders (no text goes there)
    var typing =
      target &&
      (target.isContentEditable ||
        /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
        (target.tagName === "INPUT" && !/^(checkbox|range|radio|button)$/.test(target.type)));
    if (typing) {
      if (event.key === "Escape" && target === noteField) {
        noteField.blur();
        var current = selected();
        if (current) current.querySelector(".flag-select").focus({ preventScroll: true });
      }
      return;
    }
    var handled = true;
    switch (event.key) {
      case "j":
      case "ArrowDown":
        move(1);
        break;
      case "k":
      case "ArrowUp":
        move(-1);
        break;
      case "c":
        decide("confirm");
        break;
      case "r":
        decide("reject");
        break;
      case "u":
        undo();
        break;
      case "h":
        handled = toggleHeatmap();
        break;
      case "[":
        handled = stepSegment(-1);
        break;
      case "]":
        handled = stepSegment(1);
        break;
      case "n":
        if (noteField) noteField.focus();
        else handled = false;
        break;
      default:
        handled = false;
    }
    if (handled) event.preventDefault();
  });

  // Start: the page's rows (in the API's order), then the selected item (the first, or
  // the one the grid opened) in the viewer.
  var rows = document.getElementById("flag-rows");
  (rows ? JSON.parse(rows.textContent) : []).forEach(function (flag) {
    list.appendChild(itemFromFlag(flag));
  });
  var opened = /[?&]flag=\d/.test(window.location.search);
  var first =
    list.querySelector('.flag-item[data-flag-id="' + list.dataset.selectedId + '"]') || items()[0];
  if (first) select(first, opened);
  refreshEmpty();
  if (scoringRunning && viewStatus === "pending" && root.dataset.scoringUrl) {
    window.setTimeout(pollScoring, pollMs);
  }
})();
