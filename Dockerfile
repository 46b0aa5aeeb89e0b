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

# A V8 heap cap keeps the worker's memory to what it holds (V8 otherwise grows the heap lazily:
# ~520 MB RSS at 5,000 items uncapped, ~370 MB capped at 160 MB, same throughput; see README, Benchmarks).
CMD ["node", "--max-old-space-size=192", "bin/bulkgen.js", "worker"]
