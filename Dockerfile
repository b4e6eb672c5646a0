# syntax=docker/dockerfile:1
# One image for every Facteur function: FUNCTION_TARGET picks the one a container serves
# (knative/services/*.yaml). It also carries `facteur-agent` and `facteur-step`, what Argo steps run.
#   docker build -t ghcr.io/facteur/facteur:<version> .
ARG NODE_IMAGE=node:20-slim

# --- build: compile TypeScript, then keep only the production dependencies -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies before sources, so a source change reuses the installed layer.
# patches/: fixes to dependencies that patch-package applies on every install (postinstall).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY functions ./functions
COPY shared ./shared
RUN npm run build \
 && npm ci --omit=dev

# --- runtime ----------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Applied at start-up (FACTEUR_RUN_MIGRATIONS); found from dist/ by walking up to /app.
COPY migrations ./migrations
# `facteur-agent` and `facteur-step` on PATH, as `npm install -g` would link the package's bins.
RUN chmod 0755 dist/bin/facteur-step.js dist/bin/facteur-agent.js \
 && ln -s /app/dist/bin/facteur-step.js /usr/local/bin/facteur-step \
 && ln -s /app/dist/bin/facteur-agent.js /usr/local/bin/facteur-agent
# The image's `node` user, by number: with runAsNonRoot the kubelet can only verify a
# numeric user. Everything under /app stays root-owned, so it runs read-only.
USER 1000:1000
EXPOSE 8080
# The bundle `npm run build` makes of functions/server.ts (bin/bundle.mjs: esbuild, one chunk
# per function, loaded on demand): about two thirds of the unbundled cold start (`npm run bench -- coldstart`).
# `node dist/functions/server.js`, the tsc output, serves the same; NODE_OPTIONS=--enable-source-maps
# maps a stack trace back to the sources.
CMD ["node", "dist/image/server.js"]
