// facteur-agent's GitHub client (pull requests, checks, merges, tags) and the PR body.
export { bodyMarker, plainMarkdown, pullRequestBody, type PullRequestBodyInput } from './body.js';
export {
  createGitHub, githubFailure, rateLimitWaitMs,
  type ChecksState, type GitHub, type GitHubOptions, type MergeMethod, type PullRequestInput, type PullRequestRef, type RepoRef,
} from './client.js';
