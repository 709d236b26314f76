// envoi admin UI: small progressive enhancements. Every page works
// without this script; it only fills, shows and previews.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Ask before destructive actions.
  $all("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  // Authentication flow: show the OAuth part only for OAuth flows, and
  // fill the fields from a preset when it changes.
  var flow = $("#flow-form");
  if (flow) {
    var kind = $("#kind", flow);
    var showKind = function () {
      $all("[data-kind]", flow).forEach(function (el) {
        el.hidden = el.getAttribute("data-kind") !== kind.value;
      });
    };
    kind.addEventListener("change", showKind);
    showKind();

    // The transport shows its own fields: the SMTP server, or the API's
    // URL and what it keeps of sent mail.
    var transport = $("#transport", flow);
    var showTransport = function () {
      if (!transport) { return; }
      var t = transport.value;
      $all("[data-transport]", flow).forEach(function (el) {
        var want = el.getAttribute("data-transport");
        el.hidden = !(want === t || (want === "api" && t !== "smtp"));
      });
    };
    var prevTransport = transport ? transport.value : "smtp";

    var presets = {};
    try { presets = JSON.parse(flow.getAttribute("data-presets") || "{}"); } catch (e) { presets = {}; }
    var preset = $("#preset", flow);
    var fields = { scope: "scope", auth_url: "auth_url", token_url: "token_url", smtp_host: "smtp_host", smtp_port: "smtp_port", smtp_security: "smtp_security", rate_per_minute: "rate_per_minute", token_auth_method: "token_auth_method" };
    var previous = preset ? preset.value : "";
    if (preset) {
      preset.addEventListener("change", function () {
        var from = presets[previous] || {}, to = presets[preset.value] || {};
        Object.keys(fields).forEach(function (k) {
          var el = flow.elements[fields[k]];
          if (!el) { return; }
          var old = from[k] === undefined || from[k] === 0 ? "" : String(from[k]);
          // Replace what the previous preset filled; keep what was typed.
          if (el.value === "" || el.value === old || el.value === "0") {
            var v = to[k];
            el.value = v === undefined || v === 0 ? "" : String(v);
          }
        });
        previous = preset.value;
      });
    }
    if (transport) {
      // A scope the preset filled for the previous transport becomes the
      // one the new transport needs (Graph and Outlook scopes do not mix).
      transport.addEventListener("change", function () {
        var p = presets[preset ? preset.value : ""] || {}, scopes = p.scopes || {};
        var el = flow.elements.scope;
        if (el && (el.value === "" || el.value === (scopes[prevTransport] || "")) && scopes[transport.value]) {
          el.value = scopes[transport.value];
        }
        prevTransport = transport.value;
        showTransport();
      });
      showTransport();
    }
  }

  // Keywords: a click inserts [KEYWORD] where the cursor was, in the last
  // field that had the focus.
  var lastTarget = null;
  $all("[data-kw-target]").forEach(function (el) {
    el.addEventListener("focus", function () { lastTarget = el; });
  });
  $all("button.kw").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = lastTarget || $("[data-kw-target]");
      if (!el) { return; }
      var text = b.getAttribute("data-kw");
      var start = el.selectionStart, end = el.selectionEnd;
      if (typeof start !== "number") { start = end = el.value.length; }
      el.value = el.value.slice(0, start) + text + el.value.slice(end);
      el.focus();
      el.selectionStart = el.selectionEnd = start + text.length;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  // Mail setting: live preview with sample values, from the server.
  var mail = $("#mail-form");
  if (mail && window.fetch) {
    var timer = null, seq = 0;
    var refresh = function () {
      var n = ++seq;
      var body = new URLSearchParams(new FormData(mail));
      fetch(mail.getAttribute("data-preview"), {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRF-Token": mail.elements.csrf.value }
      }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        if (html !== null && n === seq) { $("#preview").innerHTML = html; }
      }).catch(function () {});
    };
    mail.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    });
    mail.addEventListener("change", refresh);
  }

  // Operator: the signature's preview follows the text, in a sandboxed
  // frame where no script runs.
  var sig = $("#signature_html"), frame = $("#signature-preview");
  if (sig && frame) {
    sig.addEventListener("input", function () { frame.srcdoc = sig.value; });
  }

  // A new API key: selected at once, ready to copy.
  var key = $("#key-value");
  if (key) {
    key.addEventListener("focus", function () { key.select(); });
  }
})();
