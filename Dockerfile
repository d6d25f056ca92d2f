# The project image: the `auralink` command (what every Argo step runs) and Airflow (docker-compose.yml).
# It installs with the same script and lock files as CI (scripts/install.sh, requirements/*.lock).
#   docker build -t ghcr.io/auralink/data-platform:0.1.0 .
#   docker build --build-arg AURALINK_LOCK=core -t ...   # without torch/Whisper (pocketsphinx only)
FROM python:3.11-slim

# espeak-ng and ffmpeg: speech synthesis and audio decoding for the recordings jobs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng ffmpeg \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_NO_CACHE=1
WORKDIR /app

# The dependency layer depends on the lock files only, so a code change does not reinstall ~1.5 GB:
# install.sh's editable install maps the package to /app/include, filled by the COPY below.
COPY requirements/ requirements/
COPY scripts/install.sh scripts/install.sh
COPY pyproject.toml README.md ./
ARG AURALINK_LOCK=full
RUN mkdir -p include/auralink && touch include/auralink/__init__.py \
 && AURALINK_LOCK="${AURALINK_LOCK}" bash scripts/install.sh

COPY include/ include/
COPY dags/ dags/
COPY plugins/ plugins/
COPY dbt_project/ dbt_project/
# The dbt manifest the analytics DAG renders from (dbt parse needs no database), so DAG parsing stays fast.
RUN /app/.venv/bin/auralink analytics manifest

# A fixed non-root uid: the Argo workflows run their pods as 10001 (runAsNonRoot). The data and archive
# folders exist here so the named volumes docker-compose.yml mounts on them start owned by that user; the
# dbt docs site is generated without a database (--empty-catalog) until the first night writes the real one.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/auralink auralink \
 && mkdir -p /var/lib/auralink /var/lib/auralink-archives /opt/airflow/logs \
 && AURALINK_DBT_DOCS_DIR=/var/lib/auralink/dbt-docs /app/.venv/bin/auralink analytics docs --generate --empty-catalog \
 && mkdir -p /var/lib/auralink/lineage \
 && chown -R auralink:auralink /var/lib/auralink /var/lib/auralink-archives /opt/airflow /app/dbt_project
ENV PATH="/app/.venv/bin:${PATH}" \
    AURALINK_HOME=/var/lib/auralink \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/app/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
USER 10001:10001

ENTRYPOINT ["auralink"]
CMD ["--help"]
