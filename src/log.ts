/**
 * Logging and progress. Text logs (chalk) or JSON lines (--log-format json) go to stderr; a
 * progress bar redraws on a TTY; on a non-TTY (cron) a one-line status is printed every N seconds.
 */
import chalk from 'chalk';

export type LogFormat = 'text' | 'json';
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface LoggerOptions {
  format: LogFormat;
  quiet: boolean;
  verbose?: boolean;
  stream?: NodeJS.WriteStream;
}

export class Logger {
  private stream: NodeJS.WriteStream;
  private bar = '';
  constructor(readonly opts: LoggerOptions) {
    this.stream = opts.stream ?? process.stderr;
  }

  get isTTY(): boolean {
    return !!this.stream.isTTY && this.opts.format === 'text';
  }

  log(level: Level, event: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (level === 'debug' && !this.opts.verbose) return;
    if (this.opts.quiet && (level === 'info' || level === 'debug')) return;
    if (this.opts.format === 'json') {
      this.stream.write(JSON.stringify({ ts: new Date().toISOString(), level, event, msg, ...fields }) + '\n');
      return;
    }
    const color = level === 'error' ? chalk.red : level === 'warn' ? chalk.yellow : level === 'debug' ? chalk.gray : (s: string) => s;
    this.clearBar();
    this.stream.write(color(`${level === 'info' ? '' : level.toUpperCase() + ': '}${msg}`) + '\n');
    this.redrawBar();
  }

  info(event: string, msg: string, f?: Record<string, unknown>): void {
    this.log('info', event, msg, f);
  }
  warn(event: string, msg: string, f?: Record<string, unknown>): void {
    this.log('warn', event, msg, f);
  }
  error(event: string, msg: string, f?: Record<string, unknown>): void {
    this.log('error', event, msg, f);
  }
  debug(event: string, msg: string, f?: Record<string, unknown>): void {
    this.log('debug', event, msg, f);
  }

  /** Replace the progress bar (TTY only). */
  setBar(line: string): void {
    if (!this.isTTY || this.opts.quiet) return;
    this.clearBar();
    const width = this.stream.columns ?? 120;
    this.bar = line.length > width - 1 ? line.slice(0, width - 1) : line;
    this.redrawBar();
  }

  clearBar(): void {
    if (this.bar && this.isTTY) this.stream.write('\r\x1b[2K');
  }

  private redrawBar(): void {
    if (this.bar && this.isTTY) this.stream.write(this.bar);
  }

  endBar(): void {
    if (this.bar && this.isTTY) {
      this.stream.write('\r\x1b[2K');
      this.bar = '';
    }
  }
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function bar(frac: number, width = 20): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}
