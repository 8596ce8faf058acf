import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's and Ubuntu's Chromium packages put SwiftShader's Vulkan driver manifest. */
const KNOWN_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];
const ICD_NAME = 'vk_swiftshader_icd.json';

/** Whether PMOE_WEBGPU_SOFTWARE asks for the software (SwiftShader) adapter. */
export function softwareRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes)$/i.test(env.PMOE_WEBGPU_SOFTWARE ?? '');
}

/** SwiftShader's manifest from the known paths, else from the files the chromium packages list (`dpkg -L`). */
export function findSwiftShaderIcd(): string | undefined {
  const known = KNOWN_ICDS.find((path) => existsSync(path));
  if (known) return known;
  for (const pkg of ['chromium', 'chromium-common']) {
    try {
      const files = execFileSync('dpkg', ['-L', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const icd = files.split('\n').find((line) => line.endsWith(`/${ICD_NAME}`));
      if (icd && existsSync(icd)) return icd;
    } catch {
      // no dpkg, or the package is not installed
    }
  }
  return undefined;
}

/**
 * Points the Vulkan loader at SwiftShader (VK_ICD_FILENAMES) unless the user already chose drivers,
 * and gives it the XDG_RUNTIME_DIR that Vulkan's window-system layer insists on. Must run before
 * Dawn starts: the loader reads the environment once. Returns the manifest in use, or undefined
 * with nothing changed when none is found.
 */
export function useSoftwareVulkan(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const icd = env.VK_ICD_FILENAMES || findSwiftShaderIcd();
  if (!icd) return undefined;
  env.VK_ICD_FILENAMES = icd;
  if (!env.XDG_RUNTIME_DIR) {
    const runtime = join(tmpdir(), `pmoe-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    env.XDG_RUNTIME_DIR = runtime;
  }
  return icd;
}

export const SOFTWARE_HINT =
  "for a software adapter install Debian's chromium and libvulkan1 (apt-get install chromium libvulkan1) and set PMOE_WEBGPU_SOFTWARE=1";
