// Rust crates and workspaces: Cargo.toml. Clippy's warnings are made errors, as CI does,
// so the agent cannot leave new warnings behind.
import { presentFiles } from './files.js';
import type { ToolchainAdapter } from './types.js';

export const rustAdapter: ToolchainAdapter = {
  id: 'rust',

  async detect(dir) {
    const found = await presentFiles(dir, ['Cargo.toml', 'Cargo.lock', 'rust-toolchain.toml', 'rust-toolchain']);
    if (!found.includes('Cargo.toml')) return undefined;
    return { toolchain: 'rust', root: '.', confidence: found.includes('Cargo.lock') ? 1 : 0.9, evidence: found, packageManager: 'cargo' };
  },

  async commands(_dir, detection) {
    const tag = { cwd: detection.root, root: detection.root, toolchain: 'rust' };
    return [
      { name: 'build', argv: ['cargo', 'build'], ...tag },
      { name: 'lint', argv: ['cargo', 'clippy', '--', '-D', 'warnings'], ...tag },
      { name: 'test', argv: ['cargo', 'test'], ...tag },
    ];
  },
};
