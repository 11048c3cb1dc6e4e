/**
 * The `streamway` commander program. `runCli(argv, io)` runs it on the arguments after the script
 * (the shim in `bin/streamway.ts`); `runImport(argv, io)` runs `streamway import` on the arguments
 * after `import`. Both resolve with the exit code and never call `process.exit`.
 */
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { ExitCode } from './exit-codes.js'
import { UsageError, type CliIo } from '../cli/io.js'
import { importOptions, resolveConfig, type RawImportOptions } from './options.js'
import { runImportConfig } from './run.js'
import { forwardOptions, resolveForwardConfig, type RawForwardOptions } from '../forward/options.js'
import { runForwardConfig } from '../forward/run.js'

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    if (typeof pkg.version === 'string') return pkg.version
  } catch {
    // dist/bin/import is one level deeper than bin/import
  }
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

const exitCodesHelp = `
Exit codes:
  0    every row read was imported
  1    the import finished but some rows failed (see the dead-letter file)
  2    usage error, refused start (existing checkpoint), error budget exceeded, or fatal error
  130  interrupted by SIGINT / SIGTERM: stopped gracefully, checkpoint saved (continue with --resume)

Examples:
  streamway import examples/data/orders.csv
  streamway import orders.csv --to out.ndjson --max-failed-rows 100
  streamway import orders.csv --to postgres://localhost/shop --table orders --conflict-key id --resume
  streamway import events.ndjson --to https://api.example.com/events --batch-size 200
`

const forwardHelp = `
Exit codes:
  0    stopped (SIGINT / SIGTERM) after a graceful shutdown: in-flight records delivered, offsets committed
  1    stopped gracefully, but some records failed (see the dead-letter file)
  2    usage error or fatal error

Examples:
  streamway forward --from kafka://localhost:9092/orders --group orders-api --to https://api.example.com/orders
  streamway forward --from kafka://k1:9092,k2:9092/orders --group g --to - --from-beginning --ordering partition
`

/** The program, writing to `io`; `onDone` receives the exit code of the command that ran. */
export function buildProgram(io: CliIo, onDone: (code: number) => void): Command {
  const program = new Command('streamway')
    .description('Back-pressured, batched, acknowledged data pipelines on Node streams')
    .version(version())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)')
  const command = program
    .command('import')
    .description(
      'Import a CSV or NDJSON file into postgres, an HTTP endpoint, an NDJSON file or stdout, with progress, a checkpoint to resume from and a dead-letter file',
    )
    .argument('<file>', 'the CSV or NDJSON file to import')
    .addHelpText('after', exitCodesHelp)
  for (const option of importOptions()) command.addOption(option)
  command.action(async (file: string, options: RawImportOptions) => {
    onDone(await runImportConfig(resolveConfig(file, options), io))
  })
  const forward = program
    .command('forward')
    .description(
      'Forward a Kafka topic to an HTTP endpoint (or NDJSON) with at-least-once delivery, committing only what was delivered or dead-lettered; scale out by running more processes in the same group',
    )
    .addHelpText('after', forwardHelp)
  for (const option of forwardOptions()) forward.addOption(option)
  forward.action(async (options: RawForwardOptions) => {
    onDone(await runForwardConfig(resolveForwardConfig(options, io.env), io))
  })
  return program
}

/** Runs `streamway <argv…>`; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = ExitCode.ok
  const program = buildProgram(io, (c) => {
    code = c
  })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return code
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.error
    const message = error instanceof Error ? error.message : String(error)
    const command = ['import', 'forward'].includes(argv[0] ?? '') ? ` ${argv[0] ?? ''}` : ''
    io.stderr.write(`streamway${command}: error: ${message}\n`)
    if (!(error instanceof UsageError) && error instanceof Error && io.env.STREAMWAY_DEBUG !== undefined)
      io.stderr.write(`${error.stack ?? ''}\n`)
    return ExitCode.error
  }
}

/** Runs `streamway import <argv…>` (the arguments after `import`); resolves with the exit code. */
export function runImport(argv: readonly string[], io: CliIo): Promise<number> {
  return runCli(['import', ...argv], io)
}
