#!/usr/bin/env node
// The `bootwire` command. This launcher is a file of the repository, not of dist/: npm links a
// package's bin when it installs the workspace, before `prepare` has built dist/, and skips a bin
// whose file is missing, so `npm install && npx bootwire storm` in a fresh clone needs it.
import '../dist/cli/main.js';
