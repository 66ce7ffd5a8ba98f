/** Starts a child process and waits for a line matching `ready`; kills it on `stop()`. */
import { type ChildProcess, spawn } from "node:child_process";

export interface Started {
  child: ChildProcess;
  match: RegExpMatchArray;
  output: () => string;
  stop: () => Promise<void>;
}

export function startProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; ready: RegExp; timeoutMs?: number },
): Promise<Started> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`timed out waiting for ${options.ready}; output:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(options.ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => output, stop });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready; output:\n${output}`));
    });
  });
}
