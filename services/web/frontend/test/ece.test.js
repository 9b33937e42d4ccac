// The browser module against the published vectors and its own layout rules, under Node's
// WebCrypto (`node --test`; services/web/tests/test_ece_module.py runs it from pytest).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { argon2id } from "hash-wasm";
import {
  DecryptError,
  Decryptor,
  Layout,
  PART_PLAINTEXT,
  RECORD_PLAINTEXT,
  RECORD_SIZE,
  concat,
  decodeBase64url,
  decrypt,
  decryptMetadata,
  encodeHeader,
  encrypt,
  encryptMetadata,
  encryptPart,
  fileKeys,
  hkdf,
  newHeader,
  newKeyid,
  randomBytes,
  recordCipher,
} from "../src/ece.js";

// the published vectors the Python tests read too (ECE_VECTORS: where a copy runs elsewhere)
const VECTORS = JSON.parse(
  readFileSync(
    process.env.ECE_VECTORS || new URL("../../../../packages/ece/tests/vectors.json", import.meta.url),
  ),
);
const hex = (value) => Uint8Array.from(value.match(/../g) || [], (pair) => parseInt(pair, 16));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");
const utf8 = (bytes) => new TextDecoder().decode(bytes);
const KEY = randomBytes(16);

for (const vector of VECTORS.rfc8188) {
  test(`${vector.name} decrypts`, async () => {
    const plaintext = await decrypt(decodeBase64url(vector.encoded), decodeBase64url(vector.ikm));
    assert.equal(utf8(plaintext), vector.plaintext);
  });
}

test("RFC 8188 3.1 encrypts to the same bytes with the same key and nonce", async () => {
  const vector = VECTORS.rfc8188[0];
  const encoded = decodeBase64url(vector.encoded);
  const ikm = decodeBase64url(vector.ikm);
  const salt = encoded.slice(0, 16);
  const info = (label) => new TextEncoder().encode(`Content-Encoding: ${label}\0`);
  assert.deepEqual(await hkdf({ ikm, salt, info: info("aes128gcm"), length: 16 }), decodeBase64url(vector.cek));
  assert.deepEqual(await hkdf({ ikm, salt, info: info("nonce"), length: 12 }), decodeBase64url(vector.nonce));
  const ours = await encrypt(new TextEncoder().encode(vector.plaintext), ikm, { salt, recordSize: 4096 });
  assert.deepEqual(ours, encoded);
});

for (const vector of VECTORS.rfc5869) {
  test(`${vector.name} (HKDF-SHA256)`, async () => {
    const okm = await hkdf({
      ikm: hex(vector.ikm),
      salt: hex(vector.salt),
      info: hex(vector.info),
      length: vector.length,
    });
    assert.equal(toHex(okm), vector.okm);
  });
}

test("the Argon2 reference implementation's Argon2id vector through hash-wasm", async () => {
  const vector = VECTORS.reference_argon2id;
  const tag = await argon2id({
    password: hex(vector.password),
    salt: hex(vector.salt),
    iterations: vector.passes,
    parallelism: vector.lanes,
    memorySize: vector.memory_kib,
    hashLength: 32,
    outputType: "hex",
  });
  assert.equal(tag, vector.tag);
});

async function sealedParts(header, plaintext, order) {
  const layout = new Layout(plaintext.length, header.size);
  const parts = new Map();
  for (const number of order) {
    const [start, end] = layout.partPlaintext(number);
    parts.set(number, await encryptPart(KEY, header, plaintext.length, number, plaintext.subarray(start, end)));
  }
  return parts;
}

const joined = (parts) => concat([...parts.keys()].sort((a, b) => a - b).map((n) => parts.get(n)));

function randomPlaintext(size) {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) out.set(randomBytes(Math.min(65536, size - at)), at);
  return out;
}

