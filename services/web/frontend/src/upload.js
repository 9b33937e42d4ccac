// Progressive enhancement of the upload forms: several files at once (chosen, dropped anywhere
// on the page, or pasted), each with a preview, a size check before sending, its own progress
// bar, Cancel and Retry; large files sent in parts (each part a request of its own, below any
// ingress's body limit) that resume after a dropped connection or a reload.
// Without this script the forms post normally and the server does the same checks.
//
// Built into ../../src/s3tasks_web/static/upload.js by `make assets` (esbuild); the built file
// is committed, so running the site needs no node.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import DropTarget from "@uppy/drop-target";
import {
  FileChanged,
  enhanceSharePage,
  repairFragment,
  fromRecord,
  newEncryption,
  rememberKey,
  resumeStore,
  sealPart,
  showEncryptedItems,
} from "./encrypted.js";

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
// what happened to each file of the last queue, shown once the page is shown again
const REPORT_KEY = "s3tasks.upload-report";

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

// The page's words for what happened to a file: its flash messages. The script reads them
// from the page it fetches after each file (so they stay on the file they concern) and takes
// that page's items at the same time, so a stored file shows at once.
function pageAfter(path) {
  return window
    .fetch(path, { headers: { Accept: "text/html" }, credentials: "same-origin" })
    .then(function (response) {
      return response.text();
    })
    .then(function (html) {
      const doc = new DOMParser().parseFromString(html, "text/html");
      const messages = Array.prototype.map.call(doc.querySelectorAll(".flashes .flash"), function (p) {
        return { level: p.classList.contains("flash-error") ? "error" : "success", text: p.textContent };
      });
      const items = doc.getElementById("items");
      const here = document.getElementById("items");
      if (items && here) {
        here.replaceWith(document.adoptNode(items));
      }
      return messages;
    });
}

function humanSize(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return (unit ? size.toFixed(1).replace(/\.0$/, "") : size) + " " + units[unit];
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) {
    made.className = className;
  }
  if (text !== undefined) {
    made.textContent = text;
  }
  return made;
}

// A button whose visible word ("Cancel") is completed by the file's name for screen readers.
function namedButton(className, word, name) {
  const button = element("button", className, word);
  button.type = "button";
  button.appendChild(element("span", "visually-hidden", " " + name));
  return button;
}

// What a file's row says: the site's flash messages as the page shows them, or the script's
// own words (it could not send, or stopped).
function messageLine(message) {
  if (message.script) {
    return element("p", "upload-error", message.text);
  }
  return element("p", "flash flash-" + message.level, message.text);
}

