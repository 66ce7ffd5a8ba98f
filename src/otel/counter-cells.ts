import type { Attributes, Meter, ObservableResult } from "@opentelemetry/api";
import { openTelemetryApi as otel } from "./api.js";

/** One time series of an asynchronous counter: incremented in place, read at collection. */
export interface Cell {
  value: number;
}

/**
 * The time series of one asynchronous counter of one meter, shared by every client or verifier
 * instrumented on that meter: the SDK takes one observation per attribute set and collection, so
 * instrumented objects with the same attributes add to the same cell. Cells are never removed
 * (counters are monotonic, also after `uninstrument`).
 */
export class Cells {
  readonly #cells = new Map<string, { attributes: Attributes; value: number }>();
  readonly observe = (result: ObservableResult): void => {
    for (const cell of this.#cells.values()) result.observe(cell.value, cell.attributes);
  };

  cell(attributes: Attributes): Cell {
    const key = JSON.stringify(Object.entries(attributes).sort(([x], [y]) => (x < y ? -1 : 1)));
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { attributes, value: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }
}

/** Adds one to `cell`, made on first use so that nothing is reported before anything happened. */
export function bump(cell: Cell | undefined, cells: Cells, attributes: Attributes): Cell {
  const target = cell ?? cells.cell(attributes);
  target.value++;
  return target;
}

const counterCells = new WeakMap<Meter, Map<string, Cells>>();

export function cellsOf(meter: Meter, name: string, description: string, unit: string): Cells {
  let byName = counterCells.get(meter);
  if (byName === undefined) {
    byName = new Map();
    counterCells.set(meter, byName);
  }
  let cells = byName.get(name);
  if (cells === undefined) {
    cells = new Cells();
    meter
      .createObservableCounter(name, { description, unit, valueType: otel().ValueType.INT })
      .addCallback(cells.observe);
    byName.set(name, cells);
  }
  return cells;
}
