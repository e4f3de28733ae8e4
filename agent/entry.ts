// The bundle entry of bin/metering-agent.mjs (esbuild, code splitting: modules loaded with
// `await import()` — kafkajs, ioredis, js-yaml, the responder — become chunks loaded only when used).
import { main } from './main';

await main(process.argv);
