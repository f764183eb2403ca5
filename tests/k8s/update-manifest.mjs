// Rewrites k8s/manifests/roomcast.yaml from the chart (see lib/manifest.mjs).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { MANIFEST, ROOT } from "./lib/chart.mjs";
import { manifestText } from "./lib/manifest.mjs";

writeFileSync(MANIFEST, manifestText());
console.log(`wrote ${path.relative(ROOT, MANIFEST)}`);
