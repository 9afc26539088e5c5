// The passkey ceremony of a page: the options the issuer put in #webauthn-options
// go to navigator.credentials (create or get, by the form's data-mode); the answer
// goes back in the form's "response" field. Allowed by its hash in the CSP.
(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  var data = document.getElementById("webauthn-options");
  var go = document.getElementById("passkey-go");
  var status = document.getElementById("passkey-status");
  if (!form || !data || !go) {
    return;
  }
  function bytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function text(buf) {
    var s = "";
    new Uint8Array(buf).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = bytes(c.id); });
  }
  function fail(msg) {
    status.textContent = msg;
    status.hidden = false;
    go.disabled = false;
  }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    fail("This browser cannot use passkeys.");
    go.disabled = true;
    return;
  }
  go.addEventListener("click", function () {
    var o = JSON.parse(data.textContent);
    var create = form.getAttribute("data-mode") === "create";
    o.challenge = bytes(o.challenge);
    if (create) {
      o.user.id = bytes(o.user.id);
      ids(o.excludeCredentials);
    } else {
      ids(o.allowCredentials);
    }
    go.disabled = true;
    status.hidden = true;
    var call = create ? navigator.credentials.create({ publicKey: o }) : navigator.credentials.get({ publicKey: o });
    call.then(function (c) {
      var r = c.response;
      var out = { id: c.id, rawId: text(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment || undefined,
        clientExtensionResults: c.getClientExtensionResults(), response: { clientDataJSON: text(r.clientDataJSON) } };
      if (create) {
        out.response.attestationObject = text(r.attestationObject);
        out.response.transports = r.getTransports ? r.getTransports() : [];
      } else {
        out.response.authenticatorData = text(r.authenticatorData);
        out.response.signature = text(r.signature);
        if (r.userHandle) {
          out.response.userHandle = text(r.userHandle);
        }
      }
      form.elements.response.value = JSON.stringify(out);
      form.submit();
    }, function (e) {
      fail(e && e.name === "NotAllowedError" ? "The passkey was not used (cancelled or timed out). Try again." :
        "The passkey did not work: " + (e && e.message ? e.message : e));
    });
  });
})();
