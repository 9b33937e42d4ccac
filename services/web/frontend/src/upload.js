// Progressive enhancement of the upload forms: a size check before sending, a progress bar,
// and large files sent in parts (each part a request of its own, below any ingress's body
// limit) that resume after a dropped connection or a reload, with a Cancel button.
// Without this script the forms post normally and the server does the same checks.
//
// Built into ../../src/s3tasks_web/static/upload.js by `make assets` (esbuild); the built file
// is committed, so running the site needs no node.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

// S3's limits on multipart uploads (storage-api chooses the part size within them).
const MIB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MIB;
const MAX_PARTS = 10000;
// part URLs asked for at once
const SIGN_AHEAD = 16;
// how long S3 may take to answer a one-request upload once the whole file went (it stores it
// first); longer, and the upload is taken as lost: the site undoes it and the visitor is told
const S3_ANSWER_MS = 60000;
// where an unfinished upload in parts is remembered, so that choosing the same file again
// after a reload resumes it
const PENDING_KEY = "s3tasks.pending-uploads";

// storage-api's part size for a file of `size` bytes (transfers/service.py part_size_for):
// the preferred one, grown so the file fits in 10,000 parts, never under 5 MiB.
function partSizeFor(size, preferred) {
  const needed = Math.ceil(size / MAX_PARTS);
  return Math.max(MIN_PART_BYTES, preferred, Math.ceil(needed / MIB) * MIB);
}

function readPending() {
  try {
    return JSON.parse(window.localStorage.getItem(PENDING_KEY) || "{}") || {};
  } catch (ignored) {
    return {};
  }
}

function writePending(pending) {
  try {
    window.localStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  } catch (ignored) {
    // no storage (private mode): the upload still works, it only cannot resume after a reload
  }
}

