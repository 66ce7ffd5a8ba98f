/**
 * FileTokenStore trusts neither another user nor what it reads back. Like ssh with its keys, a token
 * file or folder owned by another user (the expected owner is injected: CI runs as root) or writable
 * by group or others is refused: an event, then tokens in memory only. An entry planted in the file
 * is checked as a token response would be, never served, and replaced by the next real write.
 * Clients are real, against oidc-provider; each has its own store, as each process would.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { type FileStoreEvent, FileTokenStore, type FileTokenStoreOptions } from "../../src/node/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
const TARGET = { audience: API, scope: "read:data" };

let provider: RunningProvider;
let dir: string;
let folders = 0;

beforeAll(async () => {
  [provider, dir] = await Promise.all([startProvider(), mkdtemp(join(tmpdir(), "m2m-file-trust-"))]);
});

afterAll(async () => {
  await provider?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  provider.resetCount();
});

/** A folder of its own (0700) for one test. */
async function folder(): Promise<string> {
  const path = join(dir, `f${folders++}`);
  await mkdir(path, { mode: 0o700 });
  return path;
}

function processClient(options: FileTokenStoreOptions, events: FileStoreEvent[] = []) {
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    store: new FileTokenStore({ ...options, onEvent: (e) => events.push(e) }),
  });
}

describe("a file or folder another user could write is refused (an event, then memory only)", () => {
  const uid = process.getuid?.() ?? 0;

  it.each([
    ["the folder is owned by another user", async (_path: string) => ({ ownerUid: uid + 4242 }), "folder"],
    [
      "the folder is writable by its group",
      async (path: string) => {
        await chmod(dirname(path), 0o770);
        return {};
      },
      "folder",
    ],
    [
      "the file is writable by others",
      async (path: string) => {
        await chmod(path, 0o602);
        return {};
      },
      "file",
    ],
    [
      "the file is a symbolic link",
      async (path: string) => {
        const target = join(await folder(), "elsewhere.json");
        await writeFile(target, await readFile(path), { mode: 0o600 });
        await rm(path);
        await symlink(target, path);
        return {};
      },
      "file",
    ],
  ] as const)("%s", async (_name, arrange, refusedKind) => {
    const path = join(await folder(), "tokens.json");
    const first = await processClient({ path }).getToken(TARGET);
    expect(provider.tokenRequests).toBe(1);
    const options = await arrange(path);

    const events: FileStoreEvent[] = [];
    const client = processClient({ path, ...options }, events);
    const own = await client.getToken(TARGET);
    // Not the token in the file: this process asked the server itself, and keeps its token to itself.
    expect(own.accessToken).not.toBe(first.accessToken);
    expect(provider.tokenRequests).toBe(2);
    expect((await client.getToken(TARGET)).accessToken).toBe(own.accessToken);
    expect(provider.tokenRequests).toBe(2);
    await client.invalidate();
    expect(events).toEqual([
      {
        type: "store_refused",
        path: refusedKind === "folder" ? dirname(path) : path,
        reason: expect.stringMatching(refusedKind === "folder" ? /folder/ : /file/),
      },
    ]);
    // The file was neither read nor written.
    expect(await readFile(path, "utf8")).not.toContain(own.accessToken);
  });
});

describe("an entry planted in the token file", () => {
  it("scope admin, expiring in 10 years: never served; the next real write replaces it", async () => {
    const path = join(await folder(), "tokens.json");
    const first = await processClient({ path }).getToken(TARGET);
    const data = JSON.parse(await readFile(path, "utf8"));
    const [name] = Object.keys(data.entries);
    const entry = data.entries[name];
    const expiresAt = Date.now() + 10 * 366 * 24 * 3600 * 1000;
    entry.v = JSON.stringify({
      ...JSON.parse(entry.v),
      accessToken: "planted-admin-token",
      scope: ["admin"],
      expiresAt,
      refreshAt: expiresAt - 60_000,
    });
    entry.e = expiresAt;
    await writeFile(path, JSON.stringify(data), { mode: 0o600 });

    const events: FileStoreEvent[] = [];
    const second = await processClient({ path }, events).getToken(TARGET);
    expect(second.accessToken).not.toBe("planted-admin-token");
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.scope).toEqual(["read:data"]);
    expect(provider.tokenRequests).toBe(2);
    expect(events).toEqual([{ type: "entry_refused", reason: "lifetime longer than one year" }]);
    // The next process shares the real token that replaced it.
    const third = await processClient({ path }).getToken(TARGET);
    expect(third.accessToken).toBe(second.accessToken);
    expect(provider.tokenRequests).toBe(2);
    expect(await readFile(path, "utf8")).not.toContain("planted-admin-token");
  });
});
