/**
 * Which execution provider ONNX Runtime put each node on, read from its verbose log at session
 * creation (`logSeverityLevel: 0`): the Node binding has no API that returns the placement.
 * ONNX Runtime 1.29 writes (session_state.cc, VerifyEachNodeIsAssignedToAnEp):
 *   `Node placements`, then either ` All nodes placed on [EP]. Number of nodes: N`, or for each
 *   provider ` Node(s) placed on [EP]. Number of nodes: N` followed by one `  OpType (name)` line
 *   per node.
 */

export interface Placement {
  /** Nodes per provider, e.g. { CUDAExecutionProvider: 1432, CPUExecutionProvider: 12 }. */
  readonly counts: Readonly<Record<string, number>>;
  /** The nodes on each provider when there are several (ONNX Runtime lists them only then). */
  readonly nodes: Readonly<Record<string, readonly string[]>>;
}

const MARK = 'VerifyEachNodeIsAssignedToAnEp]';

/** The last placement report in `log` (a session logs one), or undefined when there is none. */
export function parsePlacement(log: string): Placement | undefined {
  let found: { counts: Record<string, number>; nodes: Record<string, string[]> } | undefined;
  let current: string[] | undefined;
  for (const line of log.split('\n')) {
    const at = line.indexOf(MARK);
    if (at < 0) continue;
    const message = line.slice(at + MARK.length);
    if (/^\s*Node placements\s*$/.test(message)) {
      found = { counts: {}, nodes: {} };
      current = undefined;
      continue;
    }
    if (!found) continue;
    const header = /^\s*(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(message);
    if (header) {
      const ep = header[1] as string;
      found.counts[ep] = Number(header[2]);
      current = found.nodes[ep] = [];
      continue;
    }
    const node = /^\s{2,}(\S.*)$/.exec(message);
    if (node && current) current.push((node[1] as string).trim());
  }
  return found;
}

/** The nodes not on `provider`, as `EP: OpType (name)` lines; the counts when ONNX Runtime did not list them. */
export function offProvider(p: Placement, provider: string): string[] {
  const out: string[] = [];
  for (const [ep, count] of Object.entries(p.counts)) {
    if (ep === provider) continue;
    const names = p.nodes[ep] ?? [];
    if (names.length === 0) out.push(`${ep}: ${count} node(s), not listed`);
    for (const n of names) out.push(`${ep}: ${n}`);
  }
  return out;
}
