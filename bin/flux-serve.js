#!/usr/bin/env node
// The compiled CLI (npm ci runs `prepare`, which compiles src/ to dist/).
await import('../dist/cli.js');
