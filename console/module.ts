import type { AppModule, ModuleFactory } from '../controller/app';
import { buildConsoleAssets, type ConsoleAsset } from './bundle';
import { consoleRoutes } from './routes';

/**
 * The operator console as part of the running product: its browser assets built once at start and
 * served at /ui/, the session and series routes it reads besides the components' own routes.
 * With `console.enabled: false` the routes stay (they are ordinary API) and /ui/ is not served.
 */
export const consoleModule: ModuleFactory = async (svc): Promise<AppModule> => {
  const config = svc.config.console;
  let assets: Map<string, ConsoleAsset> | undefined;
  if (config.enabled) {
    const t0 = Date.now();
    assets = await buildConsoleAssets();
    svc.log.child({ component: 'console' }).info({ ms: Date.now() - t0, assets: [...assets.keys()] }, 'console assets built; served at /ui/');
  }
  return { name: 'console', routes: [consoleRoutes({ db: svc.db, config, assets })] };
};
