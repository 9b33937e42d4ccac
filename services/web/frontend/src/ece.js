// s3tasks' end-to-end encrypted format in the browser, the twin of packages/ece (Python):
// RFC 8188 `aes128gcm` through WebCrypto (HKDF-SHA256 and AES-128-GCM, no JavaScript cipher),
// 64 KiB records, 128 records to an 8 MiB S3 part, the header at the start of part 1; each
// part sealed on its own from (key, salt, part number, plaintext size), so parts go in any
// order and a retried part is the same bytes. docs/encryption.md states every constant here.
import { argon2id } from "hash-wasm";

export const SALT_SIZE = 16;
export const TAG_SIZE = 16;
export const KEY_SIZE = 16;
export const NONCE_SIZE = 12;
export const HEADER_FIXED_SIZE = SALT_SIZE + 4 + 1;
export const MIN_RECORD_SIZE = TAG_SIZE + 2;
export const RECORD_SIZE = 65536;
export const RECORD_PLAINTEXT = RECORD_SIZE - TAG_SIZE - 1;
export const RECORDS_PER_PART = 128;
export const PART_SIZE = RECORD_SIZE * RECORDS_PER_PART;
export const PART_PLAINTEXT = RECORD_PLAINTEXT * RECORDS_PER_PART;
export const SECRET_SIZE = 16;
export const METADATA_RECORD_SIZE = 4096;

// RFC 9106 section 4, second recommended option: Argon2id, t=3, p=4, m=64 MiB, 256-bit tag.
export const ARGON2 = { iterations: 3, parallelism: 4, memorySize: 64 * 1024, hashLength: 32 };
export const ARGON2_SALT_SIZE = 16;
const PASSWORD_KEYID_PREFIX = "argon2id:";

const text = new TextEncoder();
const CEK_INFO = text.encode("Content-Encoding: aes128gcm\0");
const NONCE_INFO = text.encode("Content-Encoding: nonce\0");
export const LABELS = {
  password: text.encode("s3tasks v1 password"),
  content: text.encode("s3tasks v1 content"),
  metadata: text.encode("s3tasks v1 metadata"),
  preview: text.encode("s3tasks v1 preview"),
};
const DIAGNOSE_REACH = 256;

export class DecryptError extends Error {
  constructor(message) {
    super(message);
    this.name = "DecryptError";
  }
}

export function randomBytes(size) {
  return crypto.getRandomValues(new Uint8Array(size));
}

