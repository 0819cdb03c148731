import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../../src/store/index.ts';
import { cliOk, runCli, type CliResult } from '../../support/cli.ts';

/** `scope`, `config check` and `user show` name who signs in with a second factor, and who cannot yet. */
describe('admin CLI: MFA policy (child process, SQLite)', function () {
  this.timeout(120_000);
  let dir: string;
  let config: string;
  const run = (args: string[], stdin?: string) => runCli(args, { config, stdin });
  const json = <T>(r: CliResult): T => JSON.parse(cliOk(r).stdout) as T;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-cli-mfa-'));
    config = join(dir, 'oidc-sspr.yaml');
    writeFileSync(config, [
      `database: sqlite:${join(dir, 'x.sqlite')}`,
      'password_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }',
      'sspr: { enabled_for: none }',
      'mfa: { required_for: selected, groups: [Payroll], methods: [totp, email] }',
      '',
    ].join('\n'));
    const pw = 'correct horse battery staple 42';
    cliOk(await run(['user', 'add', 'ada', '--admin', '--password-stdin'], pw));
    cliOk(await run(['user', 'add', 'pat', '--password-stdin'], pw));
    cliOk(await run(['user', 'add', 'sam', '--password-stdin'], pw));
    cliOk(await run(['group', 'add', 'Payroll']));
    cliOk(await run(['group', 'add-member', 'Payroll', 'pat']));
    // pat has an email method that counts as a second factor; ada (an administrator) has none.
    const store: Store = await openStore({ url: `sqlite:${join(dir, 'x.sqlite')}` });
    try {
      const pat = await store.models.Account.findOne({ where: { login: 'pat' } });
      await store.models.RecoveryMethod.create({ id: 'm-1', accountId: pat!.id, type: 'email', target: 'pat@example.org', verifiedAt: new Date() });
    } finally {
      await store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('scope: administrators and the selected groups need MFA; those without an eligible method are listed', async () => {
    const s = json<{ mfa: { required_for: string; required: string[]; cannot_satisfy: string[] } }>(await run(['scope', '--json']));
    assert.deepEqual(s.mfa, { required_for: 'selected', required: ['ada', 'pat'], cannot_satisfy: ['ada'] });
    const text = cliOk(await run(['scope'])).stdout;
    assert.match(text, /MFA at sign-in: required_for selected \(groups: Payroll\); administrators always/);
    assert.match(text, /cannot satisfy it yet \(sent to registration first\): 1 user\(s\): ada/);
  });

  it('config check: the MFA policy, who needs it and who cannot give it yet', async () => {
    const c = json<{ mfa: { required_for: string; users_required: string[]; users_cannot_satisfy: string[] } }>(await run(['config', 'check', '--json']));
    assert.equal(c.mfa.required_for, 'selected');
    assert.deepEqual(c.mfa.users_required, ['ada', 'pat']);
    assert.deepEqual(c.mfa.users_cannot_satisfy, ['ada']);
    const text = cliOk(await run(['config', 'check'])).stdout;
    assert.match(text, /MFA policy \(second factor at sign-in\):\n\s+mfa\.required_for\s+selected\s+\(file\)/);
  });

  it('user show: whether the user signs in with a second factor', async () => {
    assert.equal(json<{ mfa_required: boolean }>(await run(['user', 'show', 'pat', '--json'])).mfa_required, true);
    assert.equal(json<{ mfa_required: boolean }>(await run(['user', 'show', 'sam', '--json'])).mfa_required, false);
    assert.equal(json<{ registration_due: string }>(await run(['user', 'show', 'ada', '--json'])).registration_due, 'no_methods');
  });
});
