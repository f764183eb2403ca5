// The user's documentation is self-contained: README.md and every Markdown file of the repository
// (docs/, k8s/, sdk/, libs/, services/, examples/, tests/) link only inside the repository, to
// files that exist, and to headings that exist (GitHub's anchors). A link to the outside world
// (a web page, ../shared/...) is an error: users of a clone or a release tarball cannot follow it.
// Plain addresses in prose or code (http://127.0.0.1:8080) are not links and are left alone.
//
//   node --test tests/docs/links.test.mjs

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Tracked (or new, not ignored) Markdown files, outside node_modules. */
function markdownFiles() {
    const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        { cwd: ROOT, encoding: "utf8" });
    return out.split("\n").filter((f) => f && !f.includes("node_modules/") && existsSync(path.join(ROOT, f)));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, -N for repeats. */
export function anchorsOf(markdown) {
    const anchors = new Set();
    const seen = new Map();
    let fence = false;
    for (const line of markdown.split("\n")) {
        if (/^\s*(```|~~~)/.test(line)) {
            fence = !fence;
            continue;
        }
        if (!fence) {
            for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) {
                anchors.add(a[1]);  // an explicit anchor (<a id="x"></a>)
            }
        }
        const m = !fence && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
        if (!m) {
            continue;
        }
        const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
        const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/ /g, "-");
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    return anchors;
}

/** Inline links and images [text](target) outside code spans and fences: [{line, target}]. */
export function linksOf(markdown) {
    const links = [];
    let fence = false;
    markdown.split("\n").forEach((line, i) => {
        if (/^\s*(```|~~~)/.test(line)) {
            fence = !fence;
            return;
        }
        if (fence) {
            return;
        }
        const prose = line.replace(/`[^`]*`/g, "``");
        for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
            links.push({ line: i + 1, target: m[1] });
        }
    });
    return links;
}

/** Problems with the links of `file` (repository-relative): a list of messages. */
export function checkFile(file, readAnchors) {
    const problems = [];
    const text = readFileSync(path.join(ROOT, file), "utf8");
    for (const { line, target } of linksOf(text)) {
        const where = `${file}:${line}: ${target}`;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
            problems.push(`${where}: a link outside the repository`);
            continue;
        }
        const [rel, anchor] = target.split("#");
        const resolved = rel === "" ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURI(rel));
        if (path.relative(ROOT, resolved).startsWith("..")) {
            problems.push(`${where}: points outside the repository`);
            continue;
        }
        if (!existsSync(resolved)) {
            problems.push(`${where}: no such file`);
            continue;
        }
        if (anchor && resolved.endsWith(".md") && statSync(resolved).isFile() && !readAnchors(resolved).has(anchor)) {
            problems.push(`${where}: no heading with that anchor in ${path.relative(ROOT, resolved)}`);
        }
    }
    return problems;
}

const cache = new Map();
const readAnchors = (file) => {
    if (!cache.has(file)) {
        cache.set(file, anchorsOf(readFileSync(file, "utf8")));
    }
    return cache.get(file);
};

test("the checker finds the Markdown files, README.md and docs/ among them", () => {
    const files = markdownFiles();
    assert.ok(files.includes("README.md"), "README.md");
    assert.ok(files.filter((f) => f.startsWith("docs/")).length >= 5, `docs/: ${files}`);
});

test("the checker catches outside links, missing files and missing anchors", () => {
    const doc = "# Title\n\n## Two words\n\n[a](https://example.com) [b](../../elsewhere.md) " +
        "[c](#two-words) [d](#nope) `[e](https://in-code.example)`\n```\n[f](https://fenced.example)\n```\n";
    assert.deepEqual(linksOf(doc).map((l) => l.target), ["https://example.com", "../../elsewhere.md", "#two-words", "#nope"]);
    assert.deepEqual([...anchorsOf(doc)], ["title", "two-words"]);
    assert.deepEqual([...anchorsOf("## A\n## A\n## `x`, y (z)\n")], ["a", "a-1", "x-y-z"]);
    assert.deepEqual([...anchorsOf('<a id="here"></a>**Bold** text\n')], ["here"]);
});

test("README.md and every Markdown file link only to files and headings inside the repository", () => {
    const problems = markdownFiles().flatMap((f) => checkFile(f, readAnchors));
    assert.deepEqual(problems, [], `${problems.length} broken or outside links:\n${problems.join("\n")}`);
});
