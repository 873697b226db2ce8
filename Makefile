# One entry point: `make run`, `make test`, `make lint`, `make bench`.
.PHONY: run test lint format bench bench-video bench-sets bench-real-clips bench-speed check

run:            ## set up and run web server + worker on the embedded default
	scripts/run.sh

test:           ## the whole test suite (PYTEST_ARGS="..." passes options to pytest)
	scripts/test.sh $(PYTEST_ARGS)

lint:           ## ruff lint + format check, Django checks, migrations, OpenAPI schema
	scripts/lint.sh

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:          ## accuracy and speed tables on ../shared/datasets
	scripts/bootstrap.sh && .venv/bin/python -m benchmarks.magnetic_tile && .venv/bin/python -m benchmarks.ucsd_ped2

bench-sets:     ## every image kind on every shared image set (promised vs realised FPR)
	scripts/bootstrap.sh && .venv/bin/python -m benchmarks.every_set

bench-video:    ## the video kinds on UCSD Ped2, and the product's frame extraction speed
	scripts/bootstrap.sh && .venv/bin/python -m benchmarks.ucsd_ped2 && .venv/bin/python -m benchmarks.video_extraction

bench-real-clips: ## the video kinds on a real clip with derived truth (../shared/datasets/videos)
	scripts/bootstrap.sh && .venv/bin/python -m benchmarks.real_clips

bench-speed:    ## latency at 100k flags (PostgreSQL, locust on loopback), ingest and scoring rates
	scripts/bootstrap.sh && .venv/bin/python -m benchmarks.speed
