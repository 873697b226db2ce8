/* Small enhancements shared by every page (no framework, nothing required to use a page). */

/* JSON requests to the REST API with the session's CSRF token, for the page scripts
 * (loaded after this file): a refused request rejects with the API's ``detail`` message,
 * the HTTP ``status`` and the answer's JSON (``data``) on the error. */
window.anomalyApi = (function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error(data.detail || "The server answered " + response.status + ".");
            error.status = response.status;
            error.data = data;
            throw error;
          }
          return data;
        });
    });
  }

  return { request: request };
})();
(function () {
  "use strict";

  // Train form: describe the chosen detector kind and offer its default parameters.
  var kindsData = document.getElementById("detector-kinds");
  var kindSelect = document.getElementById("id_kind");
  if (kindsData && kindSelect) {
    var kinds = {};
    JSON.parse(kindsData.textContent).forEach(function (kind) {
      kinds[kind.kind] = kind;
    });
    var description = document.getElementById("kind-description");
    var fill = document.getElementById("fill-defaults");
    var params = document.getElementById("id_params");
    var describe = function () {
      var kind = kinds[kindSelect.value];
      if (description) {
        description.textContent = kind ? kind.summary || kind.description : "";
      }
    };
    kindSelect.addEventListener("change", describe);
    describe();
    var built = params && buildParamFields(kindSelect, kinds, params);
    if (fill && params && !built) {
      fill.hidden = false;
      fill.addEventListener("click", function () {
        var kind = kinds[kindSelect.value];
        if (kind) params.value = JSON.stringify(kind.defaults, null, 2);
        params.focus();
      });
    }
  }

  // Train form: one input per setting of the chosen method, from its JSON Schema. On submit
  // the settings that differ from the defaults go, as JSON, into the params textarea (which
  // stays the form field, and the way to set them without JavaScript).
  function buildParamFields(kindSelect, kinds, params) {
    var box = document.getElementById("kind-params");
    var holder = document.getElementById("kind-params-fields");
    var form = document.getElementById("train-form");
    var fallback = document.getElementById("params-fallback");
    if (!box || !holder || !form) return false;
    var inputs = [];

    var typeOf = function (field) {
      if (field.enum) return "enum";
      if (field.type === "boolean" || field.type === "integer" || field.type === "number") {
        return field.type;
      }
      if (field.type === "array") return "list";
      if (field.type === "string") return "string";
      if (field.type === "object") return "json";
      return "mixed"; // a union (anyOf): a number, a word, a list or nothing
    };
    var shown = function (value) {
      if (value === null || value === undefined) return "";
      if (Array.isArray(value)) return value.join(", ");
      if (typeof value === "object") return JSON.stringify(value);
      return String(value);
    };
    var word = function (text) {
      var number = Number(text);
      return text !== "" && !isNaN(number) ? number : text;
    };
    var read = function (item) {
      var input = item.input;
      var text = input.value.trim();
      switch (item.type) {
        case "boolean":
          return input.checked;
        case "enum":
          return item.field.enum[input.selectedIndex];
        case "integer":
        case "number":
          return text === "" ? item.field["default"] : word(text);
        case "list":
          return text === "" ? [] : text.split(",").map(function (part) {
            return word(part.trim());
          });
        case "json":
          try {
            return text === "" ? item.field["default"] : JSON.parse(text);
          } catch (e) {
            return text; // the server explains what is wrong
          }
        case "mixed":
          if (text === "") return null;
          return text.indexOf(",") >= 0 ? text.split(",").map(function (part) {
            return word(part.trim());
          }) : word(text);
        default:
          return input.value;
      }
    };
    var makeInput = function (item, value) {
      var field = item.field;
      var input;
      if (item.type === "enum") {
        input = document.createElement("select");
        field.enum.forEach(function (choice) {
          var option = document.createElement("option");
          option.value = String(choice);
          option.textContent = String(choice);
          option.selected = choice === value;
          input.appendChild(option);
        });
      } else {
        input = document.createElement("input");
        if (item.type === "boolean") {
          input.type = "checkbox";
          input.checked = value === true;
        } else if (item.type === "integer" || item.type === "number") {
          input.type = "number";
          var low = field.minimum !== undefined ? field.minimum : field.exclusiveMinimum;
          var high = field.maximum !== undefined ? field.maximum : field.exclusiveMaximum;
          if (low !== undefined) input.min = String(low);
          if (high !== undefined) input.max = String(high);
          input.step = field.multipleOf ? String(field.multipleOf)
            : item.type === "integer" ? "1" : "any";
          input.value = shown(value);
        } else {
          input.type = "text";
          input.spellcheck = false;
          input.value = shown(value);
        }
      }
      return input;
    };
    var defaultText = function (item) {
      var value = item.field["default"];
      if (item.type === "boolean") return value ? "on" : "off";
      var text = shown(value);
      return text === "" ? "none" : text;
    };

    var build = function (values) {
      var kind = kinds[kindSelect.value];
      var schema = kind && kind.schema;
      holder.replaceChildren();
      inputs = [];
      if (!schema || !schema.properties || !Object.keys(schema.properties).length) {
        box.hidden = true;
        return;
      }
      Object.keys(schema.properties).forEach(function (name) {
        var field = schema.properties[name];
        if (!("default" in field) && kind.defaults) field["default"] = kind.defaults[name];
        var item = { name: name, field: field, type: typeOf(field) };
        var value = values && name in values ? values[name] : field["default"];
        var input = makeInput(item, value);
        input.id = "param-" + name;
        input.name = ""; // not posted: the params textarea carries the values
        input.dataset.param = name;
        var wrap = document.createElement("div");
        wrap.className = "field";
        var label = document.createElement("label");
        label.htmlFor = input.id;
        label.textContent = name.replace(/_/g, " ");
        var help = document.createElement("p");
        help.className = "help";
        help.id = input.id + "-help";
        var takesList = item.type === "list" || (field.anyOf || []).some(function (option) {
          return option.type === "array";
        });
        var hint = takesList ? " Several values: separate them with commas." : "";
        help.textContent = (field.description || "") + hint + " Default: " + defaultText(item) + ".";
        input.setAttribute("aria-describedby", help.id);
        if (item.type === "boolean") {
          wrap.classList.add("field-checkbox");
          label.prepend(input, " ");
          wrap.append(label, help);
        } else {
          wrap.append(label, input, help);
        }
        holder.appendChild(wrap);
        item.input = input;
        inputs.push(item);
      });
      box.hidden = false;
    };

    var initial = null;
    try {
      initial = JSON.parse(params.value || "{}");
    } catch (e) {
      return false; // keep the hand-written JSON as it is, to be corrected there
    }
    if (!initial || typeof initial !== "object" || Array.isArray(initial)) return false;
    build(initial);
    if (box.hidden) return false;
    if (fallback) fallback.hidden = true;
    kindSelect.addEventListener("change", function () {
      build(null);
      if (fallback) fallback.hidden = !box.hidden;
    });
    form.addEventListener("submit", function () {
      if (box.hidden) return;
      var changed = {};
      inputs.forEach(function (item) {
        var value = read(item);
        if (JSON.stringify(value) !== JSON.stringify(item.field["default"])) {
          changed[item.name] = value;
        }
      });
      params.value = JSON.stringify(changed);
    });
    return true;
  }

  // Create a site: the address name follows the name until someone edits it by hand.
  var siteName = document.getElementById("id_name");
  var siteSlug = document.getElementById("id_slug");
  if (siteName && siteSlug && document.getElementById("create-site-form")) {
    var edited = siteSlug.value !== "";
    var slugify = function (text) {
      return text
        .normalize("NFKD")
        .replace(/[\u0300-\u036f]/g, "")
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 64);
    };
    siteSlug.addEventListener("input", function () {
      edited = siteSlug.value !== "";
    });
    siteName.addEventListener("input", function () {
      if (!edited) siteSlug.value = slugify(siteName.value);
    });
  }

  // Threshold method: the fixed value only matters for "fixed", the rate only for "fpr".
  var method = document.getElementById("id_threshold_method");
  if (method) {
    var fpr = document.getElementById("id_target_fpr");
    var fixed = document.getElementById("id_fixed_threshold");
    var sync = function () {
      if (fpr) fpr.closest(".field").hidden = method.value !== "fpr";
      if (fixed) fixed.closest(".field").hidden = method.value !== "fixed";
    };
    method.addEventListener("change", sync);
    sync();
  }
})();
