import { randomUUID } from 'node:crypto';
import type { App } from '../../src/app.ts';

export interface SeededUser { id: string; login: string; password: string; email: string | null; phone: string | null }

/** Puts an account straight into the store (tests of the HTTP flows, not of the admin CLI). */
export async function seedUser(app: App, user: { login: string; password?: string; email?: string | null; phone?: string | null; admin?: boolean; name?: string; groups?: string[] }): Promise<SeededUser> {
  const id = randomUUID();
  const password = user.password ?? 'correct horse battery staple 42';
  const { Account, Group, Membership } = app.store.models;
  await Account.create({
    id,
    login: user.login,
    email: user.email === undefined ? `${user.login}@example.org` : user.email,
    phone: user.phone ?? null,
    name: user.name ?? user.login,
    passwordHash: await app.hasher.hash(password),
    isAdmin: user.admin ?? false,
    passwordChangedAt: app.clock.now(),
  });
  for (const name of user.groups ?? []) {
    const [group] = await Group.findOrCreate({ where: { name }, defaults: { id: randomUUID(), name } });
    await Membership.create({ groupId: group.id, accountId: id });
  }
  return { id, login: user.login, password, email: user.email === undefined ? `${user.login}@example.org` : user.email, phone: user.phone ?? null };
}
