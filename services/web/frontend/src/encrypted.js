// "Encrypt in this browser" (docs/encryption.md): what upload.js needs to send a file
// encrypted (its keys, its parts sealed one by one, what resuming needs kept in IndexedDB)
// and what the owner's page does with encrypted items (their names decrypted here, the key
// added to share links after '#', which browsers never send).
import {
  HEADER_FIXED_SIZE,
  Layout,
  PART_PLAINTEXT,
  PART_SIZE,
  SALT_SIZE,
  decodeBase64url,
  decryptMetadata,
  encodeBase64url,
  encryptMetadata,
  encryptPart,
  fileKeys,
  newKeyid,
  randomBytes,
  rootKey,
  LABELS,
  KEY_SIZE,
  hkdf,
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

async function derivedKeys(root) {
  const derive = (info) => hkdf({ ikm: root, salt: new Uint8Array(0), info, length: KEY_SIZE });
  return {
    content: await derive(LABELS.content),
    metadata: await derive(LABELS.metadata),
    preview: await derive(LABELS.preview),
  };
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
  const keys = await fileKeys(secret, keyid, password || null);
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
  const keys = await derivedKeys(decodeBase64url(record.root));
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
        await derivedKeys(decodeBase64url(kept.root)),
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
      if (field.value.indexOf("#") < 0) {
        field.value = field.value + "#" + kept.secret;
      }
    });
  }
}
