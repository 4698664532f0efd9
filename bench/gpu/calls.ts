/**
 * The device calls that carry a payload to the GPU machine and run the proof, and the check that
 * each fits the device tool's limits (/work/.library/device/README.md): what travels with one
 * call is the checkout's working tree plus the carried paths, at most 64 MiB (the issue asks for
 * ≤ 60 MiB, leaving room for the tree to grow); at most 8 carried paths of ≤ 200 characters; a
 * command of ≤ 2000 characters; ≤ 600 s per command.
 */

export const MIB = 1024 * 1024;

export const LIMITS = {
  /** The device tool's hard limit on tree + carried paths. */
  travelBytes: 64 * MIB,
  /** The issue's: each call ≤ 60 MiB with the working tree. */
  targetBytes: 60 * MIB,
  carryPaths: 8,
  carryPathChars: 200,
  commandChars: 2000,
  timeoutS: 600,
} as const;

/** Where the upload calls put the pieces on the device machine; bench/gpu/run reads them there. */
export const DEVICE_HOME = '~/.flux-device';

/** The run call's limit: the proof takes ≤ 6 min; the rest is the unpack and a margin. */
export const RUN_TIMEOUT_S = 420;

export interface CarriedFile {
  /** Relative to the checkout's root. */
  readonly path: string;
  readonly bytes: number;
}

export interface DeviceCall {
  readonly command: string;
  readonly carry: readonly string[];
  readonly timeout_s: number;
  /** Working tree + carried files. */
  readonly bytes: number;
  readonly what: string;
}

/**
 * One call per piece, back to back (the machine goes back after ~30 s idle), each copying what it
 * carried out of the working tree (replaced at each call) into the device home; the first also
 * carries the checksums and the manifest, the last runs the proof.
 */
export function deviceCalls(
  pieces: readonly CarriedFile[],
  extras: readonly CarriedFile[],
  treeBytes: number,
): DeviceCall[] {
  return pieces.map((piece, i) => {
    const files = i === 0 ? [piece, ...extras] : [piece];
    const last = i === pieces.length - 1;
    const copy = `mkdir -p ${DEVICE_HOME} && cp ${files.map((f) => f.path).join(' ')} ${DEVICE_HOME}/`;
    return {
      command: last ? `${copy} && bash bench/gpu/run` : `${copy} && ls -l ${DEVICE_HOME}`,
      carry: files.map((f) => f.path),
      timeout_s: last ? RUN_TIMEOUT_S : 120,
      bytes: treeBytes + files.reduce((n, f) => n + f.bytes, 0),
      what: last
        ? `piece ${i + 1} of ${pieces.length}, then the proof (≤ 6 min)`
        : `piece ${i + 1} of ${pieces.length}`,
    };
  });
}

/** The call that runs the proof again on the same warm machine (everything is already there). */
export const RERUN: DeviceCall = {
  command: 'bash bench/gpu/run',
  carry: [],
  timeout_s: RUN_TIMEOUT_S,
  bytes: 0,
  what: 'rerun, only while the machine is still warm',
};

/** Every way the calls break the limits; empty when they fit. */
export function checkCalls(calls: readonly DeviceCall[]): string[] {
  const problems: string[] = [];
  for (const [i, c] of calls.entries()) {
    const n = `call ${i + 1}`;
    if (c.bytes > LIMITS.targetBytes)
      problems.push(
        `${n} carries ${(c.bytes / MIB).toFixed(1)} MiB with the tree, over ${LIMITS.targetBytes / MIB} MiB`,
      );
    if (c.carry.length > LIMITS.carryPaths)
      problems.push(`${n} carries ${c.carry.length} paths, over ${LIMITS.carryPaths}`);
    for (const p of c.carry)
      if (p.length > LIMITS.carryPathChars)
        problems.push(`${n}: carried path over ${LIMITS.carryPathChars} characters: ${p}`);
    if (c.command.length > LIMITS.commandChars)
      problems.push(`${n}: command over ${LIMITS.commandChars} characters`);
    if (c.timeout_s > LIMITS.timeoutS)
      problems.push(`${n}: timeout ${c.timeout_s} s over ${LIMITS.timeoutS} s`);
  }
  return problems;
}

/** The largest piece that keeps every call within the target, whole MiB. */
export function pieceBytes(treeBytes: number, extrasBytes: number, marginBytes: number): number {
  const room = LIMITS.targetBytes - treeBytes - extrasBytes - marginBytes;
  const mib = Math.floor(room / MIB);
  if (mib < 1)
    throw new Error(`the working tree (${(treeBytes / MIB).toFixed(1)} MiB) leaves no room for a piece`);
  return mib * MIB;
}