function enhance(form) {
  const input = form.querySelector('input[type="file"]');
  const error = form.querySelector(".upload-error");
  const progressBox = form.querySelector(".progress");
  const bar = form.querySelector("progress");
  const button = form.querySelector('button[type="submit"]');
  const cancel = form.querySelector("button.cancel");
  const resumeHint = form.querySelector(".resume-hint");
  const maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
  const partBytes = parseInt(form.dataset.partSize || "0", 10);
  const uploads = form.dataset.uploads;
  const query = form.action.indexOf("?") >= 0 ? form.action.slice(form.action.indexOf("?")) : "";
  const token = new URLSearchParams(query).get("csrf") || "";
  let uppy = null;
  let current = null; // the item id of the upload in parts under way

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
  }

  function fingerprint(file) {
    return [uploads, file.name, file.size, file.lastModified].join("|");
  }

  function showResumeHint() {
    const mine = Object.keys(readPending()).filter((k) => k.indexOf(uploads + "|") === 0);
    if (resumeHint) {
      resumeHint.hidden = mine.length === 0;
    }
  }

  input.addEventListener("change", function () {
    error.hidden = true;
    const file = input.files && input.files[0];
    if (file && maxBytes && file.size > maxBytes) {
      showError("That file is too large: the limit is " + form.dataset.maxSize + ".");
    }
  });

  form.addEventListener("submit", function (event) {
    const file = input.files && input.files[0];
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
    if (partBytes && file.size > partBytes) {
      sendInParts(file);
    } else if (form.dataset.transfer === "direct") {
      sendDirect(file);
    } else {
      sendThroughSite();
    }
  });

  if (cancel) {
    cancel.addEventListener("click", function () {
      cancelUpload();
    });
  }

  function failed(text) {
    progressBox.hidden = true;
    button.disabled = false;
    if (cancel) {
      cancel.hidden = true;
    }
    showError(text);
  }

  function showProgress(loaded, total) {
    if (total) {
      bar.value = Math.floor((loaded / total) * 100);
      bar.textContent = bar.value + "%";
    }
  }

  function track(xhr) {
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        showProgress(e.loaded, e.total);
      }
    });
  }

  // The server's answer names the page to show next; its flash message explains.
  function goTo(responseText) {
    let target = window.location.pathname;
    try {
      target = JSON.parse(responseText).redirect || target;
    } catch (ignored) {
      // a non-JSON answer (a proxy's error page): reload the page, the flash explains.
    }
    window.location.assign(target);
  }

  function sendThroughSite() {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    track(xhr);
    xhr.addEventListener("load", function () {
      if (xhr.status === 413) {
        // refused by a proxy in front of the site before it arrived (its body limit)
        failed("That file is larger than this site accepts in one request.");
        return;
      }
      goTo(xhr.responseText);
    });
    xhr.addEventListener("error", function () {
      failed("The upload failed: the connection was lost. Please try again.");
    });
    xhr.send(new FormData(form));
  }

  // A step of an upload on the site (start, complete, abort, sign): JSON both ways.
  function siteCall(method, step, body) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open(method, uploads + step + (method === "GET" ? "" : query));
      xhr.setRequestHeader("Accept", "application/json");
      if (body !== undefined) {
        xhr.setRequestHeader("Content-Type", "application/json");
      }
      xhr.addEventListener("load", function () {
        resolve(xhr);
      });
      xhr.addEventListener("error", function () {
        reject(new Error("connection lost"));
      });
      xhr.send(body === undefined ? null : JSON.stringify(body));
    });
  }

  function answer(xhr) {
    try {
      return JSON.parse(xhr.responseText);
    } catch (ignored) {
      return null;
    }
  }

  function description() {
    const field = form.querySelector('input[name="description"]');
    return field ? field.value : "";
  }

  // `direct` mode, one request: the site starts the upload (the row, a POST policy for this
  // one file), the browser posts the bytes to S3, then the site checks what arrived.
  function sendDirect(file) {
    const started = { filename: file.name, description: description(), size: file.size };
    siteCall("POST", "", started).then(function (xhr) {
      const ticket = answer(xhr);
      if (!ticket || !ticket.ok || !ticket.post_url) {
        goTo(xhr.responseText);
        return;
      }
      const data = new FormData();
      Object.keys(ticket.fields).forEach(function (name) {
        data.append(name, ticket.fields[name]);
      });
      data.append("file", file);
      const s3 = new XMLHttpRequest();
      s3.open("POST", ticket.post_url);
      track(s3);
      const path = "/" + ticket.item_id;
      s3.addEventListener("load", function () {
        if (s3.status >= 200 && s3.status < 300) {
          complete(path, 1);
          return;
        }
        const code = /<Code>([^<]{1,64})<\/Code>/.exec(s3.responseText || "");
        siteCall("POST", path + "/abort", { s3_code: code ? code[1] : "Refused" }).then(
          function (done) {
            goTo(done.responseText);
          },
          lost
        );
      });
      // S3 unreachable, or its answer never came after the last byte went: the site undoes
      // the upload and says why, in the words it uses when it cannot reach S3 itself
      function unreachable() {
        siteCall("POST", path + "/abort", { s3_code: "ConnectionLost" }).then(function (done) {
          goTo(done.responseText);
        }, lost);
      }
      s3.addEventListener("error", unreachable);
      s3.addEventListener("abort", unreachable);
      s3.upload.addEventListener("load", function () {
        window.setTimeout(function () {
          if (s3.readyState !== XMLHttpRequest.DONE) {
            s3.abort();
          }
        }, S3_ANSWER_MS);
      });
      s3.send(data);
    }, lost);
  }

  // Completion is idempotent: an answer lost on the way is asked for once more.
  function complete(path, retries) {
    siteCall("POST", path + "/complete", {}).then(
      function (done) {
        goTo(done.responseText);
      },
      function () {
        if (retries > 0) {
          complete(path, retries - 1);
        } else {
          lost();
        }
      }
    );
  }

  function lost() {
    failed("The upload failed: the connection was lost. Please try again.");
  }

  // In parts (files larger than one part), either mode: an S3 multipart upload that
  // storage-api started (the row first), driven by Uppy. Each part goes where the site says:
  // S3's presigned URL (`direct`) or the site itself (`proxy`). The parts S3 holds are kept
  // when the connection drops; pressing Upload again, or choosing the same file after a
  // reload, sends only the rest.
  function sendInParts(file) {
    const key = fingerprint(file);
    const pending = readPending()[key];
    const partSize = pending ? pending.part_size : partSizeFor(file.size, partBytes);
    const signed = {};
    let next = null; // the site's last word (stored, or refused): it names the page to show
    let stopped = ""; // why the site refused a part (the upload was deleted or expired)
    if (uppy) {
      uppy.destroy();
    }
    uppy = new Uppy({ autoProceed: false, allowMultipleUploadBatches: true });

    function refused(xhr) {
      next = xhr;
      return new Error("refused by the site");
    }

    function forget() {
      const all = readPending();
      delete all[key];
      writePending(all);
    }

    uppy.use(AwsS3, {
      shouldUseMultipart: true,
      limit: 4,
      getChunkSize: function () {
        return partSize;
      },
      createMultipartUpload: function () {
        const started = {
          filename: file.name,
          description: description(),
          size: file.size,
          in_parts: true,
        };
        return siteCall("POST", "", started).then(function (xhr) {
          const ticket = answer(xhr);
          if (!ticket || !ticket.ok) {
            throw refused(xhr);
          }
          if (ticket.part_size !== partSize) {
            // the site's part size is not the one the file was cut by: abort, say so
            siteCall("POST", "/" + ticket.item_id + "/abort", { s3_code: "PartSize" });
            throw new Error("part size mismatch");
          }
          current = ticket.item_id;
          const all = readPending();
          all[key] = { item_id: ticket.item_id, part_size: partSize };
          writePending(all);
          return { uploadId: ticket.item_id, key: ticket.item_id };
        });
      },
      listParts: function (f, opts) {
        current = opts.uploadId;
        return siteCall("GET", "/" + opts.uploadId + "/parts").then(function (xhr) {
          const held = answer(xhr);
          if (xhr.status !== 200 || !held || !held.ok) {
            forget(); // gone (completed, cancelled, expired, deleted): start afresh next time
            stopped = "That upload can no longer be resumed. Press Upload to send the file again.";
            throw new Error("nothing to resume");
          }
          return held.parts.map(function (p) {
            return { PartNumber: p.part_number, Size: p.size, ETag: p.etag };
          });
        });
      },
      signPart: function (f, opts) {
        const number = opts.partNumber;
        if (!signed[number]) {
          const numbers = [];
          const count = Math.ceil(file.size / partSize);
          for (let n = number; n < number + SIGN_AHEAD && n <= count; n++) {
            numbers.push(n);
          }
          const batch = siteCall("POST", "/" + opts.uploadId + "/parts", {
            part_numbers: numbers,
          }).then(function (xhr) {
            const links = answer(xhr);
            if (xhr.status !== 200 || !links || !links.ok) {
              stopped = (links && links.detail) || stopped;
              throw new Error("parts refused");
            }
            return links.urls;
          });
          numbers.forEach(function (n) {
            signed[n] = batch;
          });
          batch.catch(function () {
            numbers.forEach(function (n) {
              delete signed[n]; // asked again on the retry
            });
          });
        }
        return signed[number].then(function (urls) {
          const url = urls[String(number)];
          // web's own part URL (proxy mode) carries the session; S3's carries its signature
          const headers = url.charAt(0) === "/" ? { "X-CSRF-Token": token } : {};
          return { method: "PUT", url: url, headers: headers };
        });
      },
      completeMultipartUpload: function (f, opts) {
        const parts = opts.parts
          .map(function (p) {
            return { part_number: p.PartNumber, etag: String(p.ETag).replace(/"/g, "") };
          })
          .sort(function (a, b) {
            return a.part_number - b.part_number;
          });
        return siteCall("POST", "/" + opts.uploadId + "/complete", { parts: parts }).then(
          function (xhr) {
            forget();
            next = xhr; // stored or refused: either way the flash on the page says which
            return {};
          }
        );
      },
      // Cancel aborts through `cancelUpload` (once); Uppy's own call has nothing left to do.
      abortMultipartUpload: function () {
        return Promise.resolve();
      },
    });

    uppy.on("upload-progress", function (f, progress) {
      showProgress(progress.bytesUploaded, progress.bytesTotal);
    });
    uppy.on("complete", function (result) {
      if (next) {
        goTo(next.responseText);
      } else if (stopped) {
        forget();
        failed(stopped);
      } else if (result.failed && result.failed.length) {
        whyItFailed();
      }
    });

    // A part failed: the upload was ended on the site (deleted, expired: it says why), or the
    // connection was lost (the parts S3 holds are kept for the next try).
    function whyItFailed() {
      const lostConnection = function () {
        failed(
          "The connection was lost. Press Upload to resume: the parts already sent are kept."
        );
      };
      if (!current) {
        lostConnection();
        return;
      }
      siteCall("GET", "/" + current + "/parts").then(function (xhr) {
        const held = answer(xhr);
        if (xhr.status === 200 || !held || !held.detail) {
          lostConnection();
          return;
        }
        forget();
        failed(held.detail);
      }, lostConnection);
    }

    const id = uppy.addFile({ name: file.name, type: file.type, data: file, source: "upload" });
    if (pending) {
      // a reload or a lost connection: Uppy asks which parts S3 holds and sends the rest
      uppy.setFileState(id, { s3Multipart: { uploadId: pending.item_id, key: pending.item_id } });
    }
    if (cancel) {
      cancel.hidden = false;
    }
    uppy.upload().catch(function () {
      // told through the `complete` event above
    });
  }

  // Cancel: stop sending at once, then abort the multipart upload (S3 drops its parts, the
  // row goes) and show the page, which says it was cancelled.
  function cancelUpload() {
    if (uppy) {
      uppy.cancelAll();
    }
    const item = current;
    const all = readPending();
    Object.keys(all).forEach(function (k) {
      if (all[k].item_id === item) {
        delete all[k];
      }
    });
    writePending(all);
    if (!item) {
      failed("The upload was cancelled.");
      return;
    }
    siteCall("POST", "/" + item + "/abort", { s3_code: "" }).then(function (xhr) {
      goTo(xhr.responseText);
    }, lost);
  }

  showResumeHint();
}

// Same wording as the server's (pages/views.py human_duration).
function duration(seconds) {
  if (seconds <= 0) {
    return "deleting now";
  }
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const secs = seconds % 60;
  if (hours) {
    return hours + " h " + minutes + " min left";
  }
  if (minutes) {
    return minutes + " min " + secs + " s left";
  }
  return secs + " s left";
}

function countDown() {
  const started = Date.now();
  const clocks = document.querySelectorAll("time[data-seconds-left]");
  if (!clocks.length) {
    return;
  }
  window.setInterval(function () {
    const elapsed = Math.floor((Date.now() - started) / 1000);
    for (let i = 0; i < clocks.length; i++) {
      const left = parseInt(clocks[i].dataset.secondsLeft, 10) - elapsed;
      clocks[i].textContent = duration(left);
    }
  }, 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  const forms = document.querySelectorAll("form.upload");
  for (let i = 0; i < forms.length; i++) {
    enhance(forms[i]);
  }
  countDown();
});
