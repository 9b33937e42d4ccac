// Bundles src/upload.js (with Uppy) into the one script the pages load. `make assets` runs
// it; OUTFILE builds elsewhere (the test that the committed bundle is this build's output).
import { build } from "esbuild";

await build({
  entryPoints: ["src/upload.js"],
  outfile: process.env.OUTFILE || "../src/s3tasks_web/static/upload.js",
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "eof",
  banner: {
    js: "/* s3tasks upload script: built by `make assets` from services/web/frontend (do not edit) */",
  },
  logLevel: "warning",
});
