/** Number, byte and time formatting shared by the progress lines and the summary. */

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit] ?? 'TiB'}`
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${Math.round(s - m * 60)}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

/** Per second, from a count over milliseconds. */
export function perSecond(n: number, ms: number): number {
  return ms <= 0 ? 0 : (n * 1000) / ms
}