export function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function encodeBase64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeBase64url(value) {
  const cleaned = value.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(cleaned + "=".repeat((4 - (cleaned.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// The key as the link's fragment carries it: 16 bytes, base64url without padding.
export function decodeSecret(value) {
  let secret;
  try {
    secret = decodeBase64url(value.trim().replace(/^#/, ""));
  } catch (error) {
    throw new DecryptError("the key is not base64url text (the part of the link after '#')");
  }
  if (secret.length !== SECRET_SIZE) {
    throw new DecryptError(
      `the key is ${secret.length} bytes, not ${SECRET_SIZE}: copy the whole part of the link after '#'`,
    );
  }
  return secret;
}

// HKDF (RFC 5869) with SHA-256; an empty salt is the RFC's default.
export async function hkdf({ ikm, salt, info, length }) {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

export function encodeHeader({ salt, recordSize, keyid = new Uint8Array(0) }) {
  const header = new Uint8Array(HEADER_FIXED_SIZE + keyid.length);
  header.set(salt, 0);
  new DataView(header.buffer).setUint32(SALT_SIZE, recordSize);
  header[SALT_SIZE + 4] = keyid.length;
  header.set(keyid, HEADER_FIXED_SIZE);
  return header;
}

// The header at the start of `data` (which may hold more): {salt, recordSize, keyid, size}.
export function parseHeader(data) {
  if (data.length < HEADER_FIXED_SIZE) {
    throw new DecryptError(
      `not an aes128gcm file: ${data.length} bytes, too short for the ${HEADER_FIXED_SIZE}-byte header`,
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const recordSize = view.getUint32(SALT_SIZE);
  const idlen = data[SALT_SIZE + 4];
  if (recordSize < MIN_RECORD_SIZE) {
    throw new DecryptError(
      `not an aes128gcm file: its record size ${recordSize} is below the minimum ${MIN_RECORD_SIZE}`,
    );
  }
  if (data.length < HEADER_FIXED_SIZE + idlen) {
    throw new DecryptError("not an aes128gcm file: the header's key id is cut short");
  }
  return {
    salt: data.slice(0, SALT_SIZE),
    recordSize,
    keyid: data.slice(HEADER_FIXED_SIZE, HEADER_FIXED_SIZE + idlen),
    size: HEADER_FIXED_SIZE + idlen,
  };
}

// The content-encryption key and base nonce of one message (RFC 8188 sections 2.2, 2.3);
// records sealed and opened by sequence number, in any order.
export async function recordCipher(ikm, salt) {
  const cek = await hkdf({ ikm, salt, info: CEK_INFO, length: KEY_SIZE });
  const base = await hkdf({ ikm, salt, info: NONCE_INFO, length: NONCE_SIZE });
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt", "decrypt"]);
  const nonce = (seq) => {
    const iv = base.slice();
    // the sequence number XORed into the last 8 bytes (a 96-bit big-endian integer whose
    // upper 32 bits stay zero for any file below 2^48 records)
    const view = new DataView(iv.buffer);
    view.setUint32(4, view.getUint32(4) ^ Math.floor(seq / 2 ** 32));
    view.setUint32(8, view.getUint32(8) ^ seq % 2 ** 32);
    return iv;
  };
  return {
    nonce,
    async seal(seq, plaintext, last) {
      const padded = new Uint8Array(plaintext.length + 1);
      padded.set(plaintext);
      padded[plaintext.length] = last ? 2 : 1;
      const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(seq) }, key, padded);
      return new Uint8Array(sealed);
    },
    async open(seq, record) {
      let padded;
      try {
        padded = new Uint8Array(
          await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce(seq) }, key, record),
        );
      } catch (error) {
        throw new DecryptError(`record ${seq} failed authentication`);
      }
      let end = padded.length;
      while (end > 0 && padded[end - 1] === 0) end -= 1;
      if (end === 0 || (padded[end - 1] !== 1 && padded[end - 1] !== 2)) {
        throw new DecryptError(`record ${seq} has no valid padding delimiter`);
      }
      return { plaintext: padded.subarray(0, end - 1), last: padded[end - 1] === 2 };
    },
    async authenticates(seq, record) {
      try {
        await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce(seq) }, key, record);
        return true;
      } catch (error) {
        return false;
      }
    },
  };
}

// One whole message, records of `recordSize` (the last one shorter), no padding.
export async function encrypt(plaintext, ikm, { salt, recordSize, keyid }) {
  const cipher = await recordCipher(ikm, salt);
  const perRecord = recordSize - TAG_SIZE - 1;
  const count = Math.max(1, Math.ceil(plaintext.length / perRecord));
  const records = [encodeHeader({ salt, recordSize, keyid })];
  for (let seq = 0; seq < count; seq += 1) {
    const piece = plaintext.subarray(seq * perRecord, (seq + 1) * perRecord);
    records.push(await cipher.seal(seq, piece, seq === count - 1));
  }
  return concat(records);
}

// Decrypts a message fed in chunks of any size, holding at most two records: `push(chunk)`
// and `end()` each answer the plaintext that became certain. `ikmFor(header)` answers the key.
export class Decryptor {
  constructor(ikmFor) {
    this.ikmFor = ikmFor;
    this.pending = new Uint8Array(0);
    this.header = null;
    this.cipher = null;
    this.seq = 0;
    this.offset = 0;
    this.done = false;
    this.trailing = 0;
  }

  async push(chunk) {
    if (this.done) {
      this.trailing += chunk.length;
      return [];
    }
    this.pending = concat([this.pending, chunk]);
    if (!this.header) {
      if (this.pending.length < HEADER_FIXED_SIZE) return [];
      if (this.pending.length < HEADER_FIXED_SIZE + this.pending[SALT_SIZE + 4]) return [];
      this.header = parseHeader(this.pending);
      this.cipher = await recordCipher(await this.ikmFor(this.header), this.header.salt);
      this.pending = this.pending.slice(this.header.size);
      this.offset = this.header.size;
    }
    const out = [];
    const size = this.header.recordSize;
    // a record is opened once a byte beyond it arrived: only then is it known not to be the last
    let at = 0;
    while (this.pending.length - at > size) {
      const record = this.pending.subarray(at, at + size);
      const following = this.pending.subarray(at + size, at + 2 * size);
      const { plaintext, last } = await this.openRecord(record, false);
      if (last) throw await this.whyDataFollowsLast(following);
      out.push(plaintext.slice());
      this.offset += size;
      this.seq += 1;
      at += size;
    }
    this.pending = this.pending.slice(at);
    return out;
  }

  async end() {
    if (this.done) {
      if (this.trailing) {
        throw new DecryptError(`${this.trailing} bytes of trailing data follow the last record`);
      }
      return [];
    }
    if (!this.header) {
      parseHeader(this.pending); // throws with the reason when short
    }
    if (this.header && this.pending.length === 0) {
      if (this.seq === 0) {
        throw new DecryptError("the file ends after its header: it has no records (cut short)");
      }
      throw new DecryptError(
        `the file ends without its last record: it was cut short after record ${this.seq - 1}`,
      );
    }
    const { plaintext, last } = await this.openRecord(this.pending, true);
    if (!last) {
      throw new DecryptError(
        `the file ends without its last record: it was cut short after record ${this.seq}`,
      );
    }
    this.done = true;
    return [plaintext.slice()];
  }

  async openRecord(record, final) {
    try {
      return await this.cipher.open(this.seq, record);
    } catch (error) {
      if (!(error instanceof DecryptError)) throw error;
      throw await this.whyRecordFails(record, final);
    }
  }

  async whyRecordFails(record, final) {
    const { seq, offset } = this;
    if (seq === 0) {
      return new DecryptError(
        "the first record failed authentication: wrong key or password, or not this file (or its first bytes are corrupted)",
      );
    }
    for (let candidate = Math.max(0, seq - DIAGNOSE_REACH); candidate <= seq + DIAGNOSE_REACH; candidate += 1) {
      if (candidate !== seq && (await this.cipher.authenticates(candidate, record))) {
        return new DecryptError(
          `record ${seq} (at byte ${offset}) holds the bytes written as record ${candidate}: parts were dropped, repeated or put out of order`,
        );
      }
    }
    if (final) {
      return new DecryptError(
        `the last record (${seq}, at byte ${offset}) failed authentication: the file is corrupted at its end or has bytes appended after it`,
      );
    }
    return new DecryptError(
      `record ${seq} (at byte ${offset}) failed authentication: the file is corrupted there (the records before it were intact)`,
    );
  }

  async whyDataFollowsLast(following) {
    if (await this.cipher.authenticates(this.seq + 1, following)) {
      return new DecryptError(
        `two records are marked as the last: record ${this.seq} and record ${this.seq + 1} after it`,
      );
    }
    return new DecryptError(`trailing data follows the last record (${this.seq})`);
  }
}

export async function decrypt(data, ikm) {
  const decryptor = new Decryptor(async () => ikm);
  const pieces = await decryptor.push(data);
  pieces.push(...(await decryptor.end()));
  return concat(pieces);
}

// s3tasks' layout: where each part's plaintext comes from and how long its ciphertext is.
export class Layout {
  constructor(plaintextSize, headerSize) {
    this.plaintextSize = plaintextSize;
    this.headerSize = headerSize;
    this.records = Math.max(1, Math.ceil(plaintextSize / RECORD_PLAINTEXT));
    this.parts = Math.ceil(this.records / RECORDS_PER_PART);
    this.ciphertextSize = headerSize + plaintextSize + this.records * (TAG_SIZE + 1);
  }

  check(partNumber) {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > this.parts) {
      throw new RangeError(`part ${partNumber} is not in 1..${this.parts}`);
    }
  }

  partRecords(partNumber) {
    this.check(partNumber);
    const first = (partNumber - 1) * RECORDS_PER_PART;
    return [first, Math.min(first + RECORDS_PER_PART, this.records)];
  }

  // The [start, end) byte range of the plaintext that part `partNumber` (1-based) seals.
  partPlaintext(partNumber) {
    this.check(partNumber);
    const start = (partNumber - 1) * PART_PLAINTEXT;
    return [start, Math.min(start + PART_PLAINTEXT, this.plaintextSize)];
  }

  partSize(partNumber) {
    const [start, end] = this.partPlaintext(partNumber);
    const [first, stop] = this.partRecords(partNumber);
    return (partNumber === 1 ? this.headerSize : 0) + (end - start) + (stop - first) * (TAG_SIZE + 1);
  }
}

export function newHeader(keyid = new Uint8Array(0)) {
  return { salt: randomBytes(SALT_SIZE), recordSize: RECORD_SIZE, keyid, size: HEADER_FIXED_SIZE + keyid.length };
}

// Part `partNumber` of the file: the header first in part 1, then its whole records.
export async function encryptPart(contentKey, header, plaintextSize, partNumber, plaintext) {
  const layout = new Layout(plaintextSize, header.size);
  const [start, end] = layout.partPlaintext(partNumber);
  if (plaintext.length !== end - start) {
    throw new RangeError(
      `part ${partNumber} seals plaintext bytes ${start}..${end}: ${end - start} bytes, not ${plaintext.length}`,
    );
  }
  const cipher = await recordCipher(contentKey, header.salt);
  const sealed = partNumber === 1 ? [encodeHeader(header)] : [];
  const [first, stop] = layout.partRecords(partNumber);
  const jobs = [];
  for (let seq = first; seq < stop; seq += 1) {
    const offset = seq * RECORD_PLAINTEXT - start;
    const record = plaintext.subarray(offset, offset + RECORD_PLAINTEXT);
    jobs.push(cipher.seal(seq, record, seq === layout.records - 1));
  }
  sealed.push(...(await Promise.all(jobs)));
  return concat(sealed);
}

// --- keys: the fragment's secret, a password through Argon2id, HKDF-derived file keys ---

export function passwordKeyid(salt) {
  return text.encode(PASSWORD_KEYID_PREFIX + encodeBase64url(salt));
}

// The Argon2id salt the key id carries, null when no password enters the key.
export function passwordSalt(keyid) {
  if (keyid.length === 0) return null;
  const value = new TextDecoder("utf-8", { fatal: false }).decode(keyid);
  if (value.startsWith(PASSWORD_KEYID_PREFIX)) {
    try {
      const salt = decodeBase64url(value.slice(PASSWORD_KEYID_PREFIX.length));
      if (salt.length === ARGON2_SALT_SIZE) return salt;
    } catch (ignored) {
      // an unknown key id, told below
    }
  }
  throw new DecryptError(`unknown key id ${JSON.stringify(value)}: made by another program or a newer s3tasks`);
}

export function newKeyid(password) {
  return password == null ? new Uint8Array(0) : passwordKeyid(randomBytes(ARGON2_SALT_SIZE));
}

export async function argon2idRaw(password, salt) {
  return argon2id({ password, salt, ...ARGON2, outputType: "binary" });
}

// The file's root key: the secret, or HKDF(salt = Argon2id salt, IKM = secret || Argon2id(...)).
export async function rootKey(secret, keyid, password) {
  const salt = passwordSalt(keyid);
  if (salt === null) return secret;
  if (password == null) {
    throw new DecryptError("this file was encrypted with a password: give it");
  }
  const stretched = await argon2idRaw(text.encode(password), salt);
  return hkdf({ ikm: concat([secret, stretched]), salt, info: LABELS.password, length: KEY_SIZE });
}

// The input keying material of the file's three aes128gcm messages.
export async function fileKeys(secret, keyid, password) {
  return keysFromRoot(await rootKey(secret, keyid, password));
}

export async function keysFromRoot(root) {
  const derive = (info) => hkdf({ ikm: root, salt: new Uint8Array(0), info, length: KEY_SIZE });
  return {
    content: await derive(LABELS.content),
    metadata: await derive(LABELS.metadata),
    preview: await derive(LABELS.preview),
  };
}

export async function encryptMetadata(keys, keyid, { name, type, description }) {
  const document = text.encode(JSON.stringify({ name, type, description }));
  return encrypt(document, keys.metadata, {
    salt: randomBytes(SALT_SIZE),
    recordSize: METADATA_RECORD_SIZE,
    keyid,
  });
}

export async function decryptMetadata(keys, blob) {
  const document = JSON.parse(new TextDecoder().decode(await decrypt(blob, keys.metadata)));
  if (typeof document !== "object" || document === null) {
    throw new DecryptError("the metadata decrypted but is not a document");
  }
  return document;
}
