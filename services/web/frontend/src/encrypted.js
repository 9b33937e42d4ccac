// "Encrypt in this browser" (docs/encryption.md): what upload.js needs to send a file
// encrypted (its keys, its parts sealed one by one, what resuming needs kept in IndexedDB)
// and what the owner's page does with encrypted items (their names decrypted here, the key
// added to share links after '#', which browsers never send).
import {
  Decryptor,
  HEADER_FIXED_SIZE,
  Layout,
  PART_PLAINTEXT,
  PART_SIZE,
  SALT_SIZE,
  decodeBase64url,
  decodeSecret,
  decryptMetadata,
  encodeBase64url,
  encryptMetadata,
  encryptPart,
  fileKeys,
  newKeyid,
  parseHeader,
  passwordSalt,
  randomBytes,
  rootKey,
  keysFromRoot,
} from "./ece.js";

const DB_NAME = "s3tasks-encrypted-uploads";
const STORE = "uploads";
// item id -> the key material its owner's page opens it with (this browser only)
const KEYS_KEY = "s3tasks.item-keys";

function database() {
  return new Promise(function (resolve, reject) {
    const request = window.indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = function () {
      request.result.createObjectStore(STORE);
    };
    request.onsuccess = function () {
      resolve(request.result);
    };
    request.onerror = function () {
      reject(request.error);
    };
  });
}

function stored(mode, act) {
  return database().then(function (db) {
    return new Promise(function (resolve, reject) {
      const transaction = db.transaction(STORE, mode);
      const request = act(transaction.objectStore(STORE));
      transaction.oncomplete = function () {
        resolve(request.result);
      };
      transaction.onerror = function () {
        reject(transaction.error);
      };
    });
  });
}

export const resumeStore = {
  get: (fingerprint) => stored("readonly", (store) => store.get(fingerprint)),
  put: (fingerprint, record) => stored("readwrite", (store) => store.put(record, fingerprint)),
  remove: (fingerprint) => stored("readwrite", (store) => store.delete(fingerprint)),
};

function readKeys() {
  try {
    return JSON.parse(window.localStorage.getItem(KEYS_KEY) || "{}") || {};
  } catch (ignored) {
    return {};
  }
}

