import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.ts';
import { secureOutbox } from '../file-modes.ts';
import { consoleLog, type LogFn, type Transport } from './transports.ts';

export interface OutboxOptions {
  /** Folder for the message files; created when missing. */
  dir: string;
  clock?: Clock;
  log?: LogFn;
  /**
   * Also print each message's text (code included) here, as written, in development — so a first run
   * finds the code on the console, not as an escaped JSON string in a file. Left out: files only.
   */
  echo?: (text: string) => void;
}

/** Where `npm start` in development prints outbox messages (src/main.ts sets OIDC_SSPR_OUTBOX_ECHO). */
export const consoleEcho = (text: string): void => {
  process.stdout.write(text);
};

/**
 * The development transport: one JSON file per message (`{ to, subject, text, channel, time }`),
 * named so that `ls` sorts by time, plus one log line. Files are readable by the owner only: they
 * hold one-time codes.
 */
export function createOutboxTransport(options: OutboxOptions): Transport {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? consoleLog;
  // An outbox written by an older version may be world-readable; the codes in it still work.
  secureOutbox(options.dir, (m) => log('warn', m));
  return {
    async send(msg) {
      const now = clock.now();
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      const stamp = now.toISOString().replace(/[-:.]/g, '');
      const file = join(options.dir, `${stamp}-${msg.channel}-${randomBytes(4).toString('hex')}.json`);
      const body = { to: msg.to, subject: msg.subject ?? null, text: msg.text, channel: msg.channel, time: now.toISOString() };
      await writeFile(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      log('info', `outbox: ${msg.channel} to ${msg.to} written to ${file}`);
      if (options.echo) {
        const rule = '-'.repeat(60);
        const head = msg.channel === 'email' ? `Email to ${msg.to}\nSubject: ${msg.subject ?? ''}` : `SMS to ${msg.to}`;
        options.echo(`\n${rule}\n${head}\n\n${msg.text.trimEnd()}\n${rule}\n`);
      }
    },
  };
}
