// Builds the demo app into dist/: the files of src/ as they are, plus the ESM bundle of
// socket.io-client from node_modules (vendor/), which index.html's import map names
// "socket.io-client". No bundler: the app is a few plain ES modules.

import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, "src");
const dist = path.join(here, "dist");
const client = path.join(here, "node_modules", "socket.io-client");
const bundles = ["socket.io.esm.min.js", "socket.io.esm.min.js.map"];

if (!existsSync(path.join(client, "dist", bundles[0]))) {
    console.error("web: socket.io-client is not installed; run `npm ci` in web/ first");
    process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
cpSync(src, dist, { recursive: true });
mkdirSync(path.join(dist, "vendor"));
for (const file of bundles) {
    cpSync(path.join(client, "dist", file), path.join(dist, "vendor", file));
}
const { version } = JSON.parse(readFileSync(path.join(client, "package.json"), "utf8"));
console.log(`web: built ${path.relative(process.cwd(), dist) || "."} (socket.io-client ${version})`);