export function rememberKey(itemId, record) {
  const all = readKeys();
  all[itemId] = { secret: record.secret, root: record.root };
  try {
    window.localStorage.setItem(KEYS_KEY, JSON.stringify(all));
  } catch (ignored) {
    // storage full or refused: the page shows placeholders, the link lacks its key
  }
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function sha256(bytes) {
  return encodeBase64url(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

// A new encrypted upload of `file`: a fresh secret (never one used before), its keys, the
// encrypted metadata, the sizes storage-api signs. What resuming needs is in `record`.
export async function newEncryption(file, description, password) {
  const secret = randomBytes(16);
  const keyid = newKeyid(password || null);
  const root = await rootKey(secret, keyid, password || null);
  const keys = await keysFromRoot(root); // Argon2id once
  const header = { salt: randomBytes(SALT_SIZE), recordSize: 65536, keyid, size: HEADER_FIXED_SIZE + keyid.length };
  const metadata = await encryptMetadata(keys, keyid, {
    name: file.name,
    type: file.type || "application/octet-stream",
    description: description,
  });
  const record = {
    secret: encodeBase64url(secret),
    root: encodeBase64url(root),
    salt: encodeBase64url(header.salt),
    keyid: encodeBase64url(keyid),
    metadata: toBase64(metadata),
    digests: {},
  };
  return fromRecord(file, record);
}

// The upload resumed from what IndexedDB kept: the same secret and salt, so parts sealed
// again are the same bytes, as long as the file's bytes are (each part's digest is checked).
export async function fromRecord(file, record) {
  const keyid = decodeBase64url(record.keyid);
  const header = {
    salt: decodeBase64url(record.salt),
    recordSize: 65536,
    keyid,
    size: HEADER_FIXED_SIZE + keyid.length,
  };
  const keys = await keysFromRoot(decodeBase64url(record.root));
  const layout = new Layout(file.size, header.size);
  return {
    record,
    header,
    keys,
    layout,
    chunkSize: PART_PLAINTEXT,
    partSize: PART_SIZE + header.size,
    startFields: {
      filename: "encrypted",
      description: "",
      size: layout.ciphertextSize,
      encryption: { header_size: header.size, metadata: record.metadata },
    },
  };
}

export class FileChanged extends Error {}

// Part `number` sealed from its plaintext chunk. A part sealed before (a retry, a resume) must
// come from the same bytes, or the same key and nonces would seal other plaintext: refused.
export async function sealPart(ctx, fingerprint, number, chunk) {
  const plaintext = new Uint8Array(await chunk.arrayBuffer());
  const digest = await sha256(plaintext);
  const seen = ctx.record.digests[number];
  if (seen && seen !== digest) {
    throw new FileChanged("the file changed since its upload began");
  }
  if (!seen) {
    ctx.record.digests[number] = digest;
    await resumeStore.put(fingerprint, ctx.record);
  }
  const sealed = await encryptPart(ctx.keys.content, ctx.header, ctx.layout.plaintextSize, number, plaintext);
  return new Blob([sealed], { type: "application/octet-stream" });
}

// The owner's page: names and descriptions of encrypted items decrypted with the keys this
// browser kept; share links completed with the key after '#'.
export async function showEncryptedItems(root) {
  const keys = readKeys();
  const cards = root.querySelectorAll("[data-encrypted-metadata]");
  for (const card of cards) {
    const kept = keys[card.dataset.itemId];
    if (!kept) {
      continue; // uploaded from another browser: the placeholder stays
    }
    try {
      const opened = await decryptMetadata(
        await keysFromRoot(decodeBase64url(kept.root)),
        fromBase64(card.dataset.encryptedMetadata),
      );
      card.querySelectorAll(".encrypted-name").forEach(function (el) {
        el.textContent = opened.name;
      });
      card.querySelectorAll(".encrypted-description").forEach(function (el) {
        el.textContent = opened.description || "—";
      });
    } catch (ignored) {
      continue;
    }
    card.querySelectorAll("input.share-url").forEach(function (field) {
      if (field.value.indexOf("#") >= 0) return;
      field.value = field.value + "#" + kept.secret;
      const note = document.createElement("p");
      note.className = "hint key-note";
      note.textContent =
        "The key is the part after “#”: this site never sees it. Chat and mail previews may read the whole link; to keep the key out of them, send the link without it and the key separately: " +
        kept.secret;
      field.closest(".share-copy").after(note);
    });
  }
}

// A link scanner or chat that wrote '#' as '%23' sent the key to the server, which answered
// the page of a link that does not exist (and logged the segment by its hash only): the key is
// moved back after '#', where no request carries it.
export function repairFragment() {
  const moved = /^\/s\/([A-Za-z0-9_-]{43})(?:%23|%2523)([A-Za-z0-9_-]{22})\/?$/i.exec(window.location.pathname);
  if (moved) {
    window.location.replace("/s/" + moved[1] + "#" + moved[2]);
  }
}

function said(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const alert = doc.querySelector(".flash-error, [role=alert]");
  if (alert) return alert.textContent.trim();
  const lead = doc.querySelector("main p, p");
  return lead ? lead.textContent.trim() : "The download was refused.";
}

function addDetail(list, term, value, className) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.className = className;
  dd.textContent = value;
  list.prepend(dt, dd);
}

// A share link's page of an encrypted file: the key from the fragment (never sent), a key
// password if the key id says so, the metadata decrypted before anything is downloaded (a
// wrong key or password is told without a counted download), then Download fetches the
// ciphertext through the usual grant and decrypts it here into a Blob (up to the site's cap).
export async function enhanceSharePage(doc) {
  const card = doc.querySelector(".card.shared[data-encrypted-metadata]");
  if (!card) return;
  // another key pasted into the address bar changes the fragment only: start again with it
  window.addEventListener("hashchange", function () {
    window.location.reload();
  });
  const state = card.querySelector(".encrypted-state");
  const form = card.querySelector("form");
  const decryptButton = form.querySelector(".decrypt-download");
  const blob = fromBase64(card.dataset.encryptedMetadata);
  const cap = parseInt(card.dataset.blobMax || "0", 10);
  const fragment = window.location.hash.slice(1);
  if (!fragment) {
    state.textContent =
      "This link has no key (the part after “#”): ask its sender for the whole link, or download the encrypted file and decrypt it with the key.";
    return;
  }
  let secret;
  let keyid;
  let salt;
  try {
    secret = decodeSecret(fragment);
    keyid = parseHeader(blob).keyid;
    salt = passwordSalt(keyid);
  } catch (error) {
    state.textContent = error.message;
    return;
  }
  card.querySelectorAll(".key-text").forEach(function (el) {
    el.textContent = fragment;
  });
  const passwordBox = card.querySelector(".key-password");

  async function open(password) {
    state.textContent = password ? "Opening the key with its password…" : "Decrypting the name…";
    let keys;
    let meta;
    try {
      keys = await fileKeys(secret, keyid, password);
      meta = await decryptMetadata(keys, blob);
    } catch (error) {
      state.textContent = password
        ? "The key password is wrong (or the link's key is): nothing was downloaded or counted."
        : "The link's key is wrong: the name could not be decrypted, and nothing was downloaded or counted.";
      return;
    }
    passwordBox.hidden = true;
    const list = card.querySelector("dl");
    if (meta.description) addDetail(list, "Description", meta.description, "description");
    addDetail(list, "Name", meta.name, "share-name");
    state.textContent = "Decrypted in your browser. Download saves the decrypted file.";
    decryptButton.hidden = false;
    form.addEventListener("submit", function (event) {
      if (event.submitter !== decryptButton) return; // the encrypted file, as the form sends it
      event.preventDefault();
      decryptButton.disabled = true;
      downloadDecrypted(form, state, keys, meta, cap).finally(function () {
        decryptButton.disabled = false;
      });
    });
  }

  if (salt) {
    passwordBox.hidden = false;
    state.textContent = "The key needs its password.";
    passwordBox.querySelector("button").addEventListener("click", function () {
      open(passwordBox.querySelector("input").value);
    });
  } else {
    await open(null);
  }
}

// The decrypting service worker, where the browser runs one (not in Firefox's private windows,
// nor where service workers are off): null when there is none to use.
async function decryptWorker(card) {
  const url = card.dataset.worker;
  if (!url || !("serviceWorker" in navigator)) return null;
  try {
    const registration = await navigator.serviceWorker.register(url, { scope: "/static/decrypt/" });
    const worker = registration.active || registration.waiting || registration.installing;
    if (!worker) return null;
    if (worker.state !== "activated") {
      await new Promise(function (resolve) {
        worker.addEventListener("statechange", function () {
          if (worker.state === "activated") resolve();
        });
      });
    }
    return worker;
  } catch (error) {
    return null;
  }
}

// Streamed to disk through the service worker: memory bounded whatever the size.
function downloadThroughWorker(worker, form, state, keys, meta) {
  return new Promise(function (resolve) {
    const jobId = Array.from(randomBytes(16), (b) => b.toString(16).padStart(2, "0")).join("");
    const channel = new MessageChannel();
    const frame = document.createElement("iframe");
    frame.hidden = true;
    frame.title = "download";
    channel.port1.onmessage = function (event) {
      const message = event.data;
      if (message.ready) {
        state.textContent = "Downloading and decrypting…";
        frame.src = "/static/decrypt/" + jobId;
        document.body.appendChild(frame);
      } else if (message.received) {
        if (message.length) {
          state.textContent = "Decrypting… " + Math.floor((100 * message.received) / message.length) + "%";
        }
      } else if (message.done) {
        state.textContent = "Decrypted and saved: " + meta.name;
        resolve();
      } else if (message.refused) {
        state.textContent = said(message.refused);
        resolve();
      } else if (message.error) {
        state.textContent = "The file did not decrypt (" + message.error + "): the download was stopped, nothing was saved.";
        resolve();
      }
    };
    worker.postMessage(
      {
        id: jobId,
        action: form.action,
        fields: Array.from(new FormData(form).entries()),
        content: keys.content,
        name: meta.name,
      },
      [channel.port2]
    );
  });
}

async function downloadDecrypted(form, state, keys, meta, cap) {
  const worker = await decryptWorker(form.closest("[data-encrypted-metadata]"));
  if (worker) {
    await downloadThroughWorker(worker, form, state, keys, meta);
    return;
  }
  state.textContent = "Downloading…";
  let response;
  try {
    response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
  } catch (error) {
    state.textContent = "The download could not be started: the connection was lost.";
    return;
  }
  if (!response.ok || (response.headers.get("content-type") || "").indexOf("text/html") === 0) {
    state.textContent = said(await response.text());
    return;
  }
  const length = parseInt(response.headers.get("content-length") || "0", 10);
  if (cap && length > cap) {
    await response.body.cancel();
    state.textContent =
      "This file is larger than this page decrypts in memory (" +
      (form.closest("[data-blob-max-words]").dataset.blobMaxWords || "") +
      "): use “Download the encrypted file” and the command below. This download was counted.";
    return;
  }
  const decryptor = new Decryptor(async () => keys.content);
  const reader = response.body.getReader();
  const pieces = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      pieces.push(...(await decryptor.push(value)));
      if (length) state.textContent = "Decrypting… " + Math.floor((100 * received) / length) + "%";
    }
    pieces.push(...(await decryptor.end()));
  } catch (error) {
    state.textContent = "The file did not decrypt (" + error.message + "): nothing was saved.";
    return;
  }
  const file = new Blob(pieces, { type: meta.type || "application/octet-stream" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(file);
  link.download = meta.name || "download";
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(function () {
    URL.revokeObjectURL(link.href);
  }, 60000);
  state.textContent = "Decrypted and saved: " + meta.name;
}
