#!/usr/bin/env node
// The `ota` command: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { main } from '../dist/host-tools/cli/main.js';

process.exitCode = await main(process.argv);
