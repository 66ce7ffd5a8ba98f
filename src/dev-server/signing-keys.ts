import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import type { DevApi } from "./config.js";

export type SigningAlg = NonNullable<DevApi["signingAlg"]>;

export async function loadKeys(
  path: string | undefined,
  algs: SigningAlg[],
): Promise<{ keys: JWK[]; created: boolean }> {
  let keys: JWK[] = [];
  if (path && existsSync(path)) {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { keys?: JWK[] };
    keys = Array.isArray(parsed.keys) ? parsed.keys : [];
  }
  let changed = false;
  for (const alg of algs) {
    if (keys.some((k) => k.alg === alg)) continue;
    const pair = await generateKeyPair(alg, {
      extractable: true,
      crv: alg === "EdDSA" ? "Ed25519" : undefined,
    });
    keys.push({
      ...(await exportJWK(pair.privateKey)),
      alg,
      use: "sig",
      kid: `${alg.toLowerCase()}-${Date.now().toString(36)}`,
    });
    changed = true;
  }
  const created = changed && path !== undefined && !existsSync(path);
  if (changed && path) await writeFile(path, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  return { keys, created };
}
