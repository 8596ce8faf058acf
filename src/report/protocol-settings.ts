import type { ProtocolSetting } from './report-types.js';

type Scalar = string | number | boolean | null;
const asScalar = (value: unknown): Scalar =>
  value === undefined ? null : typeof value === 'object' && value !== null ? JSON.stringify(value) : (value as Scalar);

/** The distinct values each setting takes over `lines`, beside the paper's; settings no run has are left out. */
export function protocolSettings<L>(
  lines: readonly L[],
  settings: readonly { setting: string; read: (line: L) => unknown; paper: string | number | null }[],
): ProtocolSetting[] {
  return settings
    .map(({ setting, read, paper }) => {
      const values = [...new Set(lines.map((line) => asScalar(read(line))))].filter((v) => v !== null);
      return { setting, values, paper };
    })
    .filter((s) => s.values.length > 0);
}
