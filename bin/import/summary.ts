/** The final summary, printed to stderr (stdout may be the data). */
import { ExitCode } from './exit-codes.js'
import { count, duration, perSecond } from '../cli/format.js'

export interface Summary {
  readonly file: string
  readonly target: string
  /** Resumed after this line, if resumed. */
  readonly resumedAfterLine: number | undefined
  readonly read: number
  readonly malformed: number
  readonly imported: number
  readonly failed: number
  readonly deadLettered: number
  readonly deadLetterPath: string
  readonly unacked: number
  readonly durationMs: number
  readonly checkpointPath: string
  /** The checkpoint's line at the end; undefined when it was removed (import complete). */
  readonly checkpointLine: number | undefined
  readonly exitCode: ExitCode
  /** Why it stopped, when not simply done. */
  readonly note: string | undefined
}

const statusOf: Readonly<Record<ExitCode, string>> = {
  [ExitCode.ok]: 'done: every row imported',
  [ExitCode.someFailed]: 'done with failed rows (see the dead-letter file)',
  [ExitCode.error]: 'failed',
  [ExitCode.interrupted]: 'interrupted',
}

export function formatSummary(s: Summary): string {
  const rows: [string, string][] = [
    [
      'file',
      s.resumedAfterLine === undefined
        ? s.file
        : `${s.file} (resumed after line ${count(s.resumedAfterLine)})`,
    ],
    ['target', s.target],
    ['read', `${count(s.read)} rows${s.malformed > 0 ? ` (${count(s.malformed)} malformed)` : ''}`],
    ['imported', count(s.imported)],
    ['failed', count(s.failed)],
    ['dead-lettered', s.deadLettered > 0 ? `${count(s.deadLettered)} → ${s.deadLetterPath}` : '0'],
  ]
  if (s.unacked > 0) rows.push(['unacked', `${count(s.unacked)} (read again on --resume)`])
  rows.push(
    ['duration', duration(s.durationMs)],
    ['rate', `${count(perSecond(s.imported, s.durationMs))} rows/s`],
    [
      'checkpoint',
      s.checkpointLine === undefined
        ? 'none (import complete)'
        : `${s.checkpointPath} (line ${count(s.checkpointLine)}); continue with --resume`,
    ],
    ['status', `${statusOf[s.exitCode]}${s.note === undefined ? '' : `: ${s.note}`} (exit ${s.exitCode})`],
  )
  const width = Math.max(...rows.map(([k]) => k.length))
  return `streamway import summary\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`
}
