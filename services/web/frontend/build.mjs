// Bundles the scripts the pages load: src/upload.js (with Uppy and the encrypted format) and
// src/decrypt-worker.js (the service worker that decrypts an encrypted share's download as a
// stream). `make assets` runs it; OUTDIR builds elsewhere (the test that the committed bundles
// are this build's output).
import { build } from "esbuild";

const outdir = process.env.OUTDIR || "../src/s3tasks_web/static";

for (const name of ["upload.js", "decrypt-worker.js"]) {
  await build({
    entryPoints: [`src/${name}`],
    outfile: `${outdir}/${name}`,
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    legalComments: "eof",
    banner: {
      js: `/* s3tasks ${name === "upload.js" ? "upload script" : "decrypting service worker"}: built by \`make assets\` from services/web/frontend (do not edit) */`,
    },
    logLevel: "warning",
  });
}
