#!/usr/bin/env node
// The installed command: the compiled command line (dist/, built by `npm run build` on pack).
import '../dist/cli/main.js';
