/**
 * A vitest reporter that adds one line at the end of a run: which suites were skipped and why, so
 * a green local run cannot hide that the browser or Redis suites never ran. Only two suites skip,
 * each for a program it needs (README: `bash .ci/run` installs both; with CI=true they fail instead).
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SkipSummary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const bySuite = new Map<string, number>();
    for (const m of modules) {
      for (const t of m.children.allTests('skipped')) {
        let top = t.parent;
        while (top.type === 'suite' && top.parent.type === 'suite') top = top.parent;
        const suite = top.type === 'suite' ? top.name : t.module.moduleId;
        bySuite.set(suite, (bySuite.get(suite) ?? 0) + 1);
      }
    }
    const total = [...bySuite.values()].reduce((a, b) => a + b, 0);
    if (total === 0) return;
    const list = [...bySuite].map(([suite, n]) => `${suite} (${n})`).join(', ');
    process.stdout.write(
      `\nskipped ${total} tests: ${list} — they need Debian's chromium and redis-server, which are not installed here (apt-get install chromium redis-server, or bash .ci/run)\n`,
    );
  }
}
