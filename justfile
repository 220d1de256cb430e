# VisionSuit SQLite → PostgreSQL migration suite. Every recipe runs one task; flags pass through unchanged
# (see docs/cli.md and docs/cli-contract.md). Exit codes are the task's own, so bash scripts can branch on them.
set positional-arguments
set shell := ["bash", "-euo", "pipefail", "-c"]

# Every recipe runs `node --import tsx tasks/<task>.ts`: one process, the same way `just upgrade`, the tests and the
# benchmark run a task. The `tsx` CLI would add a parent process, and a `kill <pid>` of that parent would leave the
# task itself running. (Recipes run in this folder, so `tsx` resolves from its node_modules.)
tasks := justfile_directory() / "tasks"

# Where the operator ran `just`: recipes run in this folder, so tasks resolve relative paths against this instead.
export VS_INVOCATION_DIR := invocation_directory()

# List the tasks
default:
    @just --list --unsorted

# Is this PostgreSQL ready for VisionSuit? (reachable, auth, version, privileges, TLS, empty)
[no-exit-message]
check-target *args:
    @node --import tsx "{{tasks}}/check-target.ts" "$@"

# Create or update the app's login role and database (idempotent)
[no-exit-message]
create-role *args:
    @node --import tsx "{{tasks}}/create-role.ts" "$@"

# Online backup of the live SQLite file into a new run directory
[no-exit-message]
backup *args:
    @node --import tsx "{{tasks}}/backup.ts" "$@"

# Manifest of the snapshot: row counts, content hashes, storage classes, values that will not convert
[no-exit-message]
export-sqlite *args:
    @node --import tsx "{{tasks}}/export-sqlite.ts" "$@"

# A small V8 young generation: the load's garbage is short-lived, so peak RSS is lower at no cost in speed. upgrade and
# demo run the same load in their own process with the same setting, as a node flag: NODE_OPTIONS would reach the app
# that they start.
[doc("Build the Prisma schema on PostgreSQL and COPY the snapshot's data into it")]
[no-exit-message]
load-pg *args:
    @NODE_OPTIONS="--max-semi-space-size=1 ${NODE_OPTIONS:-}" node --import tsx "{{tasks}}/load-pg.ts" "$@"

# Prove the PostgreSQL copy equals the snapshot (counts, content, integrity, Prisma health)
[no-exit-message]
verify *args:
    @node --import tsx "{{tasks}}/verify.ts" "$@"

# Point the app at PostgreSQL (env files, Prisma provider, migration history)
[no-exit-message]
switch-env *args:
    @node --import tsx "{{tasks}}/switch-env.ts" "$@"

# Put the app back on SQLite and start it
[no-exit-message]
rollback *args:
    @node --import tsx "{{tasks}}/rollback.ts" "$@"

# The same small young generation as load-pg: the export's garbage is short-lived rows, so peak RSS is lower (a node
# flag, not NODE_OPTIONS, which the app it starts would inherit). --optimize-for-size keeps V8's heap from growing
# far past what is live: the runs that do every step in one process (fallback, upgrade, demo) peak lower by it.
# They also run with MALLOC_ARENA_MAX=2: glibc otherwise keeps a heap per thread that has ever allocated (helper
# threads, libuv's pool), none of which it hands back; the app's own commands get the operator's value back
# (lib/app/service-commands.ts serviceEnv, from VS_MIGRATE_APP_MALLOC_ARENA_MAX).
[doc("Back to SQLite WITH the rows the app wrote on PostgreSQL: new file verified, original kept (stops the app)")]
[no-exit-message]
fallback *args:
    @VS_MIGRATE_APP_MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX-}" MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --optimize-for-size --import tsx "{{tasks}}/fallback.ts" "$@"

# Stop (on) or start (off) the app's writers, proving the SQLite file is closed
[no-exit-message]
maintenance *args:
    @node --import tsx "{{tasks}}/maintenance.ts" "$@"

# The whole production run, with automatic rollback on any failed gate
[no-exit-message]
upgrade *args:
    @VS_MIGRATE_APP_MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX-}" MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --optimize-for-size --import tsx "{{tasks}}/upgrade.ts" "$@"

# A new install straight onto PostgreSQL (no SQLite data)
[no-exit-message]
fresh-install *args:
    @node --import tsx "{{tasks}}/fresh-install.ts" "$@"

# A sample VisionSuit install with data, to try the tasks by hand (prints its folder)
[no-exit-message]
sample-install *args:
    @node --import tsx "{{tasks}}/sample-install.ts" "$@"

# Whole upgrade of a sample install into an embedded PostgreSQL, then clean up
[no-exit-message]
demo *args:
    @VS_MIGRATE_APP_MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX-}" MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --optimize-for-size --import tsx "{{tasks}}/demo.ts" "$@"
