/* Box labelling: draw, move, resize, delete and name boxes on one image; saved by the API.
 *
 * The SVG over the image has viewBox = the image's pixel size, so every coordinate here is
 * an image pixel, whatever the zoom. Each change is pushed on an undo stack and saved
 * (PUT of the whole list, debounced). A refused save keeps every box as drawn and marks
 * the ones the server named, so nothing is lost.
 */
(function () {
  "use strict";

  var root = document.getElementById("labeller");
  if (!root) return;

  var setup = JSON.parse(document.getElementById("label-setup").textContent);
  var W = setup.width;
  var H = setup.height;
  var canLabel = root.dataset.canLabel === "true";
  var classes = setup.classes; // [{id, name, colour}]
  var colours = {};
  classes.forEach(function (c) {
    colours[c.name] = c.colour;
  });

  var svg = document.getElementById("label-svg");
  var canvas = document.getElementById("label-canvas");
  var stage = document.getElementById("label-stage");
  var image = document.getElementById("label-image");
  var list = document.getElementById("box-list");
  var statusRegion = document.getElementById("label-status");
  var SVG_NS = "http://www.w3.org/2000/svg";
  var MIN_SIZE = 2; // image pixels: smaller drags are clicks

  var boxes = setup.boxes.map(function (b) {
    return { label: b.label, x: b.x, y: b.y, w: b.w, h: b.h };
  });
  var selectedIndex = -1;
  var currentClass = classes.length ? classes[0].name : null;
  var undoStack = [];
  var invalid = {}; // index -> message from the last refused save
  var zoom = 1;
  var drag = null; // {mode: draw|move|resize, ...}

  var saveTimer = null;
  var saving = null; // promise of the save in flight
  var dirty = false;

  // --- helpers ----------------------------------------------------------------------

  function announce(message, isError) {
    statusRegion.textContent = message;
    statusRegion.classList.toggle("status-error", !!isError);
    statusRegion.classList.toggle("status-ok", !isError);
  }

  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  function round(value) {
    return Math.round(value * 100) / 100;
  }

  function copy(list) {
    return list.map(function (b) {
      return { label: b.label, x: b.x, y: b.y, w: b.w, h: b.h };
    });
  }

  function pointFromEvent(event) {
    var matrix = svg.getScreenCTM();
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var p = point.matrixTransform(matrix.inverse());
    return { x: clamp(p.x, 0, W), y: clamp(p.y, 0, H) };
  }

  /** Display pixels per image pixel. */
  function scale() {
    var width = svg.getBoundingClientRect().width;
    return width > 0 ? width / W : 1;
  }

  // --- rendering --------------------------------------------------------------------

  function el(name, attrs) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    return node;
  }

  function render() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var s = scale();
    var stroke = 2 / s;
    var handle = 5 / s;
    var font = 12 / s;
    boxes.forEach(function (box, index) {
      var colour = colours[box.label] || "#ff00ff";
      var rect = el("rect", {
        x: box.x,
        y: box.y,
        width: box.w,
        height: box.h,
        stroke: colour,
        "stroke-width": index === selectedIndex ? stroke * 1.6 : stroke,
        class: "box" + (index === selectedIndex ? " selected" : "") + (invalid[index] ? " invalid" : ""),
        "data-index": index,
      });
      svg.appendChild(rect);
      var text = el("text", {
        x: box.x + stroke,
        y: Math.max(box.y - stroke * 2, font),
        "font-size": font,
        "stroke-width": stroke * 1.5,
      });
      text.textContent = (index + 1) + " " + box.label;
      svg.appendChild(text);
    });
    if (selectedIndex >= 0 && canLabel) {
      var b = boxes[selectedIndex];
      [
        ["nw", b.x, b.y],
        ["ne", b.x + b.w, b.y],
        ["sw", b.x, b.y + b.h],
        ["se", b.x + b.w, b.y + b.h],
      ].forEach(function (corner) {
        svg.appendChild(
          el("rect", {
            x: corner[1] - handle,
            y: corner[2] - handle,
            width: 2 * handle,
            height: 2 * handle,
            "stroke-width": stroke / 2,
            class: "handle " + corner[0],
            "data-corner": corner[0],
          })
        );
      });
    }
    renderList();
  }

  function renderList() {
    list.textContent = "";
    boxes.forEach(function (box, index) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className =
        "box-row" + (index === selectedIndex ? " selected" : "") + (invalid[index] ? " invalid" : "");
      button.dataset.index = String(index);
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colours[box.label] || "#ff00ff";
      button.appendChild(swatch);
      var text = document.createElement("span");
      text.textContent =
        (index + 1) + ". " + box.label + " · " + Math.round(box.x) + ", " + Math.round(box.y) +
        " · " + Math.round(box.w) + "×" + Math.round(box.h);
      button.appendChild(text);
      if (invalid[index]) {
        var error = document.createElement("span");
        error.className = "box-error";
        error.textContent = invalid[index];
        button.appendChild(error);
      }
      li.appendChild(button);
      list.appendChild(li);
    });
    document.getElementById("box-count").textContent = String(boxes.length);
    document.getElementById("box-empty").hidden = boxes.length > 0;
  }

  function setZoom(value, anchor) {
    var before = zoom;
    zoom = clamp(value, 0.1, 40);
    var rect = stage.getBoundingClientRect();
    var ax = anchor ? anchor.clientX - rect.left : stage.clientWidth / 2;
    var ay = anchor ? anchor.clientY - rect.top : stage.clientHeight / 2;
    var imageX = (stage.scrollLeft + ax) / before;
    var imageY = (stage.scrollTop + ay) / before;
    canvas.style.width = W * zoom + "px";
    canvas.style.height = H * zoom + "px";
    canvas.classList.toggle("pixelated", zoom >= 3);
    stage.scrollLeft = imageX * zoom - ax;
    stage.scrollTop = imageY * zoom - ay;
    document.getElementById("zoom-level").textContent = Math.round(zoom * 100) + " %";
    render();
  }

  function fitZoom() {
    var width = stage.clientWidth || 800;
    var height = Math.max(200, window.innerHeight * 0.72);
    setZoom(Math.min(width / W, height / H));
  }

  // --- state changes ----------------------------------------------------------------

  function remember() {
    undoStack.push({ boxes: copy(boxes), selected: selectedIndex });
    if (undoStack.length > 200) undoStack.shift();
  }

  function setState(state) {
    root.dataset.state = state; // dirty | saving | saved | error (tests wait on it)
  }

  function changed() {
    dirty = true;
    setState("dirty");
    invalid = {};
    render();
    scheduleSave();
  }

  function select(index) {
    selectedIndex = index;
    render();
  }

  function chooseClass(name) {
    currentClass = name;
    Array.prototype.forEach.call(document.querySelectorAll(".class-choice"), function (button) {
      var active = button.dataset.class === name;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    });
    if (selectedIndex >= 0 && canLabel && boxes[selectedIndex].label !== name) {
      remember();
      boxes[selectedIndex].label = name;
      changed();
    }
  }

  function deleteSelected() {
    if (selectedIndex < 0) return false;
    remember();
    var gone = boxes.splice(selectedIndex, 1)[0];
    selectedIndex = Math.min(selectedIndex, boxes.length - 1);
    changed();
    announce("Deleted a " + gone.label + " box.");
    return true;
  }

  function undo() {
    var last = undoStack.pop();
    if (!last) {
      announce("Nothing to undo.", true);
      return;
    }
    boxes = last.boxes;
    selectedIndex = Math.min(last.selected, boxes.length - 1);
    changed();
    announce("Undone.");
  }

  function nudge(dx, dy) {
    if (selectedIndex < 0) return false;
    var box = boxes[selectedIndex];
    remember();
    box.x = clamp(box.x + dx, 0, W - box.w);
    box.y = clamp(box.y + dy, 0, H - box.h);
    changed();
    return true;
  }

  // --- saving -----------------------------------------------------------------------

  function scheduleSave() {
    if (!canLabel) return;
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 300);
  }

  function save() {
    saveTimer = null;
    if (saving) {
      // one request at a time; the latest state is sent once this one answers
      return saving.then(save);
    }
    var sent = copy(boxes).map(function (b) {
      return { label: b.label, x: round(b.x), y: round(b.y), w: round(b.w), h: round(b.h) };
    });
    dirty = false;
    setState("saving");
    announce("Saving…");
    saving = window.anomalyApi
      .request("PUT", root.dataset.boxesUrl, sent)
      .then(function (data) {
        if (!dirty) {
          setState("saved");
          announce("Saved: " + data.length + " box" + (data.length === 1 ? "" : "es") + ".");
        }
      })
      .catch(function (error) {
        dirty = true;
        setState("error");
        invalid = {};
        var refused = (error.data && error.data.errors && error.data.errors.boxes) || {};
        if (typeof refused === "object") {
          Object.keys(refused).forEach(function (key) {
            invalid[parseInt(key, 10)] = refused[key];
          });
        }
        render();
        announce("Not saved (your boxes are still here): " + error.message, true);
      })
      .then(function () {
        saving = null;
      });
    return saving;
  }

  function flush() {
    if (saveTimer) {
      clearTimeout(saveTimer);
      return save();
    }
    return saving || Promise.resolve();
  }

  function go(url) {
    if (!url) {
      announce("No such image.", true);
      return;
    }
    flush().then(function () {
      if (dirty) return; // the save was refused: stay, the message says why
      window.location.href = url;
    });
  }

  window.addEventListener("beforeunload", function (event) {
    if (dirty || saveTimer) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- mouse ------------------------------------------------------------------------

  svg.addEventListener("mousedown", function (event) {
    if (event.button !== 0) return;
    event.preventDefault();
    svg.focus({ preventScroll: true });
    var point = pointFromEvent(event);
    var target = event.target;
    if (!canLabel) {
      if (target.dataset && target.dataset.index !== undefined) select(parseInt(target.dataset.index, 10));
      return;
    }
    if (target.dataset && target.dataset.corner && !event.shiftKey) {
      var box = boxes[selectedIndex];
      drag = {
        mode: "resize",
        corner: target.dataset.corner,
        before: copy(boxes),
        selected: selectedIndex,
        // the corner that stays put
        fixedX: target.dataset.corner.indexOf("w") >= 0 ? box.x + box.w : box.x,
        fixedY: target.dataset.corner.indexOf("n") >= 0 ? box.y + box.h : box.y,
      };
    } else if (target.dataset && target.dataset.index !== undefined && !event.shiftKey) {
      var index = parseInt(target.dataset.index, 10);
      selectedIndex = index;
      drag = {
        mode: "move",
        before: copy(boxes),
        selected: index,
        start: point,
        origin: { x: boxes[index].x, y: boxes[index].y },
        moved: false,
      };
      render();
    } else {
      if (!currentClass) {
        announce("Add a class to this site first: boxes need a class.", true);
        return;
      }
      drag = { mode: "draw", before: copy(boxes), selected: selectedIndex, start: point };
      boxes.push({ label: currentClass, x: point.x, y: point.y, w: 0, h: 0 });
      selectedIndex = boxes.length - 1;
      render();
    }
  });

  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    var point = pointFromEvent(event);
    var box = boxes[selectedIndex];
    if (drag.mode === "draw") {
      box.x = Math.min(drag.start.x, point.x);
      box.y = Math.min(drag.start.y, point.y);
      box.w = Math.abs(point.x - drag.start.x);
      box.h = Math.abs(point.y - drag.start.y);
    } else if (drag.mode === "move") {
      box.x = clamp(drag.origin.x + point.x - drag.start.x, 0, W - box.w);
      box.y = clamp(drag.origin.y + point.y - drag.start.y, 0, H - box.h);
      drag.moved = drag.moved || point.x !== drag.start.x || point.y !== drag.start.y;
    } else if (drag.mode === "resize") {
      box.x = Math.min(drag.fixedX, point.x);
      box.y = Math.min(drag.fixedY, point.y);
      box.w = Math.abs(point.x - drag.fixedX);
      box.h = Math.abs(point.y - drag.fixedY);
    }
    render();
  });

  window.addEventListener("mouseup", function () {
    if (!drag) return;
    var done = drag;
    drag = null;
    var box = boxes[selectedIndex];
    if (done.mode === "draw" && (box.w < MIN_SIZE || box.h < MIN_SIZE)) {
      boxes.pop(); // a click on the image: deselect
      selectedIndex = -1;
      render();
      return;
    }
    if (done.mode === "resize" && (box.w < MIN_SIZE || box.h < MIN_SIZE)) {
      boxes = done.before; // too small to keep: back to how it was
      render();
      return;
    }
    if (done.mode === "move" && !done.moved) return;
    undoStack.push({ boxes: done.before, selected: done.selected });
    changed();
    if (done.mode === "draw") announce("Drew a " + box.label + " box.");
  });

  svg.addEventListener(
    "wheel",
    function (event) {
      event.preventDefault();
      setZoom(zoom * (event.deltaY < 0 ? 1.2 : 1 / 1.2), event);
    },
    { passive: false }
  );

  list.addEventListener("click", function (event) {
    var row = event.target.closest(".box-row");
    if (row) select(parseInt(row.dataset.index, 10));
  });

  var picker = document.getElementById("class-picker");
  if (picker) {
    picker.addEventListener("click", function (event) {
      var button = event.target.closest(".class-choice");
      if (button) chooseClass(button.dataset.class);
    });
  }
  document.getElementById("zoom-in").addEventListener("click", function () {
    setZoom(zoom * 1.25);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    setZoom(zoom / 1.25);
  });
  document.getElementById("zoom-fit").addEventListener("click", fitZoom);

  // --- keyboard ---------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var key = event.key;
    var handled = true;
    if ((event.ctrlKey || event.metaKey) && (key === "z" || key === "Z")) {
      if (canLabel) undo();
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    } else if (/^[1-9]$/.test(key)) {
      var chosen = classes[parseInt(key, 10) - 1];
      if (chosen) chooseClass(chosen.name);
      else handled = false;
    } else if (key === "Delete" || key === "Backspace") {
      handled = canLabel && deleteSelected();
    } else if (key === "u") {
      if (canLabel) undo();
    } else if (key === "Escape") {
      select(-1);
    } else if (key === "[" || key === "]") {
      if (!boxes.length) return;
      var step = key === "]" ? 1 : -1;
      select((selectedIndex + step + boxes.length) % boxes.length);
    } else if (key.indexOf("Arrow") === 0) {
      var amount = event.shiftKey ? 10 : 1;
      var d = { ArrowLeft: [-amount, 0], ArrowRight: [amount, 0], ArrowUp: [0, -amount], ArrowDown: [0, amount] }[key];
      handled = canLabel && nudge(d[0], d[1]);
    } else if (key === "+" || key === "=") {
      setZoom(zoom * 1.25);
    } else if (key === "-" || key === "_") {
      setZoom(zoom / 1.25);
    } else if (key === "0") {
      fitZoom();
    } else if (key === "n") {
      go(root.dataset.nextUnlabelled);
    } else if (key === "p") {
      go(root.dataset.previousUnlabelled);
    } else if (key === ".") {
      go(root.dataset.nextAsset);
    } else if (key === ",") {
      go(root.dataset.previousAsset);
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  // Links to other images save first too.
  ["next-unlabelled", "previous-unlabelled", "next-asset", "previous-asset"].forEach(function (id) {
    var link = document.getElementById(id);
    if (!link) return;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      go(link.getAttribute("href"));
    });
  });

  // Start.
  if (image.complete) fitZoom();
  else image.addEventListener("load", fitZoom);
  fitZoom();
  window.addEventListener("resize", render);
  if (!classes.length && canLabel) announce("This site has no classes yet: add some first.", true);
})();
