/* Review queue, object kinds: draw the selected flag's boxes over the image (class,
 * openness, reason), list the site rules it breaks, and let a reviewer name an unknown
 * object (POST /api/flags/{id}/name-object/), which adds a labelled box to the image.
 *
 * review.js announces each flag it shows with a "review:flag-shown" event; the flag's boxes
 * come from the API (cached per flag). Keys: b boxes on/off, l name the first unknown one.
 */
(function () {
  "use strict";

  var panel = document.getElementById("viewer-objects");
  var overlay = document.getElementById("viewer-boxes");
  if (!panel || !overlay) return;

  var root = document.getElementById("review");
  var reasonsList = document.getElementById("viewer-reasons");
  var boxList = document.getElementById("viewer-box-list");
  var classNames = document.getElementById("object-class-names");
  var statusRegion = document.getElementById("review-status");
  var canReview = panel.dataset.canReview === "true";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var UNKNOWN = "#ff2d55";

  var cache = {}; // flag id -> flag (from the API)
  var colours = {};
  var shownId = null;
  var boxesOn = true;

  function announce(message, isError) {
    statusRegion.textContent = message;
    statusRegion.classList.toggle("status-error", !!isError);
    statusRegion.classList.toggle("status-ok", !isError);
  }

  var request = window.anomalyApi.request;

  function loadClasses() {
    return request("GET", panel.dataset.classesUrl)
      .then(function (classes) {
        classNames.textContent = "";
        classes.forEach(function (c) {
          colours[c.name] = c.colour;
          var option = document.createElement("option");
          option.value = c.name;
          classNames.appendChild(option);
        });
      })
      .catch(function () {});
  }

  /** SVG elements have no ``hidden`` property (it is HTMLElement's): set the attribute. */
  function setHidden(node, hidden) {
    if (hidden) node.setAttribute("hidden", "");
    else node.removeAttribute("hidden");
  }

  function colourOf(box) {
    if (box.unknown) return UNKNOWN;
    return colours[box.label] || "#34c759";
  }

  function el(name, attrs) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    return node;
  }

  function caption(box) {
    var name = box.named_as ? box.named_as + " (named)" : box.label;
    return name + " " + box.openness.toFixed(2);
  }

  function draw(flag) {
    while (overlay.firstChild) overlay.removeChild(overlay.firstChild);
    var boxes = flag.boxes || [];
    overlay.setAttribute("viewBox", "0 0 " + flag.width + " " + flag.height);
    var unit = Math.max(flag.width, flag.height) / 400; // about one screen pixel at 400 px
    boxes.forEach(function (box, index) {
      var colour = colourOf(box);
      var rect = el("rect", {
        x: box.x,
        y: box.y,
        width: box.w,
        height: box.h,
        stroke: colour,
        "stroke-width": 2 * unit,
        "data-index": index,
        class: box.unknown ? "unknown" : "known",
      });
      var title = el("title", {});
      title.textContent = caption(box) + (box.reason ? ": " + box.reason : "");
      rect.appendChild(title);
      overlay.appendChild(rect);
      var text = el("text", {
        x: box.x + unit,
        y: Math.max(box.y - 2 * unit, 11 * unit),
        "font-size": 11 * unit,
        "stroke-width": 2.5 * unit,
      });
      text.textContent = index + 1 + " " + caption(box);
      overlay.appendChild(text);
    });
    setHidden(overlay, !boxesOn || !boxes.length);
  }

  function list(flag) {
    reasonsList.textContent = "";
    (flag.reasons || []).forEach(function (reason) {
      var li = document.createElement("li");
      li.textContent = reason;
      reasonsList.appendChild(li);
    });
    boxList.textContent = "";
    (flag.boxes || []).forEach(function (box, index) {
      var li = document.createElement("li");
      li.dataset.index = String(index);
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colourOf(box);
      li.appendChild(swatch);
      var name = document.createElement("span");
      name.className = box.unknown ? "unknown" : "";
      name.textContent = index + 1 + ". " + box.label;
      li.appendChild(name);
      var facts = document.createElement("span");
      facts.className = "small muted mono";
      facts.textContent =
        "openness " + box.openness.toFixed(3) + " · " + Math.round(box.confidence * 100) + " % " +
        box.nearest_class;
      li.appendChild(facts);
      if (box.reason) {
        var reason = document.createElement("span");
        reason.className = "small";
        reason.textContent = box.reason;
        li.appendChild(reason);
      }
      if (box.named_as) {
        var named = document.createElement("span");
        named.className = "badge badge-rejected";
        named.textContent = "named " + box.named_as;
        li.appendChild(named);
      } else if (box.unknown && canReview) {
        li.appendChild(nameForm(flag, index));
      }
      boxList.appendChild(li);
    });
  }

  function nameForm(flag, index) {
    var form = document.createElement("form");
    form.className = "name-object";
    var input = document.createElement("input");
    input.type = "text";
    input.name = "label";
    input.required = true;
    input.maxLength = 100;
    input.setAttribute("list", "object-class-names");
    input.setAttribute("aria-label", "Class of object " + (index + 1));
    input.placeholder = "class name";
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "button small";
    button.textContent = "Name it";
    form.appendChild(input);
    form.appendChild(button);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var label = input.value.trim();
      if (!label) return;
      button.disabled = true;
      request("POST", panel.dataset.nameUrl.replace("/0/", "/" + flag.id + "/"), {
        box: index,
        label: label,
      })
        .then(function (updated) {
          cache[updated.id] = updated;
          if (!(label in colours)) loadClasses().then(function () { show(updated); });
          show(updated);
          announce(
            "Object " + (index + 1) + " of " + updated.filename + " is now a labelled " +
              updated.boxes[index].named_as + " box."
          );
        })
        .catch(function (error) {
          button.disabled = false;
          announce("Could not name object " + (index + 1) + ": " + error.message, true);
          input.focus();
        });
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        input.blur();
        event.stopPropagation();
      }
    });
    return form;
  }

  function show(flag) {
    if (String(flag.id) !== String(shownId)) return; // another flag was selected meanwhile
    var hasObjects = (flag.boxes && flag.boxes.length) || (flag.reasons && flag.reasons.length);
    panel.hidden = !hasObjects;
    draw(flag);
    list(flag);
  }

  document.addEventListener("review:flag-shown", function (event) {
    var id = event.detail.flagId;
    shownId = id;
    if (cache[id]) {
      show(cache[id]);
      return;
    }
    panel.hidden = true;
    setHidden(overlay, true);
    request("GET", root.dataset.flagUrl.replace("/0/", "/" + id + "/"))
      .then(function (flag) {
        cache[flag.id] = flag;
        show(flag);
      })
      .catch(function () {});
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    if (event.key === "b") {
      boxesOn = !boxesOn;
      if (shownId && cache[shownId]) draw(cache[shownId]);
      event.preventDefault();
    } else if (event.key === "l" && canReview && !panel.hidden) {
      var first = boxList.querySelector(".name-object input");
      if (first) {
        first.focus();
        event.preventDefault();
      }
    }
  });

  loadClasses();
})();