function enhance(form) {
  const input = form.querySelector('input[type="file"]');
  const list = form.querySelector(".queue");
  const keepNote = form.querySelector(".keep-note");
  const announcer = form.querySelector(".announcer");
  const progressBox = form.querySelector(".progress");
  const overall = progressBox.querySelector("progress");
  const button = form.querySelector('button[type="submit"]');
  const resumeHint = form.querySelector(".resume-hint");
  const maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
  const partBytes = parseInt(form.dataset.partSize || "0", 10);
  const kept = parseInt(form.dataset.keep || "0", 10);
  const uploads = form.dataset.uploads;
  const page = window.location.pathname;
  const query = form.action.indexOf("?") >= 0 ? form.action.slice(form.action.indexOf("?")) : "";
  const token = new URLSearchParams(query).get("csrf") || "";
  const queue = [];
  let running = false;
  let nextId = 1;
  // "Encrypt in this browser" (My Files): offered only where this script runs
  const encryptBox = form.querySelector("fieldset.encrypt");
  if (encryptBox) {
    encryptBox.hidden = false;
  }
  function encrypting() {
    const box = form.querySelector('input[name="encrypt"]');
    return Boolean(box && box.checked);
  }
  function encryptionPassword() {
    const field = form.querySelector('input[name="encrypt_password"]');
    return field && field.value ? field.value : null;
  }

  // The script sends the queue itself: several files, chosen, dropped or pasted.
  input.multiple = true;
  input.required = false;
  form.querySelector(".drop-hint").hidden = false;

  function announce(text) {
    announcer.textContent = text;
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

  // ---- the queue: one row per file -------------------------------------------------------

  function add(files) {
    const added = [];
    Array.prototype.forEach.call(files, function (file) {
      const same = queue.filter(function (entry) {
        return entry.key === fingerprint(file) && entry.state !== "sending";
      });
      same.forEach(drop);
      added.push(makeEntry(file));
    });
    if (added.length) {
      list.hidden = false;
      updateKeepNote();
      const refusals = added
        .filter(function (entry) {
          return entry.state === "refused";
        })
        .map(function (entry) {
          return entry.file.name + ": " + entry.messages[0].text;
        });
      announce(
        [
          (added.length === 1 ? added[0].file.name + " added" : added.length + " files added") +
            ": press Upload to send.",
        ]
          .concat(refusals, keepNote && !keepNote.hidden ? [keepNote.textContent] : [])
          .join(" ")
      );
    }
  }

  function makeEntry(file) {
    const entry = {
      id: nextId++,
      file: file,
      key: fingerprint(file),
      state: "queued",
      retryable: false,
      answered: false,
      messages: [],
      loaded: 0,
      stop: null,
      preview: null,
    };
    const row = element("li", "queue-item");
    if (file.type.indexOf("image/") === 0) {
      // a local object URL: nothing is sent to show it
      entry.preview = URL.createObjectURL(file);
      const img = element("img", "preview");
      img.src = entry.preview;
      img.alt = "Preview of " + file.name;
      row.appendChild(img);
    } else {
      row.appendChild(element("span", "preview no-preview", "No preview"));
    }
    const body = element("div", "queue-body");
    const title = element("p", "queue-name", file.name);
    title.appendChild(element("span", "hint", " · " + humanSize(file.size)));
    entry.bar = element("progress", "", "0%");
    entry.bar.max = 100;
    entry.bar.value = 0;
    entry.bar.setAttribute("aria-label", "Upload of " + file.name);
    entry.state_line = element("p", "queue-state hint", "Waiting: press Upload to send.");
    entry.outcome = element("div", "queue-outcome");
    const actions = element("div", "queue-actions");
    entry.cancel = namedButton("cancel secondary", "Cancel", file.name);
    entry.retry = namedButton("retry", "Retry", file.name);
    entry.retry.hidden = true;
    entry.cancel.addEventListener("click", function () {
      cancel(entry);
    });
    entry.retry.addEventListener("click", function () {
      entry.state = "queued";
      start([entry]);
    });
    actions.appendChild(entry.cancel);
    actions.appendChild(entry.retry);
    body.appendChild(title);
    body.appendChild(entry.bar);
    body.appendChild(entry.state_line);
    body.appendChild(entry.outcome);
    body.appendChild(actions);
    row.appendChild(body);
    entry.row = row;
    list.appendChild(row);
    queue.push(entry);
    if (maxBytes && file.size > maxBytes) {
      // refused before sending, in the words of the form without the script
      settle(entry, "refused", [
        { script: true, text: "That file is too large: the limit is " + form.dataset.maxSize + "." },
      ]);
    }
    return entry;
  }

  function drop(entry) {
    queue.splice(queue.indexOf(entry), 1);
    entry.row.remove();
    if (entry.preview) {
      URL.revokeObjectURL(entry.preview);
    }
    list.hidden = queue.length === 0;
    updateKeepNote();
  }

  // Files the next Upload sends, in the order they go (the last one is the newest).
  function toSend() {
    return queue.filter(function (entry) {
      return entry.state === "queued" || (entry.state === "failed" && entry.retryable);
    });
  }

  // My Images keeps the newest few: say before sending which chosen ones will not stay.
  function updateKeepNote() {
    if (!keepNote) {
      return;
    }
    const going = toSend();
    const lost = going.length > kept ? going.slice(0, going.length - kept) : [];
    keepNote.hidden = lost.length === 0;
    keepNote.textContent = lost.length
      ? "Only your " + kept + " newest images are kept: of the " + going.length +
        " to send, " + names(lost) + " will be replaced by the " + kept + " sent after them."
      : "";
  }

  function names(entries) {
    return entries
      .map(function (entry) {
        return entry.file.name;
      })
      .join(", ");
  }

  function settle(entry, state, messages, retryable) {
    entry.state = state;
    entry.retryable = Boolean(retryable);
    entry.messages = messages;
    entry.stop = null;
    entry.outcome.textContent = "";
    messages.forEach(function (message) {
      entry.outcome.appendChild(messageLine(message));
    });
    const words = {
      stored: "Uploaded.",
      refused: "Not uploaded.",
      cancelled: "Cancelled.",
      failed: retryable ? "Stopped: press Retry or Upload to try again." : "Not uploaded.",
    };
    entry.state_line.textContent = words[state] || "";
    entry.row.dataset.state = state;
    const hadFocus = document.activeElement === entry.cancel;
    entry.cancel.hidden = true;
    entry.retry.hidden = !entry.retryable;
    if (hadFocus) {
      // the Cancel just pressed is gone: Retry if offered, else the next file's Cancel
      const after = queue.slice(queue.indexOf(entry) + 1).filter(function (e) {
        return !e.cancel.hidden;
      })[0];
      (entry.retryable ? entry.retry : after ? after.cancel : input).focus();
    }
    if (state === "stored") {
      entry.bar.value = 100;
      entry.bar.textContent = "100%";
    }
    announce(
      entry.file.name + ": " + (messages.length ? messages.map((m) => m.text).join(" ") : words[state])
    );
    updateKeepNote();
  }

  function cancel(entry) {
    if (entry.state === "sending" && entry.stop) {
      entry.stop();
      return;
    }
    // not sent (yet, or any more): it only leaves the queue; focus goes to the next file's
    // Cancel, or back to the file chooser
    const after = queue[queue.indexOf(entry) + 1];
    drop(entry);
    announce(entry.file.name + " removed from the queue.");
    (after && !after.cancel.hidden ? after.cancel : input).focus();
  }

  // ---- sending, one file after the other -------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const going = toSend();
    if (!going.length) {
      announce(queue.length ? "Nothing left to send." : "Choose a file first.");
      input.focus();
      return;
    }
    start(going);
  });

  function start(entries) {
    entries.forEach(function (entry) {
      entry.state = "waiting";
      entry.retry.hidden = true;
      entry.cancel.hidden = false;
      entry.outcome.textContent = "";
      entry.state_line.textContent = "Waiting for its turn.";
      entry.row.dataset.state = "waiting";
    });
    updateKeepNote();
    if (!running) {
      running = true;
      button.disabled = true;
      progressBox.hidden = false;
      sendNext();
    }
  }

  function showOverall() {
    const run = queue.filter(function (entry) {
      return entry.state !== "queued";
    });
    let total = 0;
    let loaded = 0;
    run.forEach(function (entry) {
      total += entry.file.size;
      loaded += entry.state === "stored" ? entry.file.size : entry.loaded;
    });
    if (total) {
      overall.value = Math.floor((loaded / total) * 100);
      overall.textContent = overall.value + "%";
    }
  }

  function sendNext() {
    const entry = queue.filter(function (e) {
      return e.state === "waiting";
    })[0];
    if (!entry) {
      finished();
      return;
    }
    entry.state = "sending";
    entry.row.dataset.state = "sending";
    entry.state_line.textContent = "Uploading…";
    entry.loaded = 0;
    entry.announced = 0;
    announce("Uploading " + entry.file.name + ".");
    const file = entry.file;
    const done = function (state, messages, retryable) {
      settle(entry, state, messages, retryable);
      showOverall();
      sendNext();
    };
    const sender = { entry: entry, file: file, done: done };
    if (encrypting()) {
      if (file.size === 0) {
        failed(sender, "The file is empty (0 bytes); there is nothing to keep.", false);
        return;
      }
      sendInParts(sender, true);
    } else if (partBytes && file.size > partBytes) {
      sendInParts(sender, false);
    } else if (form.dataset.transfer === "direct") {
      sendDirect(sender);
    } else {
      sendThroughSite(sender);
    }
  }

  // The run is over: when the site answered for some file and none waits for a retry, the
  // page is shown again with the queue's outcome kept (its items and messages fresh);
  // otherwise the queue stays, with Retry where it helps.
  function finished() {
    running = false;
    button.disabled = false;
    progressBox.hidden = true;
    showResumeHint();
    const answered = queue.some(function (entry) {
      return entry.answered;
    });
    const waiting = queue.filter(function (entry) {
      return entry.state === "failed" && entry.retryable;
    });
    // a sender's page stays as it is: reloading it would ask for the password again, and the
    // queue already says what became of each file
    if (answered && !waiting.length && !toSend().length && form.dataset.stay === undefined) {
      keepReport();
      window.location.assign(page);
      return;
    }
    if (waiting.length) {
      waiting[0].retry.focus();
    }
  }

  function keepReport() {
    const stored = queue.filter(function (entry) {
      return entry.state === "stored";
    });
    const report = {
      page: page,
      files: queue.map(function (entry) {
        return { name: entry.file.name, size: entry.file.size, state: entry.state, messages: entry.messages };
      }),
      note:
        kept && stored.length > kept
          ? "Only your " + kept + " newest images are kept: " + names(stored.slice(0, stored.length - kept)) +
            " were replaced by the " + kept + " uploaded after them."
          : "",
    };
    try {
      window.sessionStorage.setItem(REPORT_KEY, JSON.stringify(report));
    } catch (ignored) {
      // no storage: the page still shows the items, only not the queue's messages
    }
  }

  function showProgress(entry, loaded, total) {
    if (!total) {
      return;
    }
    entry.loaded = (loaded / total) * entry.file.size;
    const percent = Math.floor((loaded / total) * 100);
    entry.bar.value = percent;
    entry.bar.textContent = percent + "%";
    entry.state_line.textContent = "Uploading… " + percent + "%";
    // told every quarter, not every event: a screen reader would read nothing else
    if (percent >= entry.announced + 25) {
      entry.announced = percent - (percent % 25);
      announce(entry.file.name + ": " + entry.announced + "%");
    }
    showOverall();
  }

  function track(entry, xhr) {
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        showProgress(entry, e.loaded, e.total);
      }
    });
  }

  // The site's answer (stored, refused, cancelled) names the page whose flash says which; a
  // page without a session (a sender's, /r/<token>) has no flashes: its answers carry the words.
  function answered(sender, responseText) {
    let target = page;
    let said = null;
    try {
      const parsed = JSON.parse(responseText);
      target = parsed.redirect || target;
      said = parsed.messages || null;
    } catch (ignored) {
      // a non-JSON answer (a proxy's error page): the page's flash explains
    }
    sender.entry.answered = true;
    if (said) {
      const refusal = said.some(function (m) {
        return m.level === "error";
      });
      const withdrawn = said.some(function (m) {
        return m.text === "The upload was cancelled.";
      });
      sender.done(refusal ? "refused" : withdrawn ? "cancelled" : "stored", said);
      return;
    }
    pageAfter(target).then(
      function (messages) {
        const refused = messages.some(function (m) {
          return m.level === "error";
        });
        const cancelled = messages.some(function (m) {
          return m.text === "The upload was cancelled.";
        });
        sender.done(refused ? "refused" : cancelled ? "cancelled" : "stored", messages);
      },
      function () {
        sender.done("stored", []);
      }
    );
  }

  function failed(sender, text, retryable) {
    sender.done("failed", [{ script: true, text: text }], retryable);
  }

  function lost(sender) {
    failed(sender, "The upload failed: the connection was lost. Please try again.", true);
  }

  function formBody(file) {
    const data = new FormData();
    const secret = form.querySelector('input[name="password"]');
    if (secret) {
      data.append("password", secret.value);
    }
    const field = form.querySelector('input[name="description"]');
    if (field) {
      data.append("description", field.value); // first: it arrives before the file
    }
    data.append("file", file, file.name);
    return data;
  }

  function sendThroughSite(sender) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    track(sender.entry, xhr);
    xhr.addEventListener("load", function () {
      if (xhr.status === 413) {
        // refused by a proxy in front of the site before it arrived (its body limit)
        failed(sender, "That file is larger than this site accepts in one request.", false);
        return;
      }
      answered(sender, xhr.responseText);
    });
    xhr.addEventListener("error", function () {
      lost(sender);
    });
    xhr.addEventListener("abort", function () {
      // the site drops what arrived of a request cut short: nothing is stored
      sender.done("cancelled", [{ level: "success", text: "The upload was cancelled." }]);
    });
    sender.entry.stop = function () {
      xhr.abort();
    };
    xhr.send(formBody(sender.file));
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

  // An upload's start: its name, description and size, and the password of a sender's page
  // (an upload request's, asked again at every start: the page keeps no session).
  function startBody(file, inParts) {
    const body = { filename: file.name, description: description(), size: file.size };
    if (inParts) {
      body.in_parts = true;
    }
    const secret = form.querySelector('input[name="password"]');
    if (secret) {
      body.password = secret.value;
    }
    return body;
  }

  // `direct` mode, one request: the site starts the upload (the row, a POST policy for this
  // one file), the browser posts the bytes to S3, then the site checks what arrived.
  function sendDirect(sender) {
    const file = sender.file;
    let cancelled = false;
    let s3 = null;
    let path = "";
    sender.entry.stop = function () {
      cancelled = true;
      if (s3) {
        s3.abort();
      }
    };
    // the site undoes the upload and says why (cancelled, or in the words it uses when it
    // cannot reach S3 itself)
    function undo(code) {
      siteCall("POST", path + "/abort", { s3_code: code }).then(function (done) {
        answered(sender, done.responseText);
      }, function () {
        lost(sender);
      });
    }
    const started = startBody(file, false);
    siteCall("POST", "", started).then(function (xhr) {
      const ticket = answer(xhr);
      if (!ticket || !ticket.ok || !ticket.post_url) {
        answered(sender, xhr.responseText);
        return;
      }
      path = "/" + ticket.item_id;
      if (cancelled) {
        undo("");
        return;
      }
      const data = new FormData();
      Object.keys(ticket.fields).forEach(function (name) {
        data.append(name, ticket.fields[name]);
      });
      data.append("file", file);
      s3 = new XMLHttpRequest();
      s3.open("POST", ticket.post_url);
      track(sender.entry, s3);
      s3.addEventListener("load", function () {
        if (s3.status >= 200 && s3.status < 300) {
          complete(sender, path, 1);
          return;
        }
        const code = /<Code>([^<]{1,64})<\/Code>/.exec(s3.responseText || "");
        undo(code ? code[1] : "Refused");
      });
      s3.addEventListener("error", function () {
        undo("ConnectionLost");
      });
      s3.addEventListener("abort", function () {
        undo(cancelled ? "" : "ConnectionLost");
      });
      // S3's answer never came after the last byte went: taken as lost
      s3.upload.addEventListener("load", function () {
        window.setTimeout(function () {
          if (s3.readyState !== XMLHttpRequest.DONE) {
            s3.abort();
          }
        }, S3_ANSWER_MS);
      });
      s3.send(data);
    }, function () {
      lost(sender);
    });
  }

  // Completion is idempotent: an answer lost on the way is asked for once more.
  function complete(sender, path, retries) {
    siteCall("POST", path + "/complete", {}).then(
      function (done) {
        answered(sender, done.responseText);
      },
      function () {
        if (retries > 0) {
          complete(sender, path, retries - 1);
        } else {
          lost(sender);
        }
      }
    );
  }

  // In parts (files larger than one part), either mode: an S3 multipart upload that
  // storage-api started (the row first), driven by Uppy. Each part goes where the site says:
  // S3's presigned URL (`direct`) or the site itself (`proxy`). The parts S3 holds are kept
  // when the connection drops; Retry (or Upload), or choosing the same file after a reload,
  // sends only the rest.
  //
  // Encrypted (`encrypt`): the file is cut at record-aligned plaintext sizes and each part is
  // sealed just before it is sent (encrypted.js); storage-api signs the ciphertext's lengths.
  // A resume takes the secret back from IndexedDB and checks each part's bytes are the same.
  function sendInParts(sender, encrypt) {
    const file = sender.file;
    const key = fingerprint(file);
    let pending = readPending()[key];
    if (pending && Boolean(pending.encrypted) !== encrypt) {
      pending = null; // resumed only as it began: encrypted or not
    }
    let sealing = null; // the encryption's keys and sizes, once known
    const partSize = encrypt
      ? 8386432 // ece.js PART_PLAINTEXT: 128 records of 65,519 bytes
      : pending
        ? pending.part_size
        : partSizeFor(file.size, partBytes);
    const signed = {};
    let next = null; // the site's last word (stored, or refused): it names the page to show
    let stopped = ""; // why the site refused a part (the upload was deleted or expired)
    let current = pending ? pending.item_id : null;
    let cancelled = false;
    const uppy = new Uppy({ autoProceed: false, allowMultipleUploadBatches: true });

    function refused(xhr) {
      next = xhr;
      return new Error("refused by the site");
    }

    function forget() {
      const all = readPending();
      delete all[key];
      writePending(all);
    }

    // the bytes changed under a resumed encrypted upload: the site drops it, the resume
    // record goes (the next try draws a new secret)
    function abortChanged() {
      forget();
      resumeStore.remove(key);
      if (current) {
        siteCall("POST", "/" + current + "/abort", { s3_code: "" });
      }
    }

    uppy.use(AwsS3, {
      shouldUseMultipart: true,
      limit: 4,
      getChunkSize: function () {
        return partSize;
      },
      createMultipartUpload: async function () {
        const started = startBody(file, true);
        if (encrypt) {
          sealing = await newEncryption(file, description(), encryptionPassword());
          Object.assign(started, sealing.startFields);
        }
        return siteCall("POST", "", started).then(async function (xhr) {
          const ticket = answer(xhr);
          if (!ticket || !ticket.ok) {
            throw refused(xhr);
          }
          if (ticket.part_size !== (encrypt ? sealing.partSize : partSize)) {
            // the site's part size is not the one the file was cut by: abort, say so
            siteCall("POST", "/" + ticket.item_id + "/abort", { s3_code: "PartSize" });
            throw new Error("part size mismatch");
          }
          current = ticket.item_id;
          if (encrypt) {
            sealing.record.item_id = ticket.item_id;
            await resumeStore.put(key, sealing.record);
          }
          const all = readPending();
          all[key] = { item_id: ticket.item_id, part_size: partSize, encrypted: encrypt };
          writePending(all);
          if (cancelled) {
            abortOnSite();
            throw new Error("cancelled");
          }
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
          return { method: "PUT", url: url, headers: headers, partNumber: number };
        });
      },
      // encrypted: each part sealed just before it goes (the signature carries its number)
      uploadPartBytes: function (options) {
        if (!encrypt) {
          return AwsS3.uploadPartBytes(options);
        }
        return sealPart(sealing, key, options.signature.partNumber, options.body).then(
          function (sealed) {
            // progress in the file's own bytes: the sealed part is a little larger
            const ratio = options.body.size / sealed.size;
            const onProgress = function (event) {
              options.onProgress({ loaded: Math.floor(event.loaded * ratio), lengthComputable: true });
            };
            return AwsS3.uploadPartBytes(
              Object.assign({}, options, { body: sealed, size: sealed.size, onProgress: onProgress })
            );
          },
          function (error) {
            if (error instanceof FileChanged) {
              stopped =
                "The file changed since its upload began: it is sent again from the start, with a new key.";
              abortChanged();
            }
            throw error;
          }
        );
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
            if (encrypt) {
              if (xhr.status === 200) {
                rememberKey(opts.uploadId, sealing.record);
              }
              resumeStore.remove(key);
            }
            next = xhr; // stored or refused: either way the flash on the page says which
            return {};
          }
        );
      },
      // Cancel aborts through `abortOnSite` (once); Uppy's own call has nothing left to do.
      abortMultipartUpload: function () {
        return Promise.resolve();
      },
    });

    uppy.on("upload-progress", function (f, progress) {
      showProgress(sender.entry, progress.bytesUploaded, progress.bytesTotal);
    });
    uppy.on("complete", function (result) {
      if (cancelled) {
        return; // told by `abortOnSite`
      }
      uppy.destroy();
      if (next) {
        answered(sender, next.responseText);
      } else if (stopped) {
        forget();
        failed(sender, stopped, true);
      } else if (result.failed && result.failed.length) {
        whyItFailed();
      }
    });

    // A part failed: the upload was ended on the site (deleted, expired: it says why), or the
    // connection was lost (the parts S3 holds are kept for the next try).
    function whyItFailed() {
      const lostConnection = function () {
        failed(
          sender,
          "The connection was lost. Press Upload to resume: the parts already sent are kept.",
          true
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
        failed(sender, held.detail, false);
      }, lostConnection);
    }

    // Cancel: stop sending at once, then abort the multipart upload (S3 drops its parts, the
    // row goes); the page's flash says it was cancelled.
    function abortOnSite() {
      forget();
      if (!current) {
        sender.done("cancelled", [{ level: "success", text: "The upload was cancelled." }]);
        return;
      }
      siteCall("POST", "/" + current + "/abort", { s3_code: "" }).then(function (xhr) {
        answered(sender, xhr.responseText);
      }, function () {
        lost(sender);
      });
    }

    sender.entry.stop = function () {
      cancelled = true;
      uppy.cancelAll();
      uppy.destroy();
      if (current) {
        abortOnSite(); // else once the site has started it (createMultipartUpload)
      }
    };

    function go() {
      const id = uppy.addFile({ name: file.name, type: file.type, data: file, source: "upload" });
      if (pending) {
        // a reload or a lost connection: Uppy asks which parts S3 holds and sends the rest
        uppy.setFileState(id, { s3Multipart: { uploadId: pending.item_id, key: pending.item_id } });
      }
      uppy.upload().catch(function () {
        // told through the `complete` event above
      });
    }
    if (!(encrypt && pending)) {
      go();
      return;
    }
    // an encrypted upload resumes with the secret it began with, or not at all
    resumeStore.get(key).then(
      function (record) {
        if (!record || record.item_id !== pending.item_id) {
          pending = null;
          forget();
          return;
        }
        return fromRecord(file, record).then(function (ctx) {
          sealing = ctx;
        });
      },
      function () {
        pending = null;
        forget();
      }
    ).then(go, go);
  }

  // ---- ways in: the chooser, a drop anywhere on the page, a paste ------------------------

  input.addEventListener("change", function () {
    add(input.files || []);
    input.value = ""; // the same file may be chosen again (to resume it)
  });

  // Uppy's drop target takes the files dropped anywhere on the page (folders included) and
  // marks the page while files are dragged over it; the queue takes them from there.
  const dropped = new Uppy({ allowMultipleUploadBatches: true });
  dropped.use(DropTarget, { target: document.body });
  dropped.on("files-added", function (files) {
    add(
      files.map(function (f) {
        return f.data;
      })
    );
    dropped.clear();
  });

  document.addEventListener("paste", function (event) {
    const files = event.clipboardData ? event.clipboardData.files : [];
    if (files && files.length) {
      event.preventDefault();
      add(files);
    }
  });

  showResumeHint();
  showReport();

  // After the page was shown again: what happened to each file of the last queue.
  function showReport() {
    let report = null;
    try {
      report = JSON.parse(window.sessionStorage.getItem(REPORT_KEY) || "null");
      window.sessionStorage.removeItem(REPORT_KEY);
    } catch (ignored) {
      return;
    }
    if (!report || report.page !== page) {
      return;
    }
    const box = element("div", "upload-report");
    box.setAttribute("role", "status");
    box.tabIndex = -1;
    box.appendChild(element("h3", "", "Your last upload"));
    if (report.note) {
      box.appendChild(element("p", "keep-note", report.note));
    }
    const rows = element("ul", "queue");
    report.files.forEach(function (f) {
      const row = element("li", "queue-item");
      row.dataset.state = f.state;
      const body = element("div", "queue-body");
      const title = element("p", "queue-name", f.name);
      title.appendChild(element("span", "hint", " · " + humanSize(f.size)));
      body.appendChild(title);
      f.messages.forEach(function (message) {
        body.appendChild(messageLine(message));
      });
      row.appendChild(body);
      rows.appendChild(row);
    });
    box.appendChild(rows);
    form.querySelector("h2").after(box);
    box.focus();
  }
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
  window.setInterval(function () {
    const now = Date.now();
    // asked each time: the items are replaced after an upload, each counting from when shown
    const clocks = document.querySelectorAll("time[data-seconds-left]");
    for (let i = 0; i < clocks.length; i++) {
      const clock = clocks[i];
      clock.dataset.shownAt = clock.dataset.shownAt || String(now);
      const elapsed = Math.floor((now - parseInt(clock.dataset.shownAt, 10)) / 1000);
      clock.textContent = duration(parseInt(clock.dataset.secondsLeft, 10) - elapsed);
    }
  }, 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  repairFragment();
  const forms = document.querySelectorAll("form.upload");
  for (let i = 0; i < forms.length; i++) {
    enhance(forms[i]);
  }
  showEncryptedItems(document).catch(function () {
    // placeholders stay
  });
  enhanceSharePage(document).catch(function () {
    // the encrypted file and the command stay
  });
  countDown();
});
