// Progressive enhancement of the upload forms: a size check before sending and a progress bar.
// Without this script the forms post normally and the server does the same checks.
"use strict";
(function () {
  function enhance(form) {
    var input = form.querySelector('input[type="file"]');
    var error = form.querySelector(".upload-error");
    var progressBox = form.querySelector(".progress");
    var bar = form.querySelector("progress");
    var button = form.querySelector('button[type="submit"]');
    var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);

    function showError(text) {
      error.textContent = text;
      error.hidden = false;
    }

    input.addEventListener("change", function () {
      error.hidden = true;
      var file = input.files && input.files[0];
      if (file && maxBytes && file.size > maxBytes) {
        showError("That file is too large: the limit is " + form.dataset.maxSize + ".");
      }
    });

    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) {
        return;
      }
      event.preventDefault();
      if (maxBytes && file.size > maxBytes) {
        showError("That file is too large: the limit is " + form.dataset.maxSize + ".");
        return;
      }
      error.hidden = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded / e.total) * 100);
          bar.textContent = bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        var target = window.location.pathname;
        try {
          target = JSON.parse(xhr.responseText).redirect || target;
        } catch (ignored) {
          // a non-JSON answer (a proxy's error page): reload the page, the flash explains.
        }
        window.location.assign(target);
      });
      xhr.addEventListener("error", function () {
        progressBox.hidden = true;
        button.disabled = false;
        showError("The upload failed: the connection was lost. Please try again.");
      });
      progressBox.hidden = false;
      button.disabled = true;
      xhr.send(new FormData(form));
    });
  }

  // Same wording as the server's (pages/views.py human_duration).
  function duration(seconds) {
    if (seconds <= 0) {
      return "deleting now";
    }
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    if (hours) {
      return hours + " h " + minutes + " min left";
    }
    if (minutes) {
      return minutes + " min " + secs + " s left";
    }
    return secs + " s left";
  }

  function countDown() {
    var started = Date.now();
    var clocks = document.querySelectorAll("time[data-seconds-left]");
    if (!clocks.length) {
      return;
    }
    window.setInterval(function () {
      var elapsed = Math.floor((Date.now() - started) / 1000);
      for (var i = 0; i < clocks.length; i++) {
        var left = parseInt(clocks[i].dataset.secondsLeft, 10) - elapsed;
        clocks[i].textContent = duration(left);
      }
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form.upload");
    for (var i = 0; i < forms.length; i++) {
      enhance(forms[i]);
    }
    countDown();
  });
})();
