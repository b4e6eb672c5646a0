// Go modules: a go.mod is the whole evidence; the go command itself fetches what go.sum
// pins, so there is no separate install step.
import { presentFiles } from './files.js';
import type { ToolchainAdapter } from './types.js';

export const goAdapter: ToolchainAdapter = {
  id: 'go',

  async detect(dir) {
    const found = await presentFiles(dir, ['go.mod', 'go.sum', 'go.work']);
    if (!found.includes('go.mod')) return undefined;
    return { toolchain: 'go', root: '.', confidence: found.includes('go.sum') ? 1 : 0.9, evidence: found };
  },

  async commands(_dir, detection) {
    const tag = { cwd: detection.root, root: detection.root, toolchain: 'go' };
    return [
      { name: 'build', argv: ['go', 'build', './...'], ...tag },
      { name: 'lint', argv: ['go', 'vet', './...'], ...tag },
      { name: 'test', argv: ['go', 'test', './...'], ...tag },
    ];
  },
};
