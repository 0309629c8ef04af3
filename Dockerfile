# smserror as a container: `smserror run` on port 3000, its store on the /data volume.
#   docker build -t smserror .
#   docker run -d --name smserror --env-file deploy/smserror.env -p 127.0.0.1:3000:3000 \
#       -v smserror-data:/data smserror
# Any other command runs the same way: docker exec smserror smserror backup /data/backup.db
# With a TLS reverse proxy in front: deploy/compose.yml. The whole story: docs/operations.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY storage ./storage
RUN pip install --no-cache-dir . && cd / && rm -rf /src

# an unprivileged user, owning nothing but the store's folder
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin smserror \
    && mkdir /data && chown smserror:smserror /data && chmod 0700 /data
USER smserror
WORKDIR /data
VOLUME /data

ENV SMSERROR_DB=/data/smserror.db SMSERROR_HOST=0.0.0.0 PORT=3000
EXPOSE 3000

# /healthz answers 200 when the server is up and every table of the store reads back
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/healthz', timeout=4)"]

# SIGTERM: it stops taking requests, hands the leader lease back and finishes a running job
STOPSIGNAL SIGTERM
ENTRYPOINT ["smserror"]
CMD ["run"]
