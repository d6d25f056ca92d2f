# Common tasks. Every target uses the pinned environment in .venv (created by scripts/install.sh).
.PHONY: install install-core test demo migrate seed workflows workflows-check lint bench-seed bench clean-db airflow

install:          ## full environment: core + dev + speech extras (CPU torch)
	bash scripts/install.sh

install-core:     ## core + dev only (no torch)
	AURALINK_LOCK=core bash scripts/install.sh

test:             ## the README's test command
	bash scripts/test.sh

demo:             ## the main job end to end on the embedded database
	bash scripts/demo.sh

migrate:
	.venv/bin/auralink db migrate

seed:
	.venv/bin/auralink seed --orgs 10 --days 14

workflows:        ## regenerate the Argo YAML from the Hera modules
	.venv/bin/python -m workflows.generate

workflows-check:  ## fail if the committed YAML is stale (what the golden test checks)
	.venv/bin/python -m workflows.generate --check

lock:             ## re-pin requirements/*.lock from pyproject.toml
	bash scripts/lock.sh

lint:
	.venv/bin/ruff check include dags workflows tests bench

bench-seed:       ## seeding throughput at 10M usage rows (needs DATABASE_URL to a scratch database)
	.venv/bin/python bench/bench_seed.py --orgs 400 --days 90

airflow:          ## local Airflow with the UI on http://127.0.0.1:8080 (Ctrl-C stops it; docs/local-airflow.md)
	.venv/bin/auralink airflow up

clean-db:         ## stop and delete the embedded database
	.venv/bin/auralink db stop; rm -rf .auralink/pgdata
