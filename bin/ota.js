#!/usr/bin/env node
// The `ota` command: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { runAsProcess } from '../dist/host-tools/cli/process.js';

await runAsProcess();
