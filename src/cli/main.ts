#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { AppError } from '../errors.ts';
import { registerAuditCommands } from './commands/audit.ts';
import { registerConfigCommands } from './commands/config.ts';
import { UsageError, type CliIo } from './commands/context.ts';
import { registerGroupCommands } from './commands/group.ts';
import { registerKeysCommands } from './commands/keys.ts';
import { registerReportCommands } from './commands/report.ts';
import { registerScopeCommands } from './commands/scope.ts';
import { registerUnblockCommands } from './commands/unblock.ts';
import { registerUserCommands } from './commands/user.ts';

/**
 * The admin CLI (`oidc-sspr`, INTERFACE.md "Admin CLI"). Exit codes: 0 success, 1 a refused or failed
 * operation, 2 a usage error. Every failure is one line on stderr, `error: ...`, never a stack trace
 * (set OIDC_SSPR_DEBUG=1 to see one for an unexpected error).
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command('oidc-sspr')
    .description('oidc-sspr administration: users, groups, recovery methods, configuration, audit and reports')
    .option('--config <file>', 'config file (default: $OIDC_SSPR_CONFIG, else config/oidc-sspr.yaml)')
    .option('--json', 'machine-readable output (snake_case keys)')
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  // Subcommands copy these settings (exit override, output, suggestions) when `.command()` makes them.
  registerUserCommands(program, io);
  registerGroupCommands(program, io);
  registerConfigCommands(program, io);
  registerKeysCommands(program, io);
  registerScopeCommands(program, io);
  registerUnblockCommands(program, io);
  registerAuditCommands(program, io);
  registerReportCommands(program, io);
  return program;
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim() || 'unexpected error';
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already written its one-line message (or the help) to stderr.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return 2;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${firstLine(err.message)}\n`);
      return 2;
    }
    // One error family: an admin refusal, a bad config or a domain refusal is one line, exit 1.
    if (err instanceof AppError) {
      io.stderr.write(`error: ${firstLine(err.message)}\n`);
      return 1;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`error: ${firstLine(message)}\n`);
    if (io.env.OIDC_SSPR_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
  process.exitCode = await run(process.argv.slice(2), io);
}
