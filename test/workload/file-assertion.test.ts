/**
 * `fileAssertion` reads a token file, which is small: a wrong path to a large file or to a pipe that
 * never ends is refused after 64 KiB, never read in full on every token request.
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientAssertionError, ClientCredentialsClient } from "../../src/index.js";
import { fileAssertion } from "../../src/node/index.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";

const API = "https://api.example.com";
const TOO_LARGE =
  "client_assertion source file {path} failed: the file is larger than 65536 bytes; it does not hold a token; no token request was sent";
let server: FaultServer;
let dir: string;

beforeAll(async () => {
  server = await startFaultServer();
  dir = mkdtempSync(join(tmpdir(), "m2m-file-assertion-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await server?.close();
});

function clientFor(path: string) {
  return new ClientCredentialsClient({
    tokenEndpoint: server.tokenEndpoint,
    clientId: "workload",
    clientAssertion: fileAssertion(path),
    timeoutMs: 2_000,
    retry: false,
  });
}

describe("a file that cannot hold a token", () => {
  it("a large file (here 3 GiB, sparse) is refused as too large, without reading it", async () => {
    server.requests.length = 0;
    const path = join(dir, "huge.log");
    writeFileSync(path, "");
    truncateSync(path, 3 * 1024 ** 3);
    const client = clientFor(path);
    const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    expect((error as Error).message).toBe(TOO_LARGE.replace("{path}", path));
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it("a pipe that keeps sending is refused after 64 KiB, not read until it ends", async () => {
    server.requests.length = 0;
    const path = join(dir, "pipe");
    execFileSync("mkfifo", [path]);
    const writer = createWriteStream(path);
    writer.on("error", () => {}); // EPIPE once the reader has what it needs
    writer.write("x".repeat(128 * 1024));
    const client = clientFor(path);
    try {
      const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClientAssertionError);
      expect((error as Error).message).toBe(TOO_LARGE.replace("{path}", path));
    } finally {
      writer.destroy();
      await client.close();
    }
    expect(server.requests).toHaveLength(0);
  });
});
