/* Review grid: a page of pending flags as thumbnails, decided many at once.
 *
 * The grid is a multi-select listbox with one tab stop (roving tabindex). Mouse: click
 * selects one, Shift+click a range from the last clicked, Ctrl/Cmd+click adds or removes
 * one. Keys: arrows move the focus (up/down by a row), Shift+arrows extend the selection
 * from where it started, Space selects or unselects, a selects the whole page, Escape
 * selects none, Home/End the first/last; c confirms and r rejects the selection (or the
 * focused photo when none is selected) in one request to the bulk review endpoint, u
 * undoes the last such decision, Enter/o opens the focused flag in the single view.
 * Decided flags leave the grid and the page is fetched again, so the next flags by
 * score fill it. Messages go to an aria-live region.
 */
(function () {
  "use strict";

  var root = document.getElementById("grid-review");
  if (!root) return;

  var grid = document.getElementById("flag-grid");
  var statusRegion = document.getElementById("grid-status");
  var emptyNote = document.getElementById("grid-empty");
  var selectionCount = document.getElementById("selection-count");
  var showing = document.getElementById("grid-showing");
  var pendingCount = document.getElementById("grid-pending");
  var noteField = document.getElementById("grid-note");
  var template = document.getElementById("grid-cell-template");
  var canReview = root.dataset.canReview === "true";
  var pageSize = parseInt(root.dataset.pageSize, 10) || 40;

  var DONE = { confirm: "confirmed as anomalies", reject: "rejected as normal" };
  var DONE_ONE = { confirm: "confirmed as an anomaly", reject: "rejected as normal" };
  var WHY = {
    already_reviewed: "already reviewed by someone",
    superseded: "superseded by a newer model's flag",
    unknown: "no longer there",
    not_this_site: "of another site",
    not_reviewed: "had no decision to undo",
  };

  var undoStack = []; // [{ids: [...], decision}] of bulk decisions made here, latest last
  var anchor = null; // where a Shift range starts
  var base = []; // what was selected when the anchor was set (a range adds to it)
  var busy = false;

  /** One decision or undo at a time; aria-busy tells assistive technology (and tests). */
  function setBusy(on) {
    busy = on;
    if (on) root.setAttribute("aria-busy", "true");
    else root.removeAttribute("aria-busy");
  }

  // --- helpers ----------------------------------------------------------------------

  var apiRequest = window.anomalyApi.request;

  function announce(message, isError) {
    statusRegion.textContent = message;
    statusRegion.classList.toggle("status-error", !!isError);
    statusRegion.classList.toggle("status-ok", !isError);
  }

  function plural(count, one, many) {
    return count + " " + (count === 1 ? one : many);
  }

  function cells() {
    return Array.prototype.slice.call(grid.querySelectorAll(".grid-cell"));
  }

  function selectedCells() {
    return cells().filter(isSelected);
  }

  function isSelected(cell) {
    return cell.getAttribute("aria-selected") === "true";
  }

  function cursor() {
    return grid.querySelector('.grid-cell[tabindex="0"]') || cells()[0] || null;
  }

  function fmt(value) {
    var number = parseFloat(value);
    return isNaN(number) ? "—" : number.toFixed(4);
  }

  /** The name in two parts, so that a long one is cut before its extension. */
  function fillCaption(cell, filename, shortName) {
    var name = cell.querySelector(".grid-name");
    var shown = shortName || filename;
    var dot = shown.lastIndexOf(".");
    var tail = dot > 0 && shown.length - dot <= 6 ? shown.slice(dot) : "";
    var framesAt = shown.indexOf(" · ");
    if (framesAt > 0) tail = shown.slice(framesAt);
    name.textContent = "";
    var stem = document.createElement("span");
    stem.className = "grid-stem";
    stem.textContent = tail ? shown.slice(0, shown.length - tail.length) : shown;
    name.appendChild(stem);
    if (tail) {
      var end = document.createElement("span");
      end.className = "grid-ext";
      end.textContent = tail;
      name.appendChild(end);
    }
    name.title = filename;
  }

  function cellFromFlag(flag) {
    var cell = template.content.firstElementChild.cloneNode(true);
    var segment = flag.kind === "segment";
    cell.id = "grid-flag-" + flag.id;
    cell.dataset.flagId = String(flag.id);
    cell.dataset.score = String(flag.score);
    cell.dataset.filename = flag.filename;
    cell.setAttribute(
      "aria-label",
      flag.filename + ", score " + fmt(flag.score) + (flag.disputed ? ", disputed" : "")
    );
    cell.querySelector("img").src = flag.thumbnail_url;
    cell.querySelector(".grid-score").textContent = fmt(flag.score);
    var tags = [];
    if (segment) tags.push("video · frame " + flag.peak_frame);
    if (flag.disputed) tags.push("disputed"); // reviewers disagree: settle it
    if (tags.length) {
      var kind = cell.querySelector(".grid-kind");
      kind.hidden = false;
      kind.textContent = tags.join(" · ");
    }
    var short = segment
      ? flag.filename.replace(/ frames (\d+)-(\d+)$/, " · $1–$2")
      : flag.filename;
    fillCaption(cell, flag.filename, short);
    return cell;
  }

  // --- selection and focus ----------------------------------------------------------

  function setSelected(cell, on) {
    cell.setAttribute("aria-selected", on ? "true" : "false");
    cell.classList.toggle("selected", on);
  }

  function refreshCounts() {
    var count = selectedCells().length;
    selectionCount.textContent = count + " selected";
    var all = cells().length;
    showing.textContent = all + " shown";
    if (emptyNote) emptyNote.hidden = all > 0;
    ["grid-confirm", "grid-reject"].forEach(function (id) {
      var button = document.getElementById(id);
      if (button) button.disabled = !all;
    });
  }

  function setCursor(cell, focus) {
    cells().forEach(function (other) {
      other.tabIndex = other === cell ? 0 : -1;
    });
    if (!cell) return;
    if (focus) cell.focus({ preventScroll: true });
    cell.scrollIntoView({ block: "nearest" });
  }

  function setAnchor(cell) {
    anchor = cell;
    base = selectedCells().filter(function (other) {
      return other !== cell;
    });
  }

  function selectRange(from, to) {
    var all = cells();
    var a = all.indexOf(from);
    var b = all.indexOf(to);
    if (a < 0) a = b;
    var low = Math.min(a, b);
    var high = Math.max(a, b);
    all.forEach(function (cell, index) {
      setSelected(cell, (index >= low && index <= high) || base.indexOf(cell) >= 0);
    });
  }

  function selectAll(on) {
    cells().forEach(function (cell) {
      setSelected(cell, on);
    });
    anchor = null;
    base = [];
    refreshCounts();
  }

  /** Cells per row, from the layout (the grid reflows with the window). */
  function columns() {
    var all = cells();
    if (!all.length) return 1;
    var top = all[0].offsetTop;
    var count = 0;
    while (count < all.length && all[count].offsetTop === top) count++;
    return Math.max(1, count);
  }

  function move(step, extend) {
    var all = cells();
    if (!all.length) return;
    var current = cursor();
    var index = Math.max(0, all.indexOf(current));
    var next = all[Math.min(all.length - 1, Math.max(0, index + step))];
    if (extend) {
      if (!anchor || all.indexOf(anchor) < 0) {
        setAnchor(current);
      }
      selectRange(anchor, next);
    } else {
      anchor = null;
    }
    setCursor(next, true);
    refreshCounts();
  }

  // --- decisions ------------------------------------------------------------------

  /** What a decision applies to: the selection, or else the focused photo. */
  function targets() {
    var chosen = selectedCells();
    if (chosen.length) return chosen;
    var current = cursor();
    return current && document.activeElement === current ? [current] : [];
  }

  function problems(results, done) {
    var left = results.filter(function (result) {
      return result.outcome !== done;
    });
    if (!left.length) return "";
    var byWhy = {};
    left.forEach(function (result) {
      byWhy[result.outcome] = (byWhy[result.outcome] || 0) + 1;
    });
    return (
      " Left alone: " +
      Object.keys(byWhy)
        .map(function (why) {
          return byWhy[why] + " " + (WHY[why] || why);
        })
        .join(", ") +
      "."
    );
  }

  function decide(decision) {
    if (!canReview || busy) return;
    var chosen = targets();
    if (!chosen.length) {
      announce("Nothing is selected: select photos first (Space, Shift+arrows, a).", true);
      return;
    }
    var ids = chosen.map(function (cell) {
      return parseInt(cell.dataset.flagId, 10);
    });
    var firstIndex = cells().indexOf(chosen[0]);
    var focusInGrid = grid.contains(document.activeElement);
    var single = chosen.length === 1 ? chosen[0].dataset.filename : null;
    setBusy(true);
    apiRequest("POST", root.dataset.reviewUrl, {
      ids: ids,
      decision: decision,
      note: noteField ? noteField.value : "",
    })
      .then(function (result) {
        var reviewed = result.results
          .filter(function (r) {
            return r.outcome === "reviewed";
          })
          .map(function (r) {
            return r.id;
          });
        if (reviewed.length) undoStack.push({ ids: reviewed, decision: decision });
        if (noteField) noteField.value = "";
        // every id answered is no longer pending here: decided now, or before
        chosen.forEach(function (cell) {
          cell.remove();
        });
        var message =
          (single && reviewed.length === 1
            ? single + " " + DONE_ONE[decision]
            : plural(reviewed.length, "flag", "flags") + " " + DONE[decision]) +
          "." + (reviewed.length ? " Press u to undo." : "") +
          problems(result.results, "reviewed");
        return refill().then(function () {
          announce(message, reviewed.length < ids.length);
          var all = cells();
          var next = all[Math.min(firstIndex, all.length - 1)] || null;
          anchor = null;
          base = [];
          // the focus follows into the grid, unless it is on a button the reviewer used
          var lost = !document.activeElement || document.activeElement === document.body;
          setCursor(next, focusInGrid || lost);
        });
      })
      .catch(function (error) {
        announce("Could not save the decision: " + error.message, true);
      })
      .then(function () {
        setBusy(false);
        refreshCounts();
      });
  }

  function undo() {
    if (!canReview || busy) return;
    var entry = undoStack[undoStack.length - 1];
    if (!entry) {
      announce("There is no decision to undo.", true);
      return;
    }
    setBusy(true);
    apiRequest("POST", root.dataset.undoUrl, { ids: entry.ids })
      .then(function (result) {
        undoStack.pop();
        var undone = result.results
          .filter(function (r) {
            return r.outcome === "undone";
          })
          .map(function (r) {
            return String(r.id);
          });
        return refill().then(function () {
          var back = cells().filter(function (cell) {
            return undone.indexOf(cell.dataset.flagId) >= 0;
          });
          cells().forEach(function (cell) {
            setSelected(cell, back.indexOf(cell) >= 0);
          });
          anchor = null;
          base = [];
          if (back.length) setCursor(back[0], true);
          announce(
            "Undone: " + plural(undone.length, "flag is", "flags are") + " pending again" +
              (back.length ? " and selected." : ".") + problems(result.results, "undone"),
            undone.length < entry.ids.length
          );
        });
      })
      .catch(function (error) {
        announce("Could not undo: " + error.message, true);
      })
      .then(function () {
        setBusy(false);
        refreshCounts();
      });
  }

  /** Fetch the first page of pending flags again and make the grid show it, in order.
   *
   * Cells already shown are kept (with their selection and loaded image); the focus is
   * put back if moving a cell took it away. */
  function refill() {
    var url =
      root.dataset.flagsUrl + "?status=pending&page_size=" + encodeURIComponent(pageSize);
    return apiRequest("GET", url)
      .then(function (page) {
        var focused = document.activeElement;
        var byId = {};
        cells().forEach(function (cell) {
          byId[cell.dataset.flagId] = cell;
        });
        var wanted = (page.results || []).map(function (flag) {
          var cell = byId[String(flag.id)] || cellFromFlag(flag);
          delete byId[String(flag.id)];
          return cell;
        });
        Object.keys(byId).forEach(function (id) {
          byId[id].remove();
        });
        wanted.forEach(function (cell, index) {
          if (grid.children[index] !== cell) grid.insertBefore(cell, grid.children[index] || null);
        });
        if (focused && grid.contains(focused) && document.activeElement !== focused) {
          focused.focus({ preventScroll: true });
        }
        if (pendingCount) pendingCount.textContent = String(page.count || 0);
      })
      .catch(function (error) {
        announce("Could not load the next flags: " + error.message, true);
      });
  }

  function open(cell) {
    if (!cell) return;
    window.location.href = root.dataset.queueUrl + "?flag=" + encodeURIComponent(cell.dataset.flagId);
  }

  // --- events -----------------------------------------------------------------------

  grid.addEventListener("mousedown", function (event) {
    if (event.shiftKey) event.preventDefault(); // no text selection on Shift+click
  });

  grid.addEventListener("click", function (event) {
    var cell = event.target.closest(".grid-cell");
    if (!cell) return;
    if (event.shiftKey && anchor && cells().indexOf(anchor) >= 0) {
      selectRange(anchor, cell);
    } else if (event.ctrlKey || event.metaKey) {
      setSelected(cell, !isSelected(cell));
      setAnchor(cell);
    } else {
      cells().forEach(function (other) {
        setSelected(other, other === cell);
      });
      setAnchor(cell);
    }
    setCursor(cell, true);
    refreshCounts();
  });

  grid.addEventListener("dblclick", function (event) {
    open(event.target.closest(".grid-cell"));
  });

  grid.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var handled = true;
    switch (event.key) {
      case "ArrowRight":
        move(1, event.shiftKey);
        break;
      case "ArrowLeft":
        move(-1, event.shiftKey);
        break;
      case "ArrowDown":
        move(columns(), event.shiftKey);
        break;
      case "ArrowUp":
        move(-columns(), event.shiftKey);
        break;
      case "Home":
        move(-cells().length, event.shiftKey);
        break;
      case "End":
        move(cells().length, event.shiftKey);
        break;
      case " ":
        var current = cursor();
        if (current) {
          setSelected(current, !isSelected(current));
          setAnchor(current);
          refreshCounts();
        }
        break;
      case "Enter":
      case "o":
        open(cursor());
        break;
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing =
      target &&
      (target.isContentEditable ||
        /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
        (target.tagName === "INPUT" && !/^(checkbox|range|radio|button)$/.test(target.type)));
    var nowhere = !target || target === document.body || target.id === "main";
    if (nowhere && /^(Arrow(Up|Down|Left|Right)|Home|End| )$/.test(event.key) && cursor()) {
      // the first arrow press brings the focus to the grid, on the photo that has it
      event.preventDefault();
      setCursor(cursor(), true);
      return;
    }
    if (typing) {
      if (event.key === "Escape" && target === noteField) {
        noteField.blur();
        setCursor(cursor(), true);
      }
      if (event.key === "Enter" && target === noteField) {
        event.preventDefault();
        setCursor(cursor(), true);
      }
      return;
    }
    var handled = true;
    switch (event.key) {
      case "c":
        decide("confirm");
        break;
      case "r":
        decide("reject");
        break;
      case "u":
        undo();
        break;
      case "a":
        selectAll(true);
        announce(plural(cells().length, "photo", "photos") + " selected.");
        break;
      case "Escape":
        selectAll(false);
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

  ["grid-confirm", "grid-reject"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", function () {
        decide(button.dataset.decision);
      });
    }
  });
  var undoButton = document.getElementById("grid-undo");
  if (undoButton) undoButton.addEventListener("click", undo);
  var allButton = document.getElementById("grid-select-all");
  if (allButton) {
    allButton.addEventListener("click", function () {
      selectAll(true);
    });
  }
  var noneButton = document.getElementById("grid-select-none");
  if (noneButton) {
    noneButton.addEventListener("click", function () {
      selectAll(false);
    });
  }

  // Start: names cut before their extension, the first photo is the tab stop.
  cells().forEach(function (cell) {
    var name = cell.querySelector(".grid-name");
    fillCaption(cell, cell.dataset.filename, name.textContent.trim());
  });
  setCursor(cursor(), false);
  refreshCounts();
})();