test("parts sealed shuffled and retried equal the parts in order, and decrypt", async () => {
  for (const size of [0, 1, RECORD_PLAINTEXT, PART_PLAINTEXT, PART_PLAINTEXT + 1, 2 * PART_PLAINTEXT + 77]) {
    const plaintext = randomPlaintext(size);
    const header = newHeader();
    const layout = new Layout(size, header.size);
    const numbers = Array.from({ length: layout.parts }, (_, i) => i + 1);
    const inOrder = joined(await sealedParts(header, plaintext, numbers));
    const shuffled = numbers.slice().reverse().concat(numbers.slice(0, 1));
    assert.deepEqual(joined(await sealedParts(header, plaintext, shuffled)), inOrder);
    assert.equal(inOrder.length, layout.ciphertextSize);
    assert.deepEqual(await decrypt(inOrder, KEY), plaintext);
  }
});

test("the decryptor fed in uneven chunks holds at most two records", async () => {
  const plaintext = randomPlaintext(PART_PLAINTEXT + 5000);
  const header = newHeader();
  const whole = joined(await sealedParts(header, plaintext, [1, 2]));
  const decryptor = new Decryptor(async () => KEY);
  const out = [];
  for (let at = 0; at < whole.length; at += 40000) {
    out.push(...(await decryptor.push(whole.subarray(at, at + 40000))));
    assert.ok(decryptor.pending.length <= 2 * RECORD_SIZE);
  }
  out.push(...(await decryptor.end()));
  assert.deepEqual(concat(out), plaintext);
});

async function refusal(data) {
  await assert.rejects(decrypt(data, KEY), DecryptError);
  return decrypt(data, KEY).catch((error) => error.message);
}

test("negative cases are refused with words that say why", async () => {
  const plaintext = randomPlaintext(2 * PART_PLAINTEXT + 1000);
  const header = newHeader();
  const parts = await sealedParts(header, plaintext, [1, 2, 3]);
  const whole = joined(parts);

  assert.match(await refusal(concat([parts.get(1), parts.get(2)])), /ends without its last record/);
  const flipped = whole.slice();
  flipped[21 + 2 * RECORD_SIZE + 7] ^= 0x10;
  assert.match(await refusal(flipped), /record 2 \(at byte \d+\) failed authentication: the file is corrupted/);
  assert.match(
    await refusal(concat([parts.get(1), parts.get(3)])),
    /record 128 .* written as record 256: parts were dropped, repeated or put out of order/,
  );
  assert.match(await refusal(concat([whole, new Uint8Array(5)])), /bytes appended after it/);
  assert.match(await refusal(encodeHeader(header)), /no records/);
  await assert.rejects(decrypt(whole, randomBytes(16)), /wrong key or password/);

  const cipher = await recordCipher(KEY, header.salt);
  const twoLast = concat([
    encodeHeader(header),
    await cipher.seal(0, randomPlaintext(RECORD_PLAINTEXT), true),
    await cipher.seal(1, new Uint8Array(1), true),
  ]);
  assert.match(await refusal(twoLast), /two records are marked as the last/);

  const swappable = randomPlaintext(3 * PART_PLAINTEXT);
  const three = await sealedParts(header, swappable, [1, 2, 3]);
  assert.match(await refusal(concat([three.get(1), three.get(3), three.get(2)])), /put out of order/);
});

test("metadata round-trips and a wrong password fails on it", async () => {
  const secret = randomBytes(16);
  const keyid = newKeyid("hunter2");
  const keys = await fileKeys(secret, keyid, "hunter2");
  const blob = await encryptMetadata(keys, keyid, { name: "ré port.pdf", type: "application/pdf", description: "Q3" });
  assert.deepEqual(await decryptMetadata(keys, blob), { name: "ré port.pdf", type: "application/pdf", description: "Q3" });
  const wrong = await fileKeys(secret, keyid, "hunter3");
  await assert.rejects(decryptMetadata(wrong, blob), /wrong key or password/);
  await assert.rejects(fileKeys(secret, keyid, undefined), /encrypted with a password/);
});
