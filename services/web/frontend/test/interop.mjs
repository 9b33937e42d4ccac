// Drives the browser module from the Python interop tests (services/web/tests/test_ece_module.py):
//   node interop.mjs encrypt KEY PASSWORD|- IN OUT   (parts sealed last to first)
//   node interop.mjs decrypt KEY PASSWORD|- IN OUT   (streamed through the Decryptor)
//   node interop.mjs seal-metadata KEY PASSWORD|- KEYID_HEX JSON OUT
//   node interop.mjs open-metadata KEY PASSWORD|- IN  (prints the document)
import { closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import {
  Decryptor,
  Layout,
  decodeSecret,
  decryptMetadata,
  encryptMetadata,
  encryptPart,
  fileKeys,
  newHeader,
  newKeyid,
} from "../src/ece.js";

const [command, key, passwordArg, ...rest] = process.argv.slice(2);
const secret = decodeSecret(key);
const password = passwordArg === "-" ? undefined : passwordArg;

if (command === "encrypt") {
  const [input, output] = rest;
  const plaintext = readFileSync(input);
  const header = newHeader(newKeyid(password));
  const keys = await fileKeys(secret, header.keyid, password);
  const layout = new Layout(plaintext.length, header.size);
  const parts = [];
  for (let number = layout.parts; number >= 1; number -= 1) {
    const [start, end] = layout.partPlaintext(number);
    parts[number] = await encryptPart(keys.content, header, plaintext.length, number, plaintext.subarray(start, end));
  }
  const out = openSync(output, "w");
  for (let number = 1; number <= layout.parts; number += 1) writeSync(out, parts[number]);
  closeSync(out);
} else if (command === "decrypt") {
  const [input, output] = rest;
  const fd = openSync(input, "r");
  const out = openSync(output, "w");
  const decryptor = new Decryptor(async (header) => (await fileKeys(secret, header.keyid, password)).content);
  let at = 0;
  for (;;) {
    const chunk = new Uint8Array(100000);
    const got = readSync(fd, chunk, 0, chunk.length, at);
    if (got === 0) break;
    at += got;
    for (const piece of await decryptor.push(chunk.subarray(0, got))) writeSync(out, piece);
  }
  for (const piece of await decryptor.end()) writeSync(out, piece);
  closeSync(out);
  closeSync(fd);
} else if (command === "seal-metadata") {
  const [keyidHex, json, output] = rest;
  const keyid = Uint8Array.from(Buffer.from(keyidHex, "hex"));
  const keys = await fileKeys(secret, keyid, password);
  writeFileSync(output, await encryptMetadata(keys, keyid, JSON.parse(json)));
} else if (command === "open-metadata") {
  const blob = new Uint8Array(readFileSync(rest[0]));
  const keyid = blob.subarray(21, 21 + blob[20]);
  const keys = await fileKeys(secret, keyid, password);
  process.stdout.write(JSON.stringify(await decryptMetadata(keys, blob)));
} else {
  process.stderr.write(`unknown command ${command}\n`);
  process.exit(2);
}
