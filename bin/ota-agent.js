#!/usr/bin/env node
// The `ota-agent` command: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { runAsProcess } from '../dist/device-agent/cli/process.js';

await runAsProcess();
