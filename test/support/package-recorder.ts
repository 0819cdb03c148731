import { registerHooks } from 'node:module';

/**
 * Records, from now on, every npm package this process loads (by name, `@scope/name` for scoped
 * ones), through a module resolution hook. Call it first thing: what was loaded before is not seen.
 */
export function recordLoadedPackages(): Set<string> {
  const loaded = new Set<string>();
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const result = nextResolve(specifier, context);
      const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
      if (pkg) loaded.add(pkg[1]!);
      return result;
    },
  });
  return loaded;
}
