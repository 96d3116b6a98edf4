// Vigil hosted challenge page: the few things a browser must do itself.
// WebAuthn ceremonies, magic-link polling, code auto-submit, and the
// postMessage protocol of @authsignal/browser's popup and window modes
// (AUTHSIGNAL_READY, {height}, AUTHSIGNAL_CLOSE_POPUP, AUTHSIGNAL_API_ERROR),
// posted only to the tenant's allowed origins.
(function () {
  "use strict";
  var body = document.body;
  var data = body.dataset;
  var csrf = data.csrf || "";
  var popup = data.mode === "popup";
  var targets = [];
  try { targets = JSON.parse(data.targets || "[]"); } catch (e) { targets = []; }

  function opener() {
    if (window.parent && window.parent !== window) return window.parent;
    return window.opener || null;
  }
  function post(msg) {
    var w = opener();
    if (!popup || !w) return;
    for (var i = 0; i < targets.length; i++) {
      try { w.postMessage(msg, targets[i]); } catch (e) { /* another origin */ }
    }
  }

  // Popup protocol.
  if (popup) {
    post(JSON.stringify({ event: "AUTHSIGNAL_READY" }));
    var container = document.getElementById("widget_container");
    var last = 0;
    var resize = function () {
      var h = Math.ceil(container.getBoundingClientRect().height);
      if (h !== last) { last = h; post({ height: h }); }
    };
    if (window.ResizeObserver) new ResizeObserver(resize).observe(container);
    resize();
    if (data.closeToken) {
      post(JSON.stringify({ event: "AUTHSIGNAL_CLOSE_POPUP", token: data.closeToken }));
    }
    if (data.apiError) {
      post(JSON.stringify({ event: "AUTHSIGNAL_API_ERROR", errorCode: data.apiError, statusCode: Number(data.apiStatus) || 401 }));
    }
  }

  // Focus the heading of a new screen for screen readers, unless a field
  // has autofocus.
  if (!document.querySelector("[autofocus]")) {
    var title = document.getElementById("title");
    if (title) title.focus({ preventScroll: true });
  }

  // Auto-submit a code once all digits are typed.
  var code = document.querySelector("input[data-autosubmit]");
  if (code) {
    code.addEventListener("input", function () {
      var digits = code.value.replace(/\D/g, "");
      if (digits.length === Number(code.dataset.autosubmit) && code.form && !code.form.dataset.sent) {
        code.form.dataset.sent = "1";
        code.form.requestSubmit ? code.form.requestSubmit() : code.form.submit();
      }
    });
  }

  function api(path, payload) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Vigil-CSRF": csrf },
      body: JSON.stringify(payload || {})
    }).then(function (r) { return r.json().then(function (j) { j.status = r.status; return j; }); });
  }

  // Magic link: poll until the link was opened on any device.
  if (data.poll) {
    var poll = function () {
      api(data.poll, {}).then(function (r) {
        if (r.done && r.next) { window.location.assign(r.next); return; }
        if (r.status === 200) setTimeout(poll, 2000);
      }).catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 2000);
  }

  // WebAuthn.
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = b64urlToBuf(o.challenge);
    pk.user = Object.assign({}, o.user, { id: b64urlToBuf(o.user.id) });
    pk.excludeCredentials = (o.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuf(c.id) });
    });
    return pk;
  }
  function requestOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = b64urlToBuf(o.challenge);
    pk.allowCredentials = (o.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuf(c.id) });
    });
    return pk;
  }
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      authenticatorAttachment: cred.authenticatorAttachment || undefined, response: {}
    };
    out.response.clientDataJSON = bufToB64url(r.clientDataJSON);
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  var box = document.querySelector("[data-webauthn]");
  if (box) {
    var button = box.querySelector("[data-webauthn-start]");
    var status = box.querySelector("[data-webauthn-status]");
    var errorEl = box.querySelector("[data-webauthn-error]");
    var ceremony = box.dataset.webauthn, method = box.dataset.method;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      box.querySelector("[data-webauthn-unsupported]").hidden = false;
    } else {
      button.addEventListener("click", function () {
        button.disabled = true; errorEl.hidden = true; status.hidden = false;
        var fail = function (msg) {
          status.hidden = true; button.disabled = false;
          errorEl.textContent = msg || errorEl.dataset.fallback || "";
          errorEl.hidden = false;
        };
        api("/challenge/api/webauthn/options", { method: method, ceremony: ceremony }).then(function (r) {
          if (!r.options) { fail(r.message); return null; }
          var p = ceremony === "register"
            ? navigator.credentials.create({ publicKey: creationOptions(r.options.publicKey || r.options) })
            : navigator.credentials.get({ publicKey: requestOptions(r.options.publicKey || r.options) });
          return p.then(function (cred) {
            return api("/challenge/api/webauthn/verify", {
              method: method, ceremony: ceremony, challengeId: r.challengeId, response: credentialJSON(cred)
            });
          });
        }).then(function (r) {
          if (!r) return;
          if (r.next) { window.location.assign(r.next); return; }
          fail(r.message);
        }).catch(function (e) { fail(e && e.name === "NotAllowedError" ? null : (e && e.message)); });
      });
    }
  }
})();
