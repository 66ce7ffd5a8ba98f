/**
 * FileTokenStore and the place of its file after the first check. Another user who can write a
 * folder above the token folder can rename the token folder away and put one of their own in its
 * place (as ssh knows, which checks every folder up to the root): such a place is refused from the
 * start. And the file is checked each time it is opened, not only once: a file replaced by a named
 * pipe (which would block every read forever), a link or another user's file is refused then.
 * The other user is a real child process with another uid (the tests run as root).
 */
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { type FileStoreEvent, FileTokenStore } from "../../src/node/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
const TARGET = { audience: API, scope: "read:data" };
const OTHER_UID = 4242;

let provider: RunningProvider;
let dir: string;
let folders = 0;

beforeAll(async () => {
  [provider, dir] = await Promise.all([startProvider(), mkdtemp(join(tmpdir(), "m2m-file-place-"))]);
  await chmod(dir, 0o755);
});

afterAll(async () => {
  await provider?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  provider.resetCount();
});

function processClient(path: string, events: FileStoreEvent[]) {
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    store: new FileTokenStore({ path, onEvent: (e) => events.push(e) }),
  });
}

/** Runs a shell script as another user; resolves with its exit code. */
function asOtherUser(script: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", script], { uid: OTHER_UID, gid: OTHER_UID, stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code));
  });
}

/** Settles within `ms`, or says it did not. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "still waiting"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still waiting">((resolve) => {
    timer = setTimeout(() => resolve("still waiting"), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("a folder above the token folder that others can write", () => {
  it("is refused from the start: another user's swap of the token folder never reaches the store", async () => {
    const shared = join(dir, `shared${folders++}`);
    await mkdir(shared);
    await chmod(shared, 0o777); // writable by everyone, without the sticky bit
    const path = join(shared, "cache", "m2m-tokens.json");
    const events: FileStoreEvent[] = [];
    const client = processClient(path, events);
    const token = await client.getToken(TARGET);

    // Another user moves the token folder away and puts one of their own in its place, with a named
    // pipe where the file was.
    const code = await asOtherUser(
      `cd '${shared}' && mv cache moved && mkdir cache && mkfifo cache/m2m-tokens.json`,
    );
    expect(code).toBe(0);

    // Before: the store would wait for the pipe forever (and hold a thread of libuv's pool with it).
    const again = await within(client.getToken({ ...TARGET, forceRefresh: true }), 5_000);
    expect(again).not.toBe("still waiting");
    expect(events).toEqual([
      { type: "store_refused", path: shared, reason: expect.stringMatching(/folder above/) },
    ]);
    expect(token.accessToken).toBeTypeOf("string");
  });

  it("a sticky folder writable by everyone (as /tmp) is not refused", async () => {
    const sticky = join(dir, `sticky${folders++}`);
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    const path = join(sticky, "cache", "m2m-tokens.json");
    const events: FileStoreEvent[] = [];
    await processClient(path, []).getToken(TARGET);
    await processClient(path, events).getToken(TARGET);
    expect(provider.tokenRequests).toBe(1);
    expect(events).toEqual([]);
  });
});

describe("the token file replaced after the first check", () => {
  async function placed(): Promise<string> {
    const folder = join(dir, `f${folders++}`);
    await mkdir(folder, { mode: 0o700 });
    return join(folder, "m2m-tokens.json");
  }

  it.each([
    [
      "a named pipe (a read would wait forever)",
      (path: string) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn("mkfifo", [path], { stdio: "ignore" });
          child.once("error", reject);
          child.once("exit", () => resolve());
        }),
    ],
    [
      "a link to a file elsewhere",
      async (path: string) => {
        const target = `${path}.elsewhere`;
        await writeFile(target, JSON.stringify({ version: 2, entries: {}, leases: {} }), { mode: 0o600 });
        await symlink(target, path);
      },
    ],
  ] as const)("by %s: refused when it is opened, and the client goes on", async (_name, replace) => {
    const path = await placed();
    const events: FileStoreEvent[] = [];
    const client = processClient(path, events);
    await client.getToken(TARGET);
    await rm(path);
    await replace(path);

    const again = await within(client.getToken({ ...TARGET, forceRefresh: true }), 5_000);
    expect(again).not.toBe("still waiting");
    expect(events).toContainEqual({ type: "store_refused", path, reason: expect.stringMatching(/file/) });
  });
});
