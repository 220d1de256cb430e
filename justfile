# VisionSuit SQLite → PostgreSQL migration suite. Every recipe runs one task; flags pass through unchanged
# (see README.md and ../shared/cli-contract.md). Exit codes are the task's own, so bash scripts can branch on them.
set positional-arguments
set shell := ["bash", "-euo", "pipefail", "-c"]

# Each recipe runs `node --import tsx <task>.ts`: one process, as the tests run the tasks. The `tsx` CLI would add a
# parent process: ≈ 80 ms more per task, and a `kill <pid>` of that parent would leave the task itself running.
# (Recipes run in this folder, so `tsx` resolves from its node_modules.) load-pg, the one task with a speed target,
# runs from an esbuild bundle of the same sources instead (lib/run-bundled.mjs says why), still one process.
tasks := justfile_directory() / "tasks"
lib := justfile_directory() / "lib"

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

# Build the Prisma schema on PostgreSQL and COPY the snapshot's data into it
# (small V8 young generation: the load's garbage is short-lived; keeps peak RSS ~50 MB lower at no cost in speed)
[no-exit-message]
load-pg *args:
    @NODE_OPTIONS="--max-semi-space-size=1 ${NODE_OPTIONS:-}" node "{{lib}}/run-bundled.mjs" load-pg "$@"

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

# Stop (on) or start (off) the app's writers, proving the SQLite file is closed
[no-exit-message]
maintenance *args:
    @node --import tsx "{{tasks}}/maintenance.ts" "$@"

# The whole production run, with automatic rollback on any failed gate
[no-exit-message]
upgrade *args:
    @node --import tsx "{{tasks}}/upgrade.ts" "$@"

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
    @node --import tsx "{{tasks}}/demo.ts" "$@"
