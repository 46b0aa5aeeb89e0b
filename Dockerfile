# The bulkgen image: `node bin/bulkgen.js <command>` (migrate, worker, api, doctor, ...).
# docker-compose.yml runs three services from it. TypeScript runs through tsx, so there is no build
# step; the workflow bundle is built by the worker at start-up.
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# `supabase migration up --workdir /app` writes supabase/.temp/, so that folder belongs to the user.
COPY --chown=node:node supabase ./supabase
COPY tsconfig.json ./

USER node

# Heap caps keep the worker's memory to what it holds (V8 otherwise grows its heaps lazily: ~520 MB RSS
# at 5,000 items uncapped, ~245 MB at 100,000 items with these; see README, Benchmarks), and two malloc
# arenas are enough for its native threads (src/temporal/worker-flags.ts).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-old-space-size=160", "--max-semi-space-size=4", "bin/bulkgen.js", "worker"]
