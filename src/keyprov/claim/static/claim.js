// Copy buttons that work over plain http on a LAN too: the Clipboard API exists only in a
// secure context (https, or this machine), so the text is selected and copied with
// execCommand first, and the Clipboard API is tried only where that did not work.
"use strict";
(function () {
  function say(button, text) {
    var status = document.getElementById(button.getAttribute("data-status"));
    if (status) { status.textContent = text; }
  }
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    if (copied) {
      button.textContent = "Copied";
      say(button, "Copied. Paste it where you need it.");
      return;
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
        say(button, "Copied. Paste it where you need it.");
      }, function () {
        say(button, "The key is selected: copy it with your device's Copy.");
      });
      return;
    }
    say(button, "The key is selected: copy it with your device's Copy.");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
    var key = document.getElementById("key");
    if (key) { key.addEventListener("focus", function () { key.select(); }); }
  });
})();
