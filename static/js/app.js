/* Small enhancements shared by every page (no framework, nothing required to use a page). */
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
    if (fill && params) {
      fill.hidden = false;
      fill.addEventListener("click", function () {
        var kind = kinds[kindSelect.value];
        if (kind) params.value = JSON.stringify(kind.defaults, null, 2);
        params.focus();
      });
    }
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
