// Toolchain detection (Phase 3): pluggable adapters that recognise a package root and name
// its install/build/lint/test commands, and the plan that `runGates` follows.
export { ADAPTERS, ancestorsOf, commandsFor, detectToolchains, SCAN_DEPTH, SKIPPED_DIRS, type DetectOptions } from './detect.js';
export {
  parseToolchainFile,
  planFromFile,
  readToolchainFile,
  relativePathProblem,
  TOOLCHAIN_FILE,
  TOOLCHAIN_FILE_CAP_BYTES,
  type ToolchainFile,
} from './file.js';
export { goAdapter } from './go.js';
export { javaAdapter } from './java.js';
export { nodeAdapter } from './node.js';
export { pythonAdapter } from './python.js';
export { rustAdapter } from './rust.js';
export {
  BLOCKING_CHECKS,
  STANDARD_CHECKS,
  TOOLCHAIN_IDS,
  type CommandSpec,
  type Detection,
  type ToolchainAdapter,
  type ToolchainId,
  type ToolchainPlan,
} from './types.js';
