import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { field } from './body.ts';
import { PageError } from './errors.ts';
import type { Place, RegistrationPages, RegistrationRouteDeps } from './registration-pages.ts';

/**
 * The registration steps' form posts (choose, address or number, code, finish, reconfirm, skip), the
 * same in both places: the sign-in prompt and /account/security.
 */

/** Success notices passed through the redirect; anything else in `?m=` is ignored. */
export const NOTICES = new Set(['added', 'removed', 'reauthenticated', 'sessions_ended']);

/** The step routes, shared by both places. `finished` ends the place (prompt or page). */
export function stepRoutes(
  router: Router,
  pages: RegistrationPages,
  deps: RegistrationRouteDeps,
  prefix: string,
  placeOf: (ctx: Context) => Promise<Place | null>,
  middleware: Array<(ctx: Context, next: Next) => Promise<void>>,
  finished: (ctx: Context, place: Place, how: 'completed' | 'skipped') => Promise<void>,
): void {
  const { flows } = deps;
  const { post, open, step } = pages;
  const withPlace = (handler: (ctx: Context, place: Place) => Promise<void>) => async (ctx: Context) => {
    const place = await placeOf(ctx);
    if (!place) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    await handler(ctx, place);
  };
  const needsRecent = prefix.startsWith('/account');
  const targetField = (view: { selectedInput?: string }) => (view.selectedInput === 'phone' ? 'phone' : 'email');

  // The secret being set up, as a text file (the new recovery codes, to keep): only while it is pending.
  router.get(`${prefix}/enrolment.txt`, ...middleware, withPlace(async (ctx, place) => {
    const view = await open(ctx, place);
    const text = view.enrolment?.data.text;
    if (typeof text !== 'string') throw new PageError(404, 'not_found', 'errors:not_found');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Content-Disposition', `attachment; filename="${view.selected ?? 'enrolment'}.txt"`);
    ctx.body = text;
  }));

  router.post(`${prefix}/method`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
    const method = field(form, 'method', { max: 16, optional: true });
    if (!method) return pages.backWithError(ctx, place, 400, [{ id: 'registration:errors.choose_method', type: 'error' }], { field: 'method' });
    await flows.select(view.id, place.accountId, { type: method, ...step(ctx, place) });
    return 'redirect';
  }, { needsRecent, field: () => 'method' })));

  router.post(`${prefix}/target`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
    if (form.action === 'back') {
      await flows.back(view.id, place.accountId);
      return 'redirect';
    }
    const target = field(form, view.selectedInput ?? 'email', { max: 320 });
    await flows.sendCode(view.id, place.accountId, { target, ...step(ctx, place) });
    return 'redirect';
  }, { needsRecent, field: targetField, values: (form) => ({ email: (form.email ?? '').slice(0, 320), phone: (form.phone ?? '').slice(0, 40) }) })));

  router.post(`${prefix}/verify`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
    if (form.action === 'back') {
      await flows.back(view.id, place.accountId);
      return 'redirect';
    }
    if (form.action === 'resend') {
      await flows.resend(view.id, place.accountId, step(ctx, place));
      return 'redirect';
    }
    const code = field(form, 'code', { max: 32 });
    await flows.verify(view.id, place.accountId, { code, ...step(ctx, place) });
    pages.redirectTo(ctx, place, 'added');
  }, { needsRecent, field: () => 'code' })));

  router.post(`${prefix}/finish`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view) => {
    await flows.finish(view.id, place.accountId, step(ctx, place));
    await finished(ctx, place, 'completed');
  })));

  router.post(`${prefix}/reconfirm`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
    if (form.action === 'change') {
      await flows.back(view.id, place.accountId);
      return 'redirect';
    }
    await flows.reconfirm(view.id, place.accountId, step(ctx, place));
    await finished(ctx, place, 'completed');
  })));

  router.post(`${prefix}/skip`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view) => {
    await flows.skip(view.id, place.accountId, step(ctx, place));
    await finished(ctx, place, 'skipped');
  })));
}

