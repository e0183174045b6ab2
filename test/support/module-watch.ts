// Registered with `node --import <this file>` (NODE_OPTIONS): every module resolved whose URL
// matches the MODULE_WATCH pattern is reported on stderr as "module-watch: loaded <url>", so a
// test can see what a real process loads (e.g. that an agent without AWS_MSK_IAM never loads the
// AWS SDK). Only ES module resolution is seen (a package's own require() calls are not).
import { register } from 'node:module';

register('./module-watch-hooks.js', import.meta.url, { data: process.env.MODULE_WATCH ?? '' });
