/*
 * Runs the passkey ceremonies on the pages that include views/_passkey-*.ejs. Served from our own
 * origin (CSP script-src 'self'), with SimpleWebAuthn's browser bundle (window.SimpleWebAuthnBrowser).
 * Each form with data-passkey-register / data-passkey-assert: on submit, fetch its options (a fresh
 * challenge bound to the page's flow), run the ceremony, put the browser's answer into the hidden
 * "response" field and post the form as usual. Without WebAuthn the passkey parts stay hidden.
 */
(function () {
  'use strict';
  var W = window.SimpleWebAuthnBrowser;
  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  if (!W || !W.browserSupportsWebAuthn()) {
    all('[data-passkey-unsupported]').forEach(function (el) { el.hidden = false; });
    return;
  }
  all('[data-passkey]').forEach(function (el) { el.hidden = false; });

  function showError() {
    all('[data-passkey-error]').forEach(function (el) { el.hidden = false; });
  }

  function optionsFor(form) {
    var body = new URLSearchParams();
    ['csrf', 'flow'].forEach(function (name) {
      var input = form.querySelector('input[name="' + name + '"]');
      if (input) body.set(name, input.value);
    });
    return fetch(form.getAttribute('data-options'), { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('options ' + r.status);
        return r.json();
      });
  }

  function send(form, answer) {
    form.querySelector('input[name="response"]').value = JSON.stringify(answer);
    HTMLFormElement.prototype.submit.call(form);
  }

  var busy = false;
  function run(form, ceremony) {
    if (busy) return;
    busy = true;
    optionsFor(form).then(ceremony).then(function (answer) { send(form, answer); }, function () {
      busy = false;
      showError();
    });
  }

  all('form[data-passkey-register]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      run(form, function (options) { return W.startRegistration({ optionsJSON: options }); });
    });
  });

  all('form[data-passkey-assert]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      run(form, function (options) { return W.startAuthentication({ optionsJSON: options }); });
    });
    // Conditional UI: the browser offers the account's passkeys in the username field's autofill.
    // Not right after a refused passkey: an authenticator that answers at once would loop.
    var refused = document.querySelector('[data-message-id^="passkey:"]');
    if (form.hasAttribute('data-conditional') && !refused && document.querySelector('input[autocomplete$="webauthn"]')) {
      W.browserSupportsWebAuthnAutofill().then(function (ok) {
        if (!ok) return null;
        return optionsFor(form).then(function (options) {
          return W.startAuthentication({ optionsJSON: options, useBrowserAutofill: true });
        }).then(function (answer) { if (!busy) { busy = true; send(form, answer); } });
      }).catch(function () { /* aborted by the button, or dismissed: the button still works */ });
    }
  });
}());
