import { z } from 'zod';

/** `console:` section of metering.yaml: the operator console at /ui/ (docs/console.md). */
export const consoleConfig = z
  .strictObject({
    /** Serve the console at /ui/ (default true). Its assets are public; every datum it shows needs a token. */
    enabled: z.boolean().default(true),
    /** How often the panels reload their data, seconds (default 15). */
    refreshSeconds: z.number().int().min(2).max(3600).default(15),
  })
  .prefault({});

export type ConsoleConfig = z.output<typeof consoleConfig>;
