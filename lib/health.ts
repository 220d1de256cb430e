/** The app's health probe lives in lib/app/health-probe.ts; this module keeps the old import path working. */
export { resolveHealthUrl, waitForHealth, type HealthResult } from './app/health-probe.ts';
