// A process started with NODE_EXTRA_CA_CERTS, on the built package (as users run it): one
// createNodeFetch({ ca }) fetches each URL of the arguments and prints, per URL, the status or the
// error code (JSON on one line). Argument 1: the PEM file for `ca`; the rest: URLs.
import { readFileSync } from "node:fs";
import { createNodeFetch } from "../../dist/node.js";

const [caFile, ...urls] = process.argv.slice(2);
const fetch = createNodeFetch({ proxy: false, ca: readFileSync(caFile, "utf8") });
const results = {};
for (const url of urls) {
  try {
    const response = await fetch(url);
    results[url] = `${response.status} ${await response.text()}`;
  } catch (error) {
    let cause = error;
    while (cause?.cause && !cause.code) cause = cause.cause;
    results[url] = cause?.code ?? String(error);
  }
}
await fetch.close();
console.log(JSON.stringify(results));
