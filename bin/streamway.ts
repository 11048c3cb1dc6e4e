#!/usr/bin/env node
/** The `streamway` command: a thin shim over `bin/import/program.ts` (see `docs/cli.md`). */
import { runCli } from './import/program.js'

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
})
