// The NATS users of Roomcast's roles, rendered as a nats-server `authorization` block from the
// one definition, k8s/helm/roomcast/files/nats-roles.json (docs/operations.md, "NATS roles").
// The chart renders the same block itself (templates/_nats.tpl, with passwords from its Secret);
// tests/k8s checks that both renderings agree. Used by scripts/up (the CLI below) and by the
// e2e harness (tests/e2e/lib/stack.mjs, which imports renderAuthorization).
//
//   node scripts/lib/nats-auth.mjs local <state dir>
//     Keeps one random password per role in <state dir>/nats-passwords (mode 0600, lines
//     "<role>=<password>"; existing ones are kept, missing roles get one) and writes the
//     nats-server configuration with the users to <state dir>/nats-auth.conf (mode 0600).
//     Prints nothing; exits non-zero with a message on error.

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const rolesPath = path.resolve(here, "..", "..", "k8s", "helm", "roomcast", "files", "nats-roles.json");

/** The roles, in file order: [{name, about, publish, subscribe, allow_responses}]. */
export function loadRoles(file = rolesPath) {
    const doc = JSON.parse(readFileSync(file, "utf8"));
    if (!Array.isArray(doc.roles) || doc.roles.length === 0) {
        throw new Error(`${file}: "roles" must be a non-empty array`);
    }
    for (const role of doc.roles) {
        if (!/^[a-z][a-z0-9_-]*$/.test(role.name ?? "")) {
            throw new Error(`${file}: role name ${JSON.stringify(role.name)} must match [a-z][a-z0-9_-]*`);
        }
        for (const key of ["publish", "subscribe"]) {
            if (!Array.isArray(role[key]) || role[key].some((s) => typeof s !== "string" || !s || /\s/.test(s))) {
                throw new Error(`${file}: ${role.name}.${key} must be a list of subjects`);
            }
        }
    }
    return doc.roles;
}

/** A nats-server configuration string literal (double quotes: no variable expansion inside). */
export function quote(text) {
    return JSON.stringify(String(text));
}

/**
 * The `authorization { users = [...] }` block.
 * @param {object[]} roles loadRoles()
 * @param {(role: string) => string} password the password's configuration token for a role:
 *   quote(secret) for a literal, or "$VARIABLE" for an environment variable (the chart)
 * @param {object[]} [extraUsers] further users rendered after the roles, each
 *   {user, password (a token, as above), comment}: no permissions (everything allowed)
 */
export function renderAuthorization(roles, password, extraUsers = []) {
    const lines = ["authorization {", "  users = ["];
    for (const role of roles) {
        lines.push("    {", `      user: ${quote(role.name)}`, `      password: ${password(role.name)}`, "      permissions: {");
        for (const key of ["publish", "subscribe"]) {
            lines.push(`        ${key}: { allow: [`);
            role[key].forEach((subject, i) => {
                lines.push(`          ${quote(subject)}${i < role[key].length - 1 ? "," : ""}`);
            });
            lines.push("        ] }");
        }
        lines.push(`        allow_responses: ${role.allow_responses ? "true" : "false"}`, "      }", "    }");
    }
    for (const extra of extraUsers) {
        if (extra.comment) {
            lines.push(`    # ${extra.comment}`);
        }
        lines.push("    {", `      user: ${quote(extra.user)}`, `      password: ${extra.password}`, "    }");
    }
    lines.push("  ]", "}");
    return `${lines.join("\n")}\n`;
}

/** `role=password` lines as a Map. */
export function parsePasswords(text) {
    const out = new Map();
    for (const line of text.split("\n")) {
        const eq = line.indexOf("=");
        if (line.startsWith("#") || eq <= 0) {
            continue;
        }
        out.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return out;
}

/** A random password: hex, so it needs no escaping in a URL, a shell or the server config. */
export function newPassword() {
    return randomBytes(24).toString("hex");
}

function writePrivate(file, text) {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
}

/** scripts/up: the passwords file (kept) and the server's authorization config for `dir`. */
export function prepareLocal(dir) {
    const roles = loadRoles();
    const file = path.join(dir, "nats-passwords");
    const passwords = existsSync(file) ? parsePasswords(readFileSync(file, "utf8")) : new Map();
    let changed = !existsSync(file);
    for (const role of roles) {
        if (!passwords.get(role.name)) {
            passwords.set(role.name, newPassword());
            changed = true;
        }
    }
    if (changed) {
        const lines = ["# NATS passwords of the local stack's roles, generated by scripts/up (kept across runs)."];
        for (const [name, pw] of passwords) {
            lines.push(`${name}=${pw}`);
        }
        writePrivate(file, `${lines.join("\n")}\n`);
    } else {
        chmodSync(file, 0o600);
    }
    const conf = [
        "# The NATS users of the local stack, one per role (k8s/helm/roomcast/files/nats-roles.json),",
        "# generated by scripts/up. Passwords: nats-passwords beside this file.",
        renderAuthorization(roles, (name) => quote(passwords.get(name))),
    ].join("\n");
    writePrivate(path.join(dir, "nats-auth.conf"), conf);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const [command, dir] = process.argv.slice(2);
    if (command !== "local" || !dir) {
        process.stderr.write("usage: node scripts/lib/nats-auth.mjs local <state dir>\n");
        process.exit(2);
    }
    try {
        prepareLocal(path.resolve(dir));
    } catch (err) {
        process.stderr.write(`nats-auth: ${err.message}\n`);
        process.exit(1);
    }
}
