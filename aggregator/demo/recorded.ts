// Placeholder replaced when the recorded timelines land.
import type { Processes } from './processes.js';
import type { Phase } from './script.js';
export const RECORDED_PACE = { normal: 1, fast: 0.3 } as const;
export function recordedAvailable(): boolean {
  return false;
}
export async function startRecordedEstate(_p: Processes, _url: string, _pace: number, _note: (s: string) => void): Promise<{ phases: Phase[]; description: string[] }> {
  throw new Error('recorded timelines are not available');
}
