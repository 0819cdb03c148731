import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { SsprDeps } from '../sspr/context.ts';
import type { PageKit } from './kit.ts';

/** STUB — forgot-password pages under /interaction/:uid/reset and /reset. */
export function resetRoutes(_deps: { provider: Provider; kit: PageKit; sspr: SsprDeps }): Router {
  return new Router();
}
