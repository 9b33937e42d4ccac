// The service worker that saves an encrypted share's file decrypted, as a stream: the share
// page hands it one job (the grant's form, the content key, the name) with a port to report
// on, then opens /static/decrypt/<id> in a hidden frame; the worker answers that request with
// the download's bytes decrypted record by record, so the browser writes them to disk while
// they arrive and memory holds two records whatever the size. A record that does not verify
// ends the stream with an error: the browser keeps no file that looks whole.
import { Decryptor } from "./ece.js";

const jobs = new Map();

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const job = event.data;
  const port = event.ports[0];
  if (!job || !/^[0-9a-f]{32}$/.test(job.id) || !port) return;
  jobs.set(job.id, { ...job, port });
  port.postMessage({ ready: true });
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const match = /^\/static\/decrypt\/([0-9a-f]{32})$/.exec(url.pathname);
  if (!match || url.origin !== self.location.origin) return;
  const job = jobs.get(match[1]);
  jobs.delete(match[1]); // one download a job
  if (!job) {
    event.respondWith(new Response("This download has ended: start it again from the link's page.", { status: 410 }));
    return;
  }
  event.respondWith(decrypted(job));
});

function contentDisposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

async function decrypted(job) {
  const { port } = job;
  const body = new FormData();
  for (const [name, value] of job.fields) body.append(name, value);
  let response;
  try {
    response = await fetch(job.action, { method: "POST", body, credentials: "same-origin" });
  } catch (error) {
    port.postMessage({ error: "The download could not be started: the connection was lost." });
    return new Response("", { status: 502 });
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || type.indexOf("text/html") === 0) {
    port.postMessage({ refused: await response.text() });
    return new Response("", { status: 204 });
  }
  const length = parseInt(response.headers.get("content-length") || "0", 10);
  const decryptor = new Decryptor(async () => job.content);
  const reader = response.body.getReader();
  let received = 0;
  const stream = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          for (const piece of await decryptor.end()) controller.enqueue(piece);
          controller.close();
          port.postMessage({ done: true });
          return;
        }
        received += value.length;
        for (const piece of await decryptor.push(value)) controller.enqueue(piece);
        port.postMessage({ received, length });
      } catch (error) {
        port.postMessage({ error: error.message });
        reader.cancel().catch(() => {});
        controller.error(error);
      }
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "application/octet-stream",
      "content-disposition": contentDisposition(job.name || "download"),
    },
  });
}
