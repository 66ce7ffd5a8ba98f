/** One file that differs between the generated API reference and the committed one. */
export interface StaleFile {
  /** Path inside the reference folder, with `/`. */
  file: string;
  problem: "changed" | "missing" | "extra";
}
export function filesUnder(folder: string): string[];
export function staleFiles(generated: string, reference: string): StaleFile[];
export function staleMessage(stale: StaleFile[], label: string, command?: string): string;
