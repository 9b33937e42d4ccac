// Progressive enhancement of the upload forms: a size check before sending and a progress bar.
// Without this script the forms post normally and the server does the same checks.
"use strict";
(function () {
  // how long S3 may take to answer once the whole file went (it stores it first); longer,
  // and the upload is taken as lost: web undoes it and the visitor is told
  var S3_ANSWER_MS = 60000;

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
      progressBox.hidden = false;
      button.disabled = true;
      if (form.dataset.transfer === "direct") {
        sendDirect(file);
      } else {
        sendThroughSite();
      }
    });

    function failed(text) {
      progressBox.hidden = true;
      button.disabled = false;
      showError(text);
    }

    function track(xhr) {
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded / e.total) * 100);
          bar.textContent = bar.value + "%";
        }
      });
    }

    // The server's answer names the page to show next; its flash message explains.
    function goTo(responseText) {
      var target = window.location.pathname;
      try {
        target = JSON.parse(responseText).redirect || target;
      } catch (ignored) {
        // a non-JSON answer (a proxy's error page): reload the page, the flash explains.
      }
      window.location.assign(target);
    }

    function sendThroughSite() {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      track(xhr);
      xhr.addEventListener("load", function () {
        goTo(xhr.responseText);
      });
      xhr.addEventListener("error", function () {
        failed("The upload failed: the connection was lost. Please try again.");
      });
      xhr.send(new FormData(form));
    }

    // `direct` mode: the site starts the upload (the row, a POST policy for this one file),
    // the browser posts the bytes to S3, then the site checks what arrived.
    function siteCall(step, body, then) {
      var query = form.action.indexOf("?") >= 0 ? form.action.slice(form.action.indexOf("?")) : "";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploads + step + query);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.addEventListener("load", function () {
        then(xhr);
      });
      xhr.addEventListener("error", function () {
        failed("The upload failed: the connection was lost. Please try again.");
      });
      xhr.send(JSON.stringify(body));
    }

    function sendDirect(file) {
      var description = form.querySelector('input[name="description"]');
      var started = {
        filename: file.name,
        description: description ? description.value : "",
        size: file.size
      };
      siteCall("", started, function (xhr) {
        var ticket = null;
        try {
          ticket = JSON.parse(xhr.responseText);
        } catch (ignored) {
          // not JSON: handled below
        }
        if (!ticket || !ticket.ok || !ticket.post_url) {
          goTo(xhr.responseText);
          return;
        }
        var data = new FormData();
        Object.keys(ticket.fields).forEach(function (name) {
          data.append(name, ticket.fields[name]);
        });
        data.append("file", file);
        var s3 = new XMLHttpRequest();
        s3.open("POST", ticket.post_url);
        track(s3);
        s3.addEventListener("load", function () {
          var path = "/" + ticket.item_id;
          if (s3.status >= 200 && s3.status < 300) {
            siteCall(path + "/complete", {}, function (done) {
              goTo(done.responseText);
            });
            return;
          }
          var code = /<Code>([^<]{1,64})<\/Code>/.exec(s3.responseText || "");
          siteCall(path + "/abort", { s3_code: code ? code[1] : "Refused" }, function (done) {
            goTo(done.responseText);
          });
        });
        // S3 unreachable, or its answer never came after the last byte went: web undoes the
        // upload and says why (the same words as when web itself cannot reach S3)
        function lost() {
          siteCall("/" + ticket.item_id + "/abort", { s3_code: "ConnectionLost" }, function (done) {
            goTo(done.responseText);
          });
        }
        s3.addEventListener("error", lost);
        s3.addEventListener("abort", lost);
        s3.upload.addEventListener("load", function () {
          window.setTimeout(function () {
            if (s3.readyState !== XMLHttpRequest.DONE) {
              s3.abort();
            }
          }, S3_ANSWER_MS);
        });
        s3.send(data);
      });
    }
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
