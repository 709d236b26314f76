// envoi admin UI: small progressive enhancements. Every page works
// without this script; it only fills, shows and previews.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  document.documentElement.className = "js";

  // Times in the viewer's own time zone; the UTC time stays as the tooltip.
  $all("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    el.title = el.textContent;
    try {
      el.textContent = d.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) { el.textContent = d.toLocaleString(); }
  });

  // The sidebar folds into a Menu button on narrow screens.
  var toggle = $("#menu-toggle"), side = $("#side");
  if (toggle && side) {
    toggle.addEventListener("click", function () {
      var open = !side.classList.contains("open");
      side.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // Ask before destructive actions, in a modal dialog: its text is read
  // out (aria-describedby), Cancel has the focus, Escape cancels.
  var ask = function (f) {
    var d = document.createElement("dialog");
    d.className = "confirm";
    d.setAttribute("role", "alertdialog");
    d.setAttribute("aria-modal", "true");
    d.setAttribute("aria-describedby", "confirm-text");
    var p = document.createElement("p");
    p.id = "confirm-text";
    p.textContent = f.getAttribute("data-confirm");
    var actions = document.createElement("div");
    actions.className = "actions";
    var no = document.createElement("button");
    no.type = "button";
    no.id = "confirm-no";
    no.textContent = document.body.getAttribute("data-cancel") || "Cancel";
    var yes = document.createElement("button");
    yes.type = "button";
    yes.id = "confirm-yes";
    yes.className = "danger";
    var sub = f.querySelector("button[type=submit]");
    yes.textContent = sub ? sub.textContent : "OK";
    actions.appendChild(no);
    actions.appendChild(yes);
    d.appendChild(p);
    d.appendChild(actions);
    document.body.appendChild(d);
    var done = function () { d.close(); d.remove(); if (sub) { sub.focus(); } };
    no.addEventListener("click", done);
    d.addEventListener("cancel", function (e) { e.preventDefault(); done(); });
    yes.addEventListener("click", function () { d.close(); d.remove(); f.setAttribute("data-confirmed", "1"); f.submit(); });
    d.showModal();
    no.focus();
  };
  $all("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (f.getAttribute("data-confirmed")) { return; }
      e.preventDefault();
      if (typeof HTMLDialogElement === "function") { ask(f); } else if (window.confirm(f.getAttribute("data-confirm"))) { f.submit(); }
    });
  });

  // A refused form: each wrong field is marked where it is, with its
  // label, what is wrong and how to fix it; the list at the top names the
  // fields by their labels and links to them.
  var firstBad = null;
  $all("#field-errors li[data-input]").forEach(function (li) {
    var id = li.getAttribute("data-input"), input = document.getElementById(id);
    if (!input) { return; }
    var label = document.querySelector('label[for="' + id + '"]'), name = "";
    if (label) {
      for (var n = label.firstChild; n; n = n.nextSibling) { if (n.nodeType === 3) { name += n.textContent; } }
      name = name.trim();
    }
    if (name) { $(".field-name", li).textContent = name; }
    var field = input.closest(".field");
    if (field) {
      field.classList.add("invalid");
      field.hidden = false;
    }
    input.setAttribute("aria-invalid", "true");
    var p = document.createElement("p");
    p.className = "field-error";
    p.id = "error-" + id;
    p.textContent = (name ? name + ": " : "") + li.getAttribute("data-reason");
    var fix = document.createElement("span");
    fix.className = "fix";
    fix.textContent = li.getAttribute("data-fix");
    p.appendChild(fix);
    input.insertAdjacentElement("afterend", p);
    input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + p.id).trim());
    if (!firstBad) { firstBad = input; }
  });
  if (firstBad) { firstBad.focus(); }

  // Authentication flow: show the OAuth part only for OAuth flows, and
  // fill the fields from a preset when it changes.
  var flow = $("#flow-form");
  if (flow) {
    var kind = $("#kind", flow);
    // Fields of some presets only (Tenant: Microsoft 365's).
    var showPreset = function () {
      var p = $("#preset", flow);
      $all("[data-preset]", flow).forEach(function (el) {
        el.hidden = !p || el.getAttribute("data-preset").split(" ").indexOf(p.value) < 0;
      });
    };
    var showKind = function () {
      $all("[data-kind]", flow).forEach(function (el) {
        el.hidden = el.getAttribute("data-kind") !== kind.value;
      });
      showPreset();
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
        showPreset();
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

  // Operator and company: the signature's preview follows the text, in a sandboxed
  // frame where no script runs. The server renders it as mails carry it
  // (the same allow-list, the styles it keeps), into the frame by a form.
  var sig = $("#signature_html"), frame = $("#signature-preview");
  if (sig && frame && frame.getAttribute("data-preview")) {
    var opForm = $("#operator-form") || $("#company-form"), sigTimer = null;
    var sigForm = document.createElement("form");
    sigForm.method = "post";
    sigForm.action = frame.getAttribute("data-preview");
    sigForm.target = frame.name;
    sigForm.hidden = true;
    var sigCSRF = document.createElement("input"), sigHTML = document.createElement("input");
    sigCSRF.type = sigHTML.type = "hidden";
    sigCSRF.name = "csrf";
    sigCSRF.value = opForm ? opForm.elements.csrf.value : "";
    sigHTML.name = "signature_html";
    sigForm.appendChild(sigCSRF);
    sigForm.appendChild(sigHTML);
    document.body.appendChild(sigForm);
    var render = function () { sigHTML.value = sig.value; frame.removeAttribute("srcdoc"); sigForm.submit(); };
    sig.addEventListener("input", function () { clearTimeout(sigTimer); sigTimer = setTimeout(render, 250); });
    render();
  }

  // Flow test: run in the background, its steps shown as they happen
  // ("connecting…", "STARTTLS…", "AUTH…"), with a button to cancel.
  var testForm = $("#test-form"), live = $("#test-live");
  if (testForm && live && window.fetch) {
    var csrf = testForm.elements.csrf.value, pollTimer = null;
    var show = function (html) {
      live.innerHTML = html;
      var res = $("#test-result", live);
      var cancel = $("#cancel-test", live);
      if (cancel) {
        cancel.addEventListener("click", function () {
          cancel.disabled = true;
          fetch(cancel.getAttribute("data-cancel"), { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } }).catch(function () {});
        });
      }
      if (res && res.getAttribute("data-done") !== "true" && res.getAttribute("data-poll")) {
        pollTimer = setTimeout(function () { poll(res.getAttribute("data-poll")); }, 300);
      } else {
        $("#run-test", testForm).disabled = false;
      }
    };
    var poll = function (url) {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(show).catch(function () {
        $("#run-test", testForm).disabled = false;
      });
    };
    testForm.addEventListener("submit", function (e) {
      e.preventDefault();
      clearTimeout(pollTimer);
      $("#run-test", testForm).disabled = true;
      fetch(testForm.getAttribute("data-start"), {
        method: "POST", body: new URLSearchParams(new FormData(testForm)), credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf }
      }).then(function (r) { return r.text(); }).then(show).catch(function () { testForm.submit(); });
    });
  }

  // A new API key: selected at once, ready to copy.
  var key = $("#key-value");
  if (key) {
    key.addEventListener("focus", function () { key.select(); });
  }
})();
