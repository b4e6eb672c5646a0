// Java builds: Maven or Gradle, preferring the repository's wrapper (it pins the build
// tool's version). A wrapper checked in without its executable bit is run through `sh`.
// Batch flags keep the output plain: no colours, no progress bars, no interactive prompts.
import { join } from 'node:path';
import { isExecutable, presentFiles } from './files.js';
import type { CommandSpec, ToolchainAdapter } from './types.js';

const MAVEN = ['pom.xml', 'mvnw'] as const;
const GRADLE = ['build.gradle', 'build.gradle.kts', 'settings.gradle', 'settings.gradle.kts', 'gradlew'] as const;

async function tool(dir: string, wrapper: string, fallback: string, hasWrapper: boolean): Promise<string[]> {
  if (!hasWrapper) return [fallback];
  return (await isExecutable(join(dir, wrapper))) ? [`./${wrapper}`] : ['sh', wrapper];
}

export const javaAdapter: ToolchainAdapter = {
  id: 'java',

  async detect(dir) {
    const maven = await presentFiles(dir, MAVEN);
    if (maven.includes('pom.xml')) {
      return { toolchain: 'java', root: '.', confidence: 1, evidence: maven, packageManager: 'maven' };
    }
    const gradle = await presentFiles(dir, GRADLE);
    if (gradle.some((f) => f !== 'gradlew')) {
      return { toolchain: 'java', root: '.', confidence: 1, evidence: gradle, packageManager: 'gradle' };
    }
    return undefined;
  },

  async commands(dir, detection) {
    const tag = { cwd: detection.root, root: detection.root, toolchain: 'java' };
    if (detection.packageManager === 'gradle') {
      const gradle = [...(await tool(dir, 'gradlew', 'gradle', detection.evidence.includes('gradlew'))), '--no-daemon', '--console=plain'];
      return [
        { name: 'build', argv: [...gradle, 'assemble'], ...tag },
        { name: 'test', argv: [...gradle, 'test'], ...tag },
      ] satisfies CommandSpec[];
    }
    const mvn = [...(await tool(dir, 'mvnw', 'mvn', detection.evidence.includes('mvnw'))), '-B', '-ntp'];
    return [
      { name: 'build', argv: [...mvn, '-DskipTests', 'package'], ...tag },
      { name: 'test', argv: [...mvn, 'test'], ...tag },
    ];
  },
};
